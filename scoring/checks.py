"""System checks of the scoring settings (``manage.py check``, and every management command)."""

from django.core import checks


@checks.register(checks.Tags.compatibility)
def check_contact_types(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    from django.conf import settings

    from .detractor import check_contact_types as problems_of

    return [
        checks.Error(
            problem, hint="A comma-separated list, e.g. complaint,query,call,email,chat.", id="scoring.E001"
        )
        for problem in problems_of(getattr(settings, "SCORING_CONTACT_TYPES", None))
    ]
