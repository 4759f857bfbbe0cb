"""How interactions plug into the lower apps: one ``connect()``, called from ``InteractionsConfig.ready``."""

from customers.merging import register_customer_relation

from .api import openapi  # noqa: F401  (registers the security schemes)
from .models import Interaction


def connect() -> None:
    # A merge moves the merged profile's interactions to the survivor (and unmerge back).
    register_customer_relation(Interaction)
