from celery import shared_task

from .idempotency import purge_expired_keys


@shared_task(name="interactions.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete stored Idempotency-Key responses past their 24-hour replay window."""
    return purge_expired_keys()
