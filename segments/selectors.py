"""Reads for segment screens and endpoints, with query counts that do not grow with the data."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Count, DateField, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from customers.models import Customer
from cxhub.errors import DomainError
from interactions.models import Interaction

from .models import MovementKind, Segment, SegmentMembership, SegmentMovement
from .registry import KpiWindow, kpi_providers


def customer_segments(*, customer_id: int) -> list[SegmentMembership]:
    """The customer's segments with their purpose, one query."""
    return list(
        SegmentMembership.objects.filter(customer_id=customer_id)
        .select_related("segment")
        .order_by("segment__purpose", "segment__name")
    )


def segment_members(*, segment: Segment) -> QuerySet:
    return Customer.objects.filter(segment_memberships__segment=segment)


# --- KPIs ------------------------------------------------------------------------------------------

PERIODS = ("day", "week", "month")
MAX_KPI_DAYS = 366
CENT = Decimal("0.01")


def kpi_window(*, days: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The last ``days`` whole UTC calendar days, today included: (midnight UTC of the first, now)."""
    now = (now or timezone.now()).astimezone(UTC)
    first = now.date() - timedelta(days=days - 1)
    return datetime.combine(first, time.min, tzinfo=UTC), now


def segment_kpis(
    *, segment: Segment, days: int = 30, period: str = "day", now: datetime | None = None
) -> dict:
    """Size over time, movement, value and cost figures of ``segment`` over the last ``days`` days.

    A constant number of queries whatever the segment's size: one for the size and the
    movements, one for the members' interactions, one per registered KPI provider.
    ``period`` ("day", "week" or "month") groups entries and exits in ``per_period``.
    See the README ("Segment KPIs") for every definition.
    """
    if period not in PERIODS:
        raise DomainError(f"period: must be one of {', '.join(PERIODS)}.", field="period")
    if not 1 <= days <= MAX_KPI_DAYS:
        raise DomainError(f"days: must be between 1 and {MAX_KPI_DAYS}.", field="days")
    since, until = kpi_window(days=days, now=now)
    size, retained, moves = _size_and_movements(segment=segment, since=since)
    per_day = _daily_sizes(size=size, moves=moves, first=since.date(), last=until.date())
    size_at_start = per_day[0]["size"] - per_day[0]["entered"] + per_day[0]["exited"]
    entered = sum(row["entered"] for row in per_day)
    exited = sum(row["exited"] for row in per_day)
    members = SegmentMembership.objects.filter(segment=segment).values("customer_id")
    window = KpiWindow(segment=segment, members=members, since=since, until=until)
    kpis = {
        "segment": segment.pk,
        "days": days,
        "period": period,
        "since": since,
        "until": until,
        "last_computed_at": segment.last_computed_at,
        "size": size,
        "size_at_start": size_at_start,
        "entered": entered,
        "exited": exited,
        "net_change": size - size_at_start,
        "retained": retained,
        "retention_rate": _percent(retained, size_at_start),
        "per_day": per_day,
        "per_period": _fold_periods(per_day, period),
        "economics": _economics(members=members, size=size, since=since, until=until),
    }
    for provider in kpi_providers():
        kpis[provider.key] = provider.compute(window)
    return kpis


def _count(rows: QuerySet) -> Coalesce:
    """A scalar subquery counting ``rows`` (which are filtered on ``segment_id=OuterRef("pk")``)."""
    counted = rows.order_by().values("segment_id").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted), 0)


def _size_and_movements(*, segment: Segment, since: datetime) -> tuple[int, int, dict[date, tuple[int, int]]]:
    """(current size, members who joined before ``since`` and stayed, {UTC day: (entered, exited)}).

    One statement (a UNION ALL), so the size and the movements come from the same snapshot even
    while a recompute runs: the first row holds the two counts, the others a day each.
    """
    memberships = SegmentMembership.objects.filter(segment_id=OuterRef("pk"))
    head = (
        Segment.objects.filter(pk=segment.pk)
        .values(
            day=Value(None, output_field=DateField()),
            a=_count(memberships),
            b=_count(memberships.filter(since__lt=since)),
        )
        .order_by()
    )
    days = (
        SegmentMovement.objects.filter(segment=segment, at__gte=since)
        .annotate(day=TruncDate("at", tzinfo=UTC))
        .values("day")
        .annotate(
            a=Count("pk", filter=Q(kind=MovementKind.ENTERED)),
            b=Count("pk", filter=Q(kind=MovementKind.EXITED)),
        )
        .order_by()
    )
    size = retained = 0
    moves: dict[date, tuple[int, int]] = {}
    for row in head.union(days, all=True):
        if row["day"] is None:
            size, retained = row["a"], row["b"]
        else:
            moves[row["day"]] = (row["a"], row["b"])
    return size, retained, moves


def _daily_sizes(*, size: int, moves: dict[date, tuple[int, int]], first: date, last: date) -> list[dict]:
    """Every day from ``first`` to ``last`` with its entries, exits and size at the end of the day.

    Walking back from today: size at the end of day d = size at the end of day d + 1 − entries
    of day d + 1 + exits of day d + 1 (movements stamped after ``last`` are undone first).
    """
    after = sum(entered - exited for day, (entered, exited) in moves.items() if day > last)
    running = size - after
    rows = []
    day = last
    while day >= first:
        entered, exited = moves.get(day, (0, 0))
        rows.append({"day": day, "entered": entered, "exited": exited, "size": running})
        running -= entered - exited
        day -= timedelta(days=1)
    rows.reverse()
    return rows


def _period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def _period_label(start: date, period: str) -> str:
    return f"{start:%Y-%m}" if period == "month" else start.isoformat()


def _fold_periods(per_day: list[dict], period: str) -> list[dict]:
    """Days folded into ISO weeks (Monday first) or calendar months, clipped to the window."""
    rows: list[dict] = []
    for day in per_day:
        start = _period_start(day["day"], period)
        if not rows or rows[-1]["_key"] != start:
            rows.append(
                {
                    "_key": start,
                    "period": _period_label(start, period),
                    "start": day["day"],
                    "entered": 0,
                    "exited": 0,
                }
            )
        row = rows[-1]
        row["end"] = day["day"]
        row["entered"] += day["entered"]
        row["exited"] += day["exited"]
        row["size_at_end"] = day["size"]
    for row in rows:
        del row["_key"]
    return rows


def _economics(*, members: QuerySet, size: int, since: datetime, until: datetime) -> dict:
    """Cost to serve, revenue and historical value of the current members, in one query.

    Cost to serve counts every interaction in the window (inbound and outbound) at its channel's
    ``cost_per_interaction``; revenue sums interaction ``value`` in the window; historical value to
    date sums ``value`` of every interaction before ``until``. Values are summed as recorded, with
    no currency conversion: ``currency`` is the one currency they share, ``mixed_currencies``
    says when they do not.
    """
    in_window = Q(occurred_at__gte=since)
    valued = Q(value__isnull=False)
    totals = Interaction.objects.filter(customer_id__in=members, occurred_at__lt=until).aggregate(
        interactions=Count("pk", filter=in_window),
        cost=Sum("channel__cost_per_interaction", filter=in_window),
        revenue=Sum("value", filter=in_window),
        value_to_date=Sum("value"),
        currency_low=Min("currency", filter=valued),
        currency_high=Max("currency", filter=valued),
    )
    cost = totals["cost"] or Decimal(0)
    revenue = totals["revenue"] or Decimal(0)
    value_to_date = totals["value_to_date"] or Decimal(0)
    low, high = totals["currency_low"], totals["currency_high"]
    return {
        "interactions": totals["interactions"],
        "cost_to_serve": _cents(cost),
        "cost_to_serve_per_member": _cents(cost / size) if size else None,
        "revenue": _cents(revenue),
        "profitability": _cents(revenue - cost),
        "historical_value_to_date": _cents(value_to_date),
        "average_historical_value_to_date": _cents(value_to_date / size) if size else None,
        "currency": low if low and low == high else None,
        "mixed_currencies": low is not None and low != high,
    }


def _cents(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(CENT, rounding=ROUND_HALF_UP)


def _percent(part: int, whole: int) -> float | None:
    return round(part / whole * 100, 1) if whole else None
