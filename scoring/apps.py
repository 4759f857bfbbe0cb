from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Customer value and risk"

    def ready(self) -> None:
        from . import checks, wiring  # noqa: F401  (checks register themselves)

        wiring.connect()
