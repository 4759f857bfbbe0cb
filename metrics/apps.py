from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = "Voice of the customer"

    def ready(self) -> None:
        from . import wiring

        wiring.connect()
