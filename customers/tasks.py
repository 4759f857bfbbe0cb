from celery import shared_task

from . import pipeline


@shared_task(name="customers.process_dirty_customers")
def process_dirty_customers() -> int:
    """Recompute whatever depends on the customers marked dirty (idempotent)."""
    return pipeline.process_dirty_customers()
