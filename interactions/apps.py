from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "interactions"

    def ready(self) -> None:
        from . import wiring

        wiring.connect()
