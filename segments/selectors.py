"""Reads for segment screens and endpoints, with query counts that do not grow with the data."""

from datetime import timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.models import Customer

from .models import MovementKind, Segment, SegmentMembership, SegmentMovement


def customer_segments(*, customer_id: int) -> list[SegmentMembership]:
    """The customer's segments with their purpose, one query."""
    return list(
        SegmentMembership.objects.filter(customer_id=customer_id)
        .select_related("segment")
        .order_by("segment__purpose", "segment__name")
    )


def segment_members(*, segment: Segment) -> QuerySet:
    return Customer.objects.filter(segment_memberships__segment=segment)


def segment_kpis(*, segment: Segment, days: int = 30) -> dict:
    """Size and entries / exits per day over the last ``days`` days (two queries)."""
    since = timezone.now() - timedelta(days=days)
    rows = (
        SegmentMovement.objects.filter(segment=segment, at__gte=since)
        .annotate(day=TruncDate("at"))
        .values("day")
        .annotate(
            entered=Count("id", filter=Q(kind=MovementKind.ENTERED)),
            exited=Count("id", filter=Q(kind=MovementKind.EXITED)),
        )
        .order_by("day")
    )
    per_day = [{"day": r["day"].isoformat(), "entered": r["entered"], "exited": r["exited"]} for r in rows]
    return {
        "size": segment.member_count,
        "last_computed_at": segment.last_computed_at,
        "days": days,
        "entered": sum(r["entered"] for r in per_day),
        "exited": sum(r["exited"] for r in per_day),
        "per_day": per_day,
    }
