"""Reads for outbound messages: one message with its events, a customer's recent messages."""

from django.db.models import Prefetch, QuerySet

from .models import Message, MessageEvent

PANEL_MESSAGES = 10


def message_with_events(*, message_id: int) -> Message | None:
    return (
        Message.objects.filter(pk=message_id)
        .prefetch_related(Prefetch("events", queryset=MessageEvent.objects.order_by("at", "id")))
        .first()
    )


def customer_messages(*, customer_id: int, limit: int = PANEL_MESSAGES) -> QuerySet[Message]:
    """The newest messages decided for a customer (sent and blocked), events prefetched: two queries."""
    return (
        Message.objects.filter(customer_id=customer_id)
        .select_related("campaign")
        .prefetch_related(Prefetch("events", queryset=MessageEvent.objects.order_by("at", "id")))
        .order_by("-created_at", "-id")[:limit]
    )
