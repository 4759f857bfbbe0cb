from celery import shared_task
from django.conf import settings

from . import pipeline


@shared_task(name="customers.process_dirty_customers")
def process_dirty_customers() -> int:
    """Recompute whatever depends on the customers marked dirty (idempotent)."""
    return pipeline.process_dirty_customers(batch_size=settings.DIRTY_BATCH_SIZE)
