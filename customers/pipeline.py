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

from cxhub.db import array_literal

from .models import DirtyCustomer

logger = logging.getLogger("cxhub.pipeline")

# pg_try_advisory_xact_lock(namespace, customer): the customer is being processed by a worker.
LOCK_NAMESPACE = 0x44495254

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
    if connection.vendor == "postgresql":  # one array parameter: no model instance per mark
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {DirtyCustomer._meta.db_table} (customer_id, marked_at, reason) "
                "SELECT unnest(%s::bigint[]), %s, %s",
                [array_literal(ids), now, reason[:50]],
            )
    else:
        DirtyCustomer.objects.bulk_create(
            [DirtyCustomer(customer_id=i, marked_at=now, reason=reason[:50]) for i in ids]
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
    """Claim up to ``batch_size`` marks, run every handler once over their customers, delete the marks.

    A mark added while we work is a new row, so it is processed again by a later batch.
    """
    with transaction.atomic():
        claimed = _claim(batch_size)
        if not claimed:
            return 0
        ids = sorted({customer_id for _, customer_id in claimed})
        for name, handler in _handlers.items():
            try:
                handler(ids)
            except Exception:
                logger.exception("Dirty-customer handler %s failed; the batch stays queued.", name)
                raise
        DirtyCustomer.objects.filter(pk__in=[pk for pk, _ in claimed]).delete()
    return len(ids)


def _claim(batch_size: int) -> list[tuple[int, int]]:
    """(mark id, customer id) of the oldest marks this worker may process now.

    PostgreSQL: marks another worker holds are skipped, and so are customers another worker
    is processing (a transaction-level advisory lock per customer), so two workers never
    process one customer at once. SQLite serialises writers already.
    """
    if connection.vendor != "postgresql":
        return list(DirtyCustomer.objects.order_by("pk").values_list("pk", "customer_id")[:batch_size])
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH marks AS MATERIALIZED (SELECT id, customer_id FROM {DirtyCustomer._meta.db_table} "
            "  ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "SELECT id, customer_id FROM marks "
            "WHERE pg_try_advisory_xact_lock(%s, (customer_id %% 2147483647)::int4) ORDER BY id",
            [batch_size, LOCK_NAMESPACE],
        )
        return cursor.fetchall()
