"""The dirty-customer pipeline: whatever changes a customer marks it dirty; workers react.

Lower apps call ``mark_dirty(customer_ids)`` (on transaction commit). Higher apps
(segments, journeys, metrics) register a handler in their ``AppConfig.ready``::

    from customers.pipeline import register_dirty_handler
    register_dirty_handler("segments", recompute_for_customers)

``process_dirty_customers`` (a Celery task, also run by a periodic sweep) claims a
batch of dirty rows, calls every handler with the customer ids, and deletes the rows
it claimed only after every handler succeeded, so a crash or a broker outage loses
nothing: the next sweep picks the rows up again.
"""

import logging
from collections.abc import Callable, Iterable

from django.db import connection, transaction
from django.utils import timezone

from .models import DirtyCustomer

logger = logging.getLogger("cxhub.pipeline")

DirtyHandler = Callable[[list[int]], None]
_handlers: dict[str, DirtyHandler] = {}


def register_dirty_handler(name: str, handler: DirtyHandler) -> None:
    """Register (or replace) the handler called with each batch of dirty customer ids."""
    _handlers[name] = handler


def dirty_handlers() -> dict[str, DirtyHandler]:
    return dict(_handlers)


def mark_dirty(customer_ids: Iterable[int], *, reason: str = "", schedule: bool = True) -> None:
    """Mark customers dirty now and, once the transaction commits, ask a worker to process them."""
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return
    now = timezone.now()
    DirtyCustomer.objects.bulk_create(
        [DirtyCustomer(customer_id=i, marked_at=now, reason=reason[:50]) for i in ids],
        update_conflicts=True,
        unique_fields=["customer"],
        update_fields=["marked_at", "reason"],
    )
    if schedule:
        transaction.on_commit(_schedule_processing)


def _schedule_processing() -> None:
    from .tasks import process_dirty_customers

    try:
        process_dirty_customers.delay()
    except Exception:  # broker down: the periodic sweep will pick the rows up
        logger.warning("Could not schedule dirty-customer processing; the sweep will retry.", exc_info=True)


def process_dirty_customers(*, batch_size: int = 1000, max_batches: int | None = None) -> int:
    """Process dirty customers in batches until none are left; return how many were processed."""
    processed = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        count = _process_one_batch(batch_size)
        if not count:
            break
        processed += count
        batches += 1
    return processed


def _process_one_batch(batch_size: int) -> int:
    with transaction.atomic():
        rows = DirtyCustomer.objects.order_by("marked_at")
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True)
        claimed = list(rows.values_list("customer_id", "marked_at")[:batch_size])
        if not claimed:
            return 0
        ids = [customer_id for customer_id, _ in claimed]
        for name, handler in _handlers.items():
            try:
                handler(ids)
            except Exception:
                logger.exception("Dirty-customer handler %s failed; the batch stays queued.", name)
                raise
        # Delete only rows not re-marked while we worked: a newer mark must be processed again.
        for customer_id, marked_at in claimed:
            DirtyCustomer.objects.filter(customer_id=customer_id, marked_at=marked_at).delete()
    return len(claimed)
