"""Celery tasks for outbound delivery (thin: ids in, services do the work)."""

from celery import shared_task

from .services import delivery


@shared_task(name="outreach.deliver_message", acks_late=True)
def deliver_message(message_id: int) -> dict:
    """Deliver one message; a redelivered task finds it already claimed and does nothing."""
    return delivery.deliver_ids([message_id])


@shared_task(name="outreach.deliver_pending", acks_late=True)
def deliver_pending(campaign_id: int | None = None) -> int:
    """Stream queued messages (of one campaign) to their providers in batches until none are left."""
    return delivery.deliver_stream(campaign_id=campaign_id)


@shared_task(name="outreach.requeue_stale_messages")
def requeue_stale_messages() -> int:
    return delivery.requeue_stale()


@shared_task(name="outreach.send_due_campaigns")
def send_due_campaigns() -> int:
    from .services import campaigns

    return campaigns.send_due_campaigns()


@shared_task(name="outreach.process_segment_entries")
def process_segment_entries() -> int:
    """Entries written by full recomputes (the dirty pipeline handles incremental ones at once)."""
    from .services import campaigns
    from .triggers import run_entry_handlers

    return campaigns.process_segment_entries() + run_entry_handlers(customer_ids=None)


@shared_task(name="outreach.refresh_conversions")
def refresh_conversions() -> int:
    from .services import campaigns

    return campaigns.refresh_open_conversions()
