"""Time-based exceptions found by the beat task: abandoned, SLA breached, stalled.

Each is a range scan on an indexed due time stored on the instance (``abandon_at``,
``sla_due_at``, ``stall_at``), so the sweep costs nothing for instances that are fine.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..models import (
    OPEN_STATES,
    ActionTrigger,
    ExceptionKind,
    InstanceState,
    JourneyException,
    JourneyInstance,
)
from .engine import JourneyEvent, create_exception


def detect_time_exceptions(*, now: datetime | None = None, batch_size: int = 500) -> dict[str, int]:
    """Record SLA breaches, stalls and abandonments due by ``now``; run their rules. Returns counts."""
    now = now or timezone.now()
    counts = {ExceptionKind.ABANDONED: 0, ExceptionKind.SLA_BREACHED: 0, ExceptionKind.STALLED: 0}
    for kind, finder in (
        (ExceptionKind.ABANDONED, _abandoned),
        (ExceptionKind.SLA_BREACHED, _breached),
        (ExceptionKind.STALLED, _stalled),
    ):
        while True:
            found = _sweep(kind, finder, now, batch_size)
            counts[kind] += found
            if found < batch_size:
                break
    return {str(k): v for k, v in counts.items()}


def _already(kind: str):
    return Exists(
        JourneyException.objects.filter(instance=OuterRef("pk"), kind=kind, stage=OuterRef("current_stage"))
    )


def _abandoned(now):
    return JourneyInstance.objects.filter(state__in=OPEN_STATES, abandon_at__lte=now)


def _breached(now):
    return JourneyInstance.objects.filter(state=InstanceState.ACTIVE, sla_due_at__lte=now)


def _stalled(now):
    return JourneyInstance.objects.filter(state__in=OPEN_STATES, stall_at__lte=now)


def _sweep(kind: str, finder, now: datetime, batch_size: int) -> int:
    from .actions import run_actions

    with transaction.atomic():
        rows = (
            finder(now)
            .annotate(already=_already(kind))
            .select_related("journey", "current_stage")
            .order_by("pk")
        )
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        instances = list(rows[:batch_size])
        if not instances:
            return 0
        events = []
        for instance in instances:
            exception = None
            if not instance.already:
                exception = create_exception(
                    instance=instance,
                    kind=kind,
                    stage=instance.current_stage,
                    detail=_detail(kind, instance),
                    at=now,
                )
            _apply(kind, instance)
            if exception is not None:
                events.append(
                    JourneyEvent(ActionTrigger.EXCEPTION, instance, instance.current_stage, exception)
                )
        ids = [i.pk for i in instances]
        if kind == ExceptionKind.ABANDONED:
            JourneyInstance.objects.filter(pk__in=ids).update(
                state=InstanceState.ABANDONED, sla_due_at=None, stall_at=None, abandon_at=None, updated_at=now
            )
        elif kind == ExceptionKind.SLA_BREACHED:
            JourneyInstance.objects.filter(pk__in=ids).update(state=InstanceState.BREACHED, updated_at=now)
        else:
            JourneyInstance.objects.filter(pk__in=ids).update(stall_at=None, updated_at=now)
        run_actions(events)
    return len(instances)


def _apply(kind: str, instance: JourneyInstance) -> None:
    """Mirror the bulk update on the in-memory row (actions read it)."""
    if kind == ExceptionKind.ABANDONED:
        instance.state = InstanceState.ABANDONED
        instance.sla_due_at = instance.stall_at = instance.abandon_at = None
    elif kind == ExceptionKind.SLA_BREACHED:
        instance.state = InstanceState.BREACHED
    else:
        instance.stall_at = None


def _detail(kind: str, instance: JourneyInstance) -> str:
    stage = instance.current_stage.name
    if kind == ExceptionKind.SLA_BREACHED:
        due = f"{instance.sla_due_at:%Y-%m-%d %H:%M}"
        return f"{stage}: SLA of {instance.current_stage.sla} ran out at {due} UTC"
    if kind == ExceptionKind.STALLED:
        return f"{stage}: no event since {instance.last_event_at:%Y-%m-%d %H:%M} UTC"
    return f"Abandoned in {stage}: no event since {instance.last_event_at:%Y-%m-%d %H:%M} UTC"
