from celery import shared_task

from .idempotency import purge_expired_keys


@shared_task(name="interactions.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Delete stored Idempotency-Key responses past their 24-hour replay window."""
    return purge_expired_keys()


@shared_task(name="interactions.ensure_partitions")
def ensure_partitions() -> list[str]:
    """Create the coming months' partitions of a month-partitioned interactions table (else nothing)."""
    from django.conf import settings

    from .partitioning import ensure_partitions as ensure

    return ensure(months_ahead=settings.INTERACTION_PARTITIONS_AHEAD)
