"""Reads for journey pages, panels and the API: constant query counts, aggregation in SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.apps import apps
from django.db import connection
from django.db.models import Aggregate, Count, Exists, FloatField, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from .models import (
    OPEN_STATES,
    AgentTask,
    ExceptionKind,
    InstanceState,
    Journey,
    JourneyException,
    JourneyInstance,
    JourneyTransition,
    Stage,
)

PANEL_LIMIT = 20


def journeys_with_stages() -> QuerySet[Journey]:
    return Journey.objects.prefetch_related(Prefetch("stages", queryset=Stage.objects.order_by("position")))


def instances_for(
    *, customer_id: int | None = None, journey: str | None = None, state: str | None = None
) -> QuerySet[JourneyInstance]:
    """Instances with their journey, stage and open-exception count (for the API list)."""
    qs = JourneyInstance.objects.select_related("journey", "current_stage", "customer").annotate(
        open_exceptions=Count("exceptions", filter=Q(exceptions__resolved_at__isnull=True))
    )
    if customer_id is not None:
        qs = qs.filter(customer_id=customer_id)
    if journey:
        qs = qs.filter(journey__slug=journey) if not journey.isdigit() else qs.filter(journey_id=int(journey))
    if state:
        qs = qs.filter(state__in=[s for s in state.split(",") if s])
    return qs


def sla_state(instance: JourneyInstance, now: datetime | None = None) -> str:
    """on_track | breached | none (no SLA on the stage) | closed (instance not open)."""
    if instance.state not in OPEN_STATES:
        return "closed"
    if instance.state == InstanceState.BREACHED:
        return "breached"
    if instance.sla_due_at is None:
        return "none"
    return "breached" if instance.sla_due_at <= (now or timezone.now()) else "on_track"


def open_exceptions(*, customer_id: int | None = None) -> QuerySet[JourneyException]:
    # Only what the 360 panel shows: joining the customer and interaction too cost it a third more.
    qs = JourneyException.objects.filter(resolved_at__isnull=True).select_related(
        "instance__journey", "stage"
    )
    if customer_id is not None:
        qs = qs.filter(instance__customer_id=customer_id)
    return qs.order_by("-detected_at", "-id")


QUEUE_SORTS = {
    "due": ("due_at", "id"),
    "-due": ("-due_at", "-id"),
    "detected": ("detected_at", "id"),
    "-detected": ("-detected_at", "-id"),
}
QUEUE_STATES = ("open", "resolved", "all")


def exception_queue(
    *,
    kind: str = "",
    journey: str = "",
    include_resolved: bool = False,
    state: str = "",
    assignee: str = "",
    user=None,
    overdue: bool = False,
    customer_id: int | None = None,
    sort: str = "-detected",
    now: datetime | None = None,
) -> QuerySet[JourneyException]:
    """The exception queue, filtered and sorted in SQL (paginate the result).

    ``state``: open (default) | resolved | all (``include_resolved`` = all);
    ``assignee``: "me" (``user``), "unassigned", a user id, or "" for anyone;
    ``sort``: a key of ``QUEUE_SORTS`` (``due``: soonest SLA due first).
    """
    qs = JourneyException.objects.select_related(
        "instance__journey", "instance__customer", "stage", "resolved_by", "assigned_to"
    )
    state = state or ("all" if include_resolved else "open")
    if state == "open":
        qs = qs.filter(resolved_at__isnull=True)
    elif state == "resolved":
        qs = qs.filter(resolved_at__isnull=False)
    if kind:
        qs = qs.filter(kind=kind)
    if journey:
        qs = qs.filter(instance__journey__slug=journey)
    if customer_id is not None:
        qs = qs.filter(instance__customer_id=customer_id)
    if assignee == "me" and user is not None:
        qs = qs.filter(assigned_to=user)
    elif assignee == "unassigned":
        qs = qs.filter(assigned_to__isnull=True)
    elif assignee.isdigit():
        qs = qs.filter(assigned_to_id=int(assignee))
    if overdue:
        qs = qs.filter(resolved_at__isnull=True, due_at__lte=now or timezone.now())
    return qs.order_by(*QUEUE_SORTS.get(sort, QUEUE_SORTS["-detected"]))


def open_tasks(limit: int = 50) -> list[AgentTask]:
    return list(
        AgentTask.objects.filter(status=AgentTask.Status.OPEN)
        .select_related("customer", "instance__journey", "exception")
        .order_by("-created_at", "-id")[:limit]
    )


def customer_journeys_panel(request, customer) -> dict:
    """The 360 panel: open instances with stage and SLA state, and open exceptions (two queries)."""
    now = timezone.now()
    instances = list(
        JourneyInstance.objects.filter(customer_id=customer.pk, state__in=OPEN_STATES)
        .select_related("journey", "current_stage")
        .order_by("-last_event_at", "-id")[:PANEL_LIMIT]
    )
    for instance in instances:
        instance.sla = sla_state(instance, now)
    exceptions = list(open_exceptions(customer_id=customer.pk)[:PANEL_LIMIT])
    return {"journey_instances": instances, "journey_exceptions": exceptions, "now": now}


def home_exceptions_panel(request, customer=None) -> dict:
    """The home panel: the user's own open exceptions, soonest due first, and the counts
    of theirs, unassigned and all open ones (two queries)."""
    user = getattr(request, "user", None)
    mine = list(exception_queue(assignee="me", user=user, sort="due")[:10] if user and user.pk else [])
    counts = JourneyException.objects.filter(resolved_at__isnull=True).aggregate(
        total=Count("id"),
        unassigned=Count("id", filter=Q(assigned_to__isnull=True)),
        mine=Count("id", filter=Q(assigned_to_id=getattr(user, "pk", None))),
        overdue=Count("id", filter=Q(due_at__lte=timezone.now())),
    )
    return {
        "journey_exceptions": mine,
        "open_exception_count": counts["total"],
        "unassigned_exception_count": counts["unassigned"],
        "my_exception_count": counts["mine"],
        "overdue_exception_count": counts["overdue"],
        "now": timezone.now(),
    }


# --------------------------------------------------------------------------- analytics


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks, as ``percentile_cont`` does."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass
class StageFigures:
    stage: Stage
    reached: int = 0
    conversion: float | None = None  # percent of the previous stage's reached
    share_of_started: float | None = None
    exits: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    sla_breaches: int = 0
    sla_breach_rate: float | None = None

    def as_dict(self) -> dict:
        return {
            "stage": self.stage.slug,
            "name": self.stage.name,
            "position": self.stage.position,
            "reached": self.reached,
            "conversion": self.conversion,
            "share_of_started": self.share_of_started,
            "time_in_stage": {
                "n": self.exits,
                "median_seconds": self.median_seconds,
                "p90_seconds": self.p90_seconds,
            },
            "sla_breaches": self.sla_breaches,
            "sla_breach_rate": self.sla_breach_rate,
        }


@dataclass
class JourneyAnalytics:
    journey: Journey
    started: int
    states: dict[str, int]
    stages: list[StageFigures] = field(default_factory=list)
    breached_instances: int = 0

    @property
    def completion_rate(self) -> float | None:
        return _pct(self.states.get(InstanceState.COMPLETED, 0), self.started)

    @property
    def abandonment_rate(self) -> float | None:
        return _pct(self.states.get(InstanceState.ABANDONED, 0), self.started)

    @property
    def sla_breach_rate(self) -> float | None:
        return _pct(self.breached_instances, self.started)

    def as_dict(self) -> dict:
        return {
            "journey": self.journey.slug,
            "started": self.started,
            "states": self.states,
            "completion_rate": self.completion_rate,
            "abandonment_rate": self.abandonment_rate,
            "sla_breach_rate": self.sla_breach_rate,
            "stages": [s.as_dict() for s in self.stages],
        }


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def analytics_instances(
    *,
    journey: Journey,
    since: datetime | None = None,
    until: datetime | None = None,
    channel: str = "",
    segment: str = "",
) -> QuerySet[JourneyInstance]:
    """Instances started in [since, until), optionally started on ``channel`` / held by ``segment``."""
    qs = JourneyInstance.objects.filter(journey=journey)
    if since:
        qs = qs.filter(started_at__gte=since)
    if until:
        qs = qs.filter(started_at__lt=until)
    if channel:
        first = JourneyTransition.objects.filter(
            instance=OuterRef("pk"), from_stage__isnull=True, channel=channel
        )
        qs = qs.filter(Exists(first))
    if segment:
        membership = apps.get_model("segments", "SegmentMembership")
        seg_filter = Q(segment_id=int(segment)) if segment.isdigit() else Q(segment__slug=segment)
        qs = qs.filter(Exists(membership.objects.filter(seg_filter, customer_id=OuterRef("customer_id"))))
    return qs


def journey_analytics(*, journey: Journey, **filters) -> JourneyAnalytics:
    """Funnel by stage, median and p90 time in stage, SLA breach and abandonment rates (five queries)."""
    stages = list(journey.stages.order_by("position"))
    instances = analytics_instances(journey=journey, **filters)
    states = dict(instances.order_by().values_list("state").annotate(n=Count("id")))
    started = sum(states.values())
    # Instances never move backwards, so "reached stage k" = current stage at position k or later.
    at_position = dict(instances.order_by().values_list("current_stage__position").annotate(n=Count("id")))
    breaches = JourneyException.objects.filter(instance__in=instances, kind=ExceptionKind.SLA_BREACHED)
    breaches_by_stage = dict(
        breaches.order_by().values_list("stage_id").annotate(n=Count("instance", distinct=True))
    )
    breached_instances = breaches.order_by().aggregate(n=Count("instance", distinct=True))["n"]
    timing = _stage_timing(instances)
    figures, previous = [], None
    for stage in stages:
        reached = sum(n for position, n in at_position.items() if position >= stage.position)
        exits, median, p90 = timing.get(stage.pk, (0, None, None))
        item = StageFigures(
            stage=stage,
            reached=reached,
            conversion=_pct(reached, previous) if previous is not None else (100.0 if reached else None),
            share_of_started=_pct(reached, started),
            exits=exits,
            median_seconds=median,
            p90_seconds=p90,
            sla_breaches=breaches_by_stage.get(stage.pk, 0),
            sla_breach_rate=_pct(breaches_by_stage.get(stage.pk, 0), reached),
        )
        figures.append(item)
        previous = reached
    return JourneyAnalytics(
        journey=journey, started=started, states=states, stages=figures, breached_instances=breached_instances
    )


def _stage_timing(instances) -> dict[int, tuple[int, float | None, float | None]]:
    """{stage id: (n exits, median seconds, p90 seconds)} over stage entries that were left."""
    rows = JourneyTransition.objects.filter(instance__in=instances, seconds_in_stage__isnull=False).order_by()
    if connection.vendor == "postgresql":
        grouped = rows.values("to_stage_id").annotate(
            n=Count("id"),
            median=Percentile("seconds_in_stage", 0.5),
            p90=Percentile("seconds_in_stage", 0.9),
        )
        return {r["to_stage_id"]: (r["n"], _round(r["median"]), _round(r["p90"])) for r in grouped}
    values: dict[int, list[float]] = {}
    for stage_id, seconds in rows.order_by("to_stage_id", "seconds_in_stage").values_list(
        "to_stage_id", "seconds_in_stage"
    ):
        values.setdefault(stage_id, []).append(seconds)
    return {
        stage_id: (len(v), _round(percentile(v, 0.5)), _round(percentile(v, 0.9)))
        for stage_id, v in values.items()
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)
