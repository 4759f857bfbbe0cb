"""Outbound messages on the customer's timeline, written through the one interaction writer."""

from datetime import datetime

from interactions.models import Channel, Direction

SOURCE = "outreach"
DEFAULT_TYPE = "message"


def interaction_row(
    *,
    message,
    channel_id: int,
    occurred_at: datetime,
    type: str = DEFAULT_TYPE,
    source: str = SOURCE,
    external_id: str | None = None,
    agent_id: int | None = None,
    touchpoint: str = "",
    properties: dict | None = None,
) -> dict:
    props = {"message_id": message.pk, "purpose": message.purpose, "origin": message.origin}
    if message.campaign_id:
        props["campaign_id"] = message.campaign_id
    props.update(properties or {})
    return {
        "customer_id": message.customer_id,
        "channel_id": channel_id,
        "direction": Direction.OUTBOUND,
        "type": type,
        "occurred_at": occurred_at,
        "received_at": occurred_at,
        "source": source,
        "external_id": external_id or f"message-{message.pk}",
        "business_unit_id": None,
        "touchpoint": touchpoint,
        "agent_id": agent_id,
        "subject": message.subject[:255],
        "summary": message.body_text[:4000],
        "outcome": "",
        "value": None,
        "currency": "",
        "duration_seconds": None,
        "properties": props,
        "context": {},
    }


def record_outbound(rows: list[dict]) -> list[int]:
    """Write rows through the one interactions writer (idempotent on source + external id); ids in order."""
    from interactions.services import record_interactions

    return [recorded.id for recorded in record_interactions(rows=rows, dirty_reason="message")]


def channel_ids() -> dict[str, int]:
    return dict(Channel.objects.values_list("code", "id"))
