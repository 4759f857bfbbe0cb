from celery import shared_task
from django.conf import settings

from . import pipeline
from .models import DirtyLane


@shared_task(name="customers.process_dirty_customers")
def process_dirty_customers() -> int:
    """The standard lane: recompute journeys, metrics, scores of the customers marked dirty (idempotent)."""
    return pipeline.process_dirty_customers(lane=DirtyLane.STANDARD, batch_size=settings.DIRTY_BATCH_SIZE)


@shared_task(name="customers.process_realtime_dirty_customers")
def process_realtime_dirty_customers() -> int:
    """The real-time lane: segment membership and what acts on entries, seconds after a change."""
    return pipeline.process_dirty_customers(lane=DirtyLane.REALTIME, batch_size=settings.DIRTY_BATCH_SIZE)


LANE_TASKS = {
    DirtyLane.STANDARD: process_dirty_customers,
    DirtyLane.REALTIME: process_realtime_dirty_customers,
}


@shared_task(name="customers.erase_customer", bind=True, max_retries=5)
def erase_customer_task(self, request_id: int) -> int:
    """Erase the person of one erasure request (idempotent; retried with backoff on errors)."""
    from django.db import DatabaseError

    from .erasure import erase_customer, record_failure

    try:
        return len(erase_customer(request_id=request_id).customer_ids)
    except DatabaseError as exc:
        record_failure(request_id, str(exc))
        raise self.retry(exc=exc, countdown=min(2**self.request.retries * 10, 600)) from exc


@shared_task(name="customers.erase_pending")
def erase_pending() -> int:
    """Sweep: run erasure requests whose task was lost (broker outage, killed worker)."""
    from .erasure import erase_pending as run

    return run()


@shared_task(name="customers.enforce_retention")
def enforce_retention() -> dict:
    """Delete or blank data older than its retention period (settings.RETENTION_DAYS)."""
    from .retention import enforce_retention as run

    return run()
