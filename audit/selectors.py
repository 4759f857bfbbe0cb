"""Reads of the audit log (the API list, the admin, the 360 page's "recently viewed", the export)."""

from datetime import datetime

from django.db.models import QuerySet

from .models import AuditEvent


def audit_events(
    *,
    customer_id: int | None = None,
    customer_ids: list[int] | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events, newest first; ``action`` ending in ``.`` or without a dot matches a prefix (``customer``)."""
    qs = AuditEvent.objects.all()
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if customer_ids is not None:
        qs = qs.filter(customer_id__in=customer_ids)
    if actor:
        qs = qs.filter(actor_label=actor)
    if action:
        # "customer.merge" is one action; "customer" is every customer.* action.
        action = action.rstrip(".")
        qs = qs.filter(action=action) if "." in action else qs.filter(action__startswith=action + ".")
    if since is not None:
        qs = qs.filter(at__gte=since)
    if until is not None:
        qs = qs.filter(at__lt=until)
    return qs.order_by("-id")


def recently_viewed_customer_ids(*, user_id: int, since: datetime, limit: int) -> list[tuple[int, datetime]]:
    """(customer id, last viewed) of the customers a user opened on the 360 page, latest first."""
    from django.db.models import Max

    rows = (
        AuditEvent.objects.filter(actor_user_id=user_id, action=VIEW_ACTION, at__gte=since)
        .values("customer_id")
        .annotate(last_viewed=Max("at"))
        .order_by("-last_viewed")[:limit]
    )
    return [(row["customer_id"], row["last_viewed"]) for row in rows]


VIEW_ACTION = "customer.view"
