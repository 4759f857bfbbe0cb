from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Voice of the customer"

    def ready(self) -> None:
        from customers.pipeline import register_dirty_handler

        from . import conditions, panels, segment_kpis, services

        register_dirty_handler("metrics", services.on_dirty_customers)
        conditions.register()
        panels.register()
        segment_kpis.register()
        _register_merge_relation()
        from . import privacy

        privacy.register()


def _register_merge_relation() -> None:
    """Responses and follow-up cases move to the survivor when customers merge (once merging exists)."""
    try:
        from customers.merging import register_customer_relation
    except ImportError:
        return
    from .models import FollowUpCase, SurveyInvitation, SurveyResponse

    register_customer_relation(SurveyResponse, "customer")
    register_customer_relation(SurveyInvitation, "customer")
    register_customer_relation(FollowUpCase, "customer")
