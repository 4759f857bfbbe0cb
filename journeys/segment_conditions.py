"""The segment condition ``{"journey": "<slug>", "state": "active|completed|breached|abandoned"}``."""

from django.db.models import Exists, OuterRef, Q

from .models import InstanceState, JourneyInstance

JOURNEY_CONDITION_SCHEMA = {
    "type": "object",
    "required": ["journey", "state"],
    "properties": {
        "journey": {"type": "string", "minLength": 1, "maxLength": 80},
        "state": {"enum": list(InstanceState.values)},
    },
    "additionalProperties": False,
}


def compile_journey_condition(condition: dict, ctx=None) -> Q:
    """Customers with at least one instance of the journey in that state (one EXISTS subquery)."""
    instances = JourneyInstance.objects.filter(
        customer_id=OuterRef("pk"), journey__slug=condition["journey"], state=condition["state"]
    )
    return Q(Exists(instances))
