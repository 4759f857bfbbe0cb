"""Celery tasks for journeys: thin, idempotent, ids in and counts out."""

from celery import shared_task

from .models import DeliveryStatus
from .services import detect_time_exceptions as detect
from .services import process_interactions as process
from .services.webhooks import attempt_delivery, requeue_due_deliveries, retry_countdown


@shared_task(name="journeys.process_interactions")
def process_interactions(interaction_ids: list[int]) -> int:
    """Advance journeys from these interactions (already processed ones are skipped)."""
    return process(interaction_ids=interaction_ids).interactions


@shared_task(name="journeys.detect_time_exceptions")
def detect_time_exceptions() -> dict:
    """Beat: record SLA breaches, stalls and abandonments that are due."""
    return detect()


@shared_task(bind=True, name="journeys.deliver_webhook", max_retries=None, acks_late=True)
def deliver_webhook(self, delivery_id: int) -> str:
    """One signed attempt; on a 5xx, timeout or connection error, retry with exponential backoff."""
    status = attempt_delivery(delivery_id=delivery_id)
    if self.request.is_eager:
        # No worker will come back later (laptop install, tests): retry at once, bounded by max_attempts.
        while status == DeliveryStatus.RETRYING:
            status = attempt_delivery(delivery_id=delivery_id)
        return status
    if status == DeliveryStatus.RETRYING:
        raise self.retry(countdown=retry_countdown(delivery_id))
    return status


@shared_task(name="journeys.requeue_webhook_deliveries")
def requeue_webhook_deliveries() -> int:
    """Beat: queue again deliveries whose task was lost (broker outage, worker crash)."""
    return requeue_due_deliveries()
