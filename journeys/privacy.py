"""What ``journeys`` holds on a person, for export and erasure (see ``customers.personal_data``)."""

from customers.personal_data import ANONYMISE, KEEP, register_personal_data

from .models import (
    ActionAudit,
    AgentTask,
    JourneyException,
    JourneyInstance,
    JourneyTransition,
    WebhookDelivery,
)


def _deliveries(ids: list[int]):
    return WebhookDelivery.objects.filter(payload__customer_id__in=ids)


def export_webhook_deliveries(ids: list[int]) -> list[dict]:
    return list(
        _deliveries(ids)
        .order_by("pk")
        .values("id", "endpoint__name", "event", "payload", "status", "created_at")
    )


def erase_webhook_deliveries(ids: list[int]) -> int:
    """The signed body is kept for replays; an erased person's bodies keep only the event name."""
    return _deliveries(ids).update(payload={"erased": True})


def register() -> None:
    register_personal_data(
        JourneyInstance,
        section="journeys",
        export_fields=(
            "id",
            "journey__slug",
            "correlation_value",
            "current_stage__slug",
            "state",
            "started_at",
            "completed_at",
            "last_event_at",
        ),
        erase=KEEP,
        why="Stages and times feed funnel and time-in-stage analytics; nothing personal on a tombstone.",
    )
    register_personal_data(
        JourneyTransition,
        section="journey_transitions",
        customer_field="instance__customer",
        export_fields=(
            "instance_id",
            "from_stage__slug",
            "to_stage__slug",
            "channel",
            "at",
            "interaction_id",
        ),
        erase=KEEP,
    )
    register_personal_data(
        JourneyException,
        section="journey_exceptions",
        customer_field="instance__customer",
        export_fields=("id", "instance_id", "kind", "stage__slug", "detail", "detected_at", "resolved_at"),
        erase=ANONYMISE,
        blank={"resolution_note": ""},
    )
    register_personal_data(
        AgentTask,
        section="agent_tasks",
        export_fields=("id", "instance_id", "title", "description", "status", "created_at", "done_at"),
        erase=ANONYMISE,
        blank={"title": "(erased)", "description": ""},
    )
    register_personal_data(
        ActionAudit,
        section="journey_actions",
        export_fields=(
            "id",
            "at",
            "kind",
            "trigger",
            "reason",
            "channel",
            "result",
            "detail",
            "interaction_id",
        ),
        erase=ANONYMISE,
        blank={"reason": "", "detail": ""},
    )
    register_personal_data(
        WebhookDelivery,
        section="webhook_deliveries",
        customer_field="payload__customer_id",
        covers=(),
        export_rows=export_webhook_deliveries,
        erase_rows=erase_webhook_deliveries,
    )
