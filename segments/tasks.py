from celery import shared_task

from . import services
from .errors import SegmentCycle
from .models import RunStatus, Segment, SegmentRun


@shared_task(name="segments.recompute_segment", acks_late=True)
def recompute_segment_task(segment_id: int, run_id: int | None = None, trigger: str = "manual") -> int | None:
    """Fully recompute one segment (idempotent: a recompute converges on the rule's current set)."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return None
    run = SegmentRun.objects.filter(pk=run_id).first() if run_id else None
    if run is not None and run.status == RunStatus.SUCCEEDED:
        return run.pk  # redelivered after success
    try:
        run = services.recompute_segment(segment=segment, trigger=trigger, run=run)
    except SegmentCycle:
        return run.pk if run else None  # recorded as failed; never queue round a cycle
    if trigger != "schedule":
        for dependant in services.dependants(segment=segment):
            services.request_recompute(segment=dependant, trigger="upstream")
    return run.pk


@shared_task(name="segments.recompute_due")
def recompute_due_task() -> int:
    """Queue a full recompute of every dynamic segment whose hourly / daily refresh is due."""
    due = services.due_segments()
    for segment in due:
        services.request_recompute(segment=segment, trigger="schedule")
    return len(due)


@shared_task(name="segments.requeue_stale_runs")
def requeue_stale_runs_task() -> int:
    """Queue again recomputes whose run has stayed queued too long (their task was lost)."""
    return services.requeue_stale_runs()
