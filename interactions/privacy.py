"""What ``interactions`` holds on a person: export, erasure and retention declarations."""

from datetime import datetime

from django.db import transaction

from customers.personal_data import ANONYMISE, register_personal_data
from customers.retention import register_retention

from .models import IdempotencyKey, Interaction

RETENTION_CHUNK = 5000

INTERACTION_EXPORT_FIELDS = (
    "id",
    "occurred_at",
    "received_at",
    "channel_id",
    "direction",
    "type",
    "source",
    "external_id",
    "business_unit__code",
    "touchpoint",
    "agent__username",
    "subject",
    "summary",
    "outcome",
    "value",
    "currency",
    "duration_seconds",
    "properties",
    "context",
)


def erase_idempotency_records(ids: list[int]) -> int:
    """Stored replies to single-item posts name the customer and repeat the item: drop them."""
    return IdempotencyKey.objects.filter(response_body__customer_id__in=ids).delete()[0]


def purge_interactions_before(cutoff: datetime) -> int:
    """Delete interactions that occurred before ``cutoff``, a chunk of ids per transaction."""
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                Interaction.objects.filter(occurred_at__lt=cutoff)
                .order_by()
                .values_list("pk", flat=True)[:RETENTION_CHUNK]
            )
            if not ids:
                return deleted
            Interaction.objects.filter(pk__in=ids).delete()
            deleted += len(ids)


def register() -> None:
    register_personal_data(
        Interaction,
        section="interactions",
        export_fields=INTERACTION_EXPORT_FIELDS,
        erase=ANONYMISE,
        blank={"subject": "", "summary": "", "properties": {}, "context": {}},
        why="Channel, type, time and value stay for counts, cost to serve and segment history; "
        "external_id stays so a re-sent event is recognised as a duplicate, not re-created.",
    )
    register_personal_data(
        IdempotencyKey,
        section="idempotency_records",
        customer_field="response_body__customer_id",
        covers=(),
        erase_rows=erase_idempotency_records,
    )
    register_retention("interactions", purge=purge_interactions_before)
