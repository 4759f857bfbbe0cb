"""Reads: interaction lists and a customer's timeline, newest first, in constant queries."""

from datetime import datetime

from django.db.models import Q, QuerySet

from .models import Interaction


def interactions_query(
    *,
    customer_id: int | None = None,
    channel: str | None = None,
    type: str | None = None,
    direction: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Interaction]:
    """Interactions newest first, relations joined; ``since`` inclusive, ``until`` exclusive."""
    qs = Interaction.objects.select_related("channel", "agent", "business_unit").order_by(
        "-occurred_at", "-id"
    )
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if channel:
        qs = qs.filter(channel__code=channel)
    if type:
        qs = qs.filter(type=type)
    if direction:
        qs = qs.filter(direction=direction)
    if since is not None:
        qs = qs.filter(occurred_at__gte=since)
    if until is not None:
        qs = qs.filter(occurred_at__lt=until)
    return qs


def customer_timeline(
    *,
    customer_id: int,
    channel: str | None = None,
    type: str | None = None,
    direction: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[Interaction]:
    """A customer's interactions, newest first; keyset paging: ``before`` = last row's (occurred_at, id)."""
    qs = interactions_query(
        customer_id=customer_id, channel=channel, type=type, direction=direction, since=since, until=until
    )
    if before is not None:
        at, pk = before
        qs = qs.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=pk))
    return list(qs[: max(0, limit)])
