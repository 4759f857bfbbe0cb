from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "interactions"

    def ready(self) -> None:
        from customers.merging import register_customer_relation

        from .api import openapi  # noqa: F401  (registers the security schemes)
        from .models import Interaction

        # A merge moves the merged profile's interactions to the survivor (and unmerge back).
        register_customer_relation(Interaction)
        from . import privacy

        privacy.register()
