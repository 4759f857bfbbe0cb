from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = "Outbound messages and campaigns"

    def ready(self) -> None:
        from . import wiring

        wiring.connect()
