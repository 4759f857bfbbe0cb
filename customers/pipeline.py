"""The dirty-customer pipeline: whatever changes a customer marks it dirty; workers react.

Lower apps call ``mark_dirty(customer_ids)`` (on transaction commit). Higher apps
(segments, journeys, metrics) register a handler in their ``AppConfig.ready``::

    from customers.pipeline import register_dirty_handler
    register_dirty_handler("segments", recompute_for_customers, lane=DirtyLane.REALTIME)

Each handler runs in a lane. A mark is one row per lane, and each lane has its own Celery
task, queue and workers, so the handlers that must answer in seconds (segment membership and
what acts on an entry) never wait behind those that may take minutes (journeys, metrics,
scores). Within a lane, handlers run in the order they were registered.

``process_dirty_customers`` (a Celery task per lane, also run by a periodic sweep) claims a
batch of a lane's dirty rows, calls that lane's handlers with the customer ids and deletes
the rows it claimed, in one transaction: a crash or a broker outage loses nothing, the next
sweep picks the rows up again.

Handlers are isolated from each other: each runs in its own savepoint. A handler that
raises is retried on halves of the batch, so the customers it can process go through
and only those it fails on are left, as ``DirtyHandlerFailure`` rows: that handler's own
pending work for that customer. The sweep retries them with growing delays, counting
attempts; after ``MAX_ATTEMPTS`` a row is set aside, with its error, in the admin. So one
failing handler (or one customer it chokes on) never holds back the others.
"""

import json
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cxhub.db import array_literal, bulk_write

from .models import DirtyCustomer, DirtyHandlerFailure, DirtyLane

logger = logging.getLogger("cxhub.pipeline")

# pg_try_advisory_xact_lock(namespace, customer): the customer is being processed by a worker of
# that lane. A namespace per lane: the lanes process one customer side by side, each its handlers.
LOCK_NAMESPACE = 0x44495254
LOCK_NAMESPACES = {DirtyLane.STANDARD: LOCK_NAMESPACE, DirtyLane.REALTIME: LOCK_NAMESPACE + 1}
# pg_try_advisory_lock(key): a worker is vacuuming the marks table.
VACUUM_LOCK = LOCK_NAMESPACE << 8

# A failing (handler, customer) is retried after 1, 2, 4, … minutes (at most an hour), then set aside.
MAX_ATTEMPTS = 5
MAX_RETRY_DELAY = timedelta(hours=1)

DirtyHandler = Callable[[list[int]], None]
_handlers: dict[str, DirtyHandler] = {}
_lanes: dict[str, DirtyLane] = {}


def register_dirty_handler(name: str, handler: DirtyHandler, *, lane: DirtyLane = DirtyLane.STANDARD) -> None:
    """Register (or replace) the handler called, in ``lane``, with each batch of dirty customer ids."""
    _handlers[name] = handler
    _lanes[name] = DirtyLane(lane)


def dirty_handlers() -> dict[str, DirtyHandler]:
    return dict(_handlers)


def lane_of(name: str) -> DirtyLane:
    return _lanes.get(name, DirtyLane.STANDARD)


def active_lanes() -> list[DirtyLane]:
    """The lanes some handler runs in (the standard lane when none do), real-time first."""
    return sorted({lane_of(name) for name in _handlers} or {DirtyLane.STANDARD})


def _lane_handlers(lane: DirtyLane) -> dict[str, DirtyHandler]:
    return {name: handler for name, handler in _handlers.items() if lane_of(name) == lane}


def mark_dirty(customer_ids: Iterable[int], *, reason: str = "", schedule: bool = True) -> None:
    """Mark customers dirty in every lane now and, once the transaction commits, ask each lane's
    workers to process them."""
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return
    now = timezone.now()
    lanes = active_lanes()
    # One statement whatever the count: the ids and lanes travel as two array parameters.
    table = DirtyCustomer._meta.db_table
    if connection.vendor == "postgresql":
        pairs = "unnest(%s::smallint[]) l, unnest(%s::bigint[]) c"
        arrays = [array_literal(map(int, lanes)), array_literal(ids)]
    else:  # SQLite: JSON arrays
        pairs = "(SELECT value AS l FROM json_each(%s)), (SELECT value AS c FROM json_each(%s))"
        arrays = [json.dumps([int(lane) for lane in lanes]), json.dumps(ids)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (customer_id, lane, marked_at, reason) SELECT c, l, %s, %s FROM {pairs}",
            [now, reason[:50], *arrays],
        )
    if schedule:
        transaction.on_commit(lambda: schedule_processing(lanes))


def schedule_processing(lanes: Iterable[DirtyLane] | None = None) -> None:
    """Ask each lane's workers (all lanes by default) to process its marks; never raises."""
    from .tasks import LANE_TASKS

    for lane in active_lanes() if lanes is None else lanes:
        try:
            LANE_TASKS[lane].delay()
        except Exception:  # broker down: the periodic sweep will pick the rows up
            logger.warning(
                "Could not schedule dirty-customer processing (%s lane); the sweep will retry.",
                lane.label,
                exc_info=True,
            )


def process_dirty_customers(
    *, lane: DirtyLane | None = None, batch_size: int = 1000, max_batches: int | None = None
) -> int:
    """Process a lane's dirty customers (every lane's, real-time first, when ``lane`` is None) in
    batches until none are left, then retry its handler failures that are due; return how many
    customers the marks named (of all lanes, the most any lane processed)."""
    if lane is None:
        return max(
            process_dirty_customers(lane=each, batch_size=batch_size, max_batches=max_batches)
            for each in active_lanes()
        )
    processed = 0
    batches = 0
    while max_batches is None or batches < max_batches:
        count = _process_one_batch(lane, batch_size)
        if not count:
            break
        processed += count
        batches += 1
        if lane == DirtyLane.STANDARD:  # its batches are the long ones: the real-time lane never waits
            tidy_marks()
    retry_failed_handlers(lane=lane, batch_size=batch_size)
    return processed


_deleted_since_vacuum = 0


def tidy_marks() -> bool:
    """Vacuum the marks table once this process has deleted ``settings.DIRTY_VACUUM_EVERY`` marks
    since it last did; return whether it vacuumed.

    Marks are deleted as they are processed, so the head of each lane's index range fills with
    dead entries and every claim walks them (on the large data set: 218 ms to find 1,000 live
    marks behind 1.2 million dead ones). Autovacuum may be slow to come, or off; a short VACUUM of
    this one table clears them. Never inside a transaction (PostgreSQL will not), never two at
    once (a session lock; the other worker skips), and never waiting for a lock (SKIP_LOCKED).
    """
    global _deleted_since_vacuum
    every = settings.DIRTY_VACUUM_EVERY
    if connection.vendor != "postgresql" or every <= 0 or _deleted_since_vacuum < every:
        return False
    if connection.in_atomic_block:  # a caller's transaction (tests, an admin action): next time
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [VACUUM_LOCK])
        if not cursor.fetchone()[0]:
            return False
        try:
            # ANALYZE too: the claim's plan needs the table's current size, and autovacuum may
            # never have looked at it (a claim planned for 190 marks sorted 60,000 on disk)
            cursor.execute(f"VACUUM (ANALYZE, SKIP_LOCKED) {DirtyCustomer._meta.db_table}")
        finally:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [VACUUM_LOCK])
    _deleted_since_vacuum = 0
    return True


def _process_one_batch(lane: DirtyLane, batch_size: int) -> int:
    """Claim up to ``batch_size`` of the lane's marks, run each of its handlers once over their
    customers, delete the marks.

    A mark added while we work is a new row, so it is processed again by a later batch.
    """
    with transaction.atomic():
        claimed = _claim(lane, batch_size)
        if not claimed:
            return 0
        ids = sorted({customer_id for _, customer_id in claimed})
        failed = {name: run_isolated(name, handler, ids) for name, handler in _lane_handlers(lane).items()}
        _settle(ids, failed)
        _delete_marks([pk for pk, _ in claimed])
    global _deleted_since_vacuum
    _deleted_since_vacuum += len(claimed)
    return len(ids)


def _delete_marks(pks: list[int]) -> None:
    if connection.vendor != "postgresql":
        DirtyCustomer.objects.filter(pk__in=pks).delete()
        return
    # one array parameter: a claim is often thousands of marks, and adapting each id as a
    # parameter of its own cost the worker more than the handlers' work
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DirtyCustomer._meta.db_table} WHERE id = ANY(%s::bigint[])", [array_literal(pks)]
        )


def run_isolated(name: str, handler: DirtyHandler, ids: list[int]) -> dict[int, str]:
    """Run ``handler`` over ``ids`` in a savepoint; return {customer id: error} for those it failed on.

    On failure the failing part is split in two and each half retried, down to the customer
    that fails (log2(n) more calls). When both halves fail the failure is taken as general
    (a broken handler, the database gone) and every customer of that part is returned, so a
    broken handler costs three calls a batch, not one per customer.
    """
    error = _attempt(name, handler, ids, log=True)
    return {} if error is None else _narrow(name, handler, ids, error)


def _narrow(name: str, handler: DirtyHandler, ids: list[int], error: str) -> dict[int, str]:
    """``ids`` fail together with ``error``: find which of them the handler fails on."""
    if len(ids) == 1:
        return {ids[0]: error}
    halves = (ids[: len(ids) // 2], ids[len(ids) // 2 :])
    errors = [_attempt(name, handler, half) for half in halves]
    if errors[0] is not None and errors[1] is not None:
        return {pk: message for half, message in zip(halves, errors, strict=True) for pk in half}
    failing = 0 if errors[0] is not None else 1
    return _narrow(name, handler, halves[failing], errors[failing])


def _attempt(name: str, handler: DirtyHandler, ids: list[int], *, log: bool = False) -> str | None:
    """None when ``handler(ids)`` succeeded (its writes kept), else the error (its writes undone)."""
    try:
        with transaction.atomic():
            handler(ids)
    except Exception as exc:
        if log:
            logger.exception("Dirty-customer handler %s failed on a batch of %d customer(s)", name, len(ids))
        return _describe(exc)
    return None


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _settle(ids: list[int], failed: dict[str, dict[int, str]]) -> None:
    """Record this pass's failures (attempts counted) and clear the old failures of what succeeded
    (of the handlers that ran: ``failed`` has a key, maybe an empty dict, for each)."""
    if not any(failed.values()):  # the usual case: one statement, array parameters
        _clear_failures(ids, handlers=list(failed))
        return
    cleared = Q()
    for name, errors in failed.items():
        succeeded = [pk for pk in ids if pk not in errors]
        if succeeded:
            cleared |= Q(handler=name, customer_id__in=succeeded)
    if cleared:
        DirtyHandlerFailure.objects.filter(cleared).delete()
    for name, errors in failed.items():
        if errors:
            _record_failures(name, errors)


def _clear_failures(ids: list[int], *, handlers: list[str]) -> None:
    if not handlers:
        return
    if connection.vendor != "postgresql":
        DirtyHandlerFailure.objects.filter(customer_id__in=ids, handler__in=handlers).delete()
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DirtyHandlerFailure._meta.db_table} "
            "WHERE customer_id = ANY(%s::bigint[]) AND handler = ANY(%s::text[])",
            [array_literal(ids), handlers],
        )


def _record_failures(name: str, errors: dict[int, str]) -> None:
    now = timezone.now()
    existing = {
        row.customer_id: row
        for row in DirtyHandlerFailure.objects.select_for_update().filter(
            handler=name, customer_id__in=list(errors)
        )
    }
    new = []
    for customer_id, error in errors.items():
        row = existing.get(customer_id)
        if row is None:
            new.append(
                DirtyHandlerFailure(
                    handler=name,
                    customer_id=customer_id,
                    attempts=1,
                    error=error,
                    first_failed_at=now,
                    last_failed_at=now,
                    next_attempt_at=now + _retry_delay(1),
                )
            )
            continue
        row.attempts += 1
        row.error, row.last_failed_at = error, now
        row.next_attempt_at = now + _retry_delay(row.attempts)
        row.set_aside = row.attempts >= MAX_ATTEMPTS
    # A concurrent worker may have recorded the same pair meanwhile: theirs stands.
    DirtyHandlerFailure.objects.bulk_create(new, ignore_conflicts=True)
    if existing:
        bulk_write(
            list(existing.values()), ["attempts", "error", "last_failed_at", "next_attempt_at", "set_aside"]
        )
    set_aside = [row for row in existing.values() if row.set_aside]
    if set_aside:
        logger.error(
            "Dirty-customer handler %s set aside %d customer(s) after %d attempts",
            name,
            len(set_aside),
            MAX_ATTEMPTS,
        )


def _retry_delay(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** (attempts - 1)), MAX_RETRY_DELAY)


def retry_failed_handlers(*, lane: DirtyLane = DirtyLane.STANDARD, batch_size: int = 1000) -> int:
    """Re-run each of the lane's handlers for the customers it failed on whose retry is due; return
    how many succeeded. The standard lane also claims the due failures of handlers no longer
    registered, and drops them."""
    succeeded = 0
    with transaction.atomic():
        due = _claim_due_failures(lane, batch_size)
        by_handler: dict[str, list[int]] = {}
        for name, customer_id in due:
            by_handler.setdefault(name, []).append(customer_id)
        for name, ids in by_handler.items():
            handler = _handlers.get(name)
            if handler is None:  # no longer registered: nothing left to do for it
                DirtyHandlerFailure.objects.filter(handler=name, customer_id__in=ids).delete()
                continue
            ids = sorted(ids)
            errors = run_isolated(name, handler, ids)
            done = [pk for pk in ids if pk not in errors]
            if done:
                DirtyHandlerFailure.objects.filter(handler=name, customer_id__in=done).delete()
                succeeded += len(done)
            if errors:
                _record_failures(name, errors)
    return succeeded


def _claim_due_failures(lane: DirtyLane, limit: int) -> list[tuple[str, int]]:
    """(handler, customer id) of the lane's failures due for a retry that this worker may process
    now; the standard lane's include those of handlers no longer registered."""
    now = timezone.now()
    handlers = list(_lane_handlers(lane))
    orphans = lane == DirtyLane.STANDARD
    if connection.vendor != "postgresql":
        mine = Q(handler__in=handlers) | (~Q(handler__in=list(_handlers)) if orphans else Q(pk__in=[]))
        due = DirtyHandlerFailure.objects.filter(mine, set_aside=False, next_attempt_at__lte=now)
        return list(due.order_by("next_attempt_at", "pk").values_list("handler", "customer_id")[:limit])
    table = DirtyHandlerFailure._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH due AS MATERIALIZED (SELECT handler, customer_id FROM {table} "
            "  WHERE NOT set_aside AND next_attempt_at <= %s "
            "  AND (handler = ANY(%s::text[]) OR (%s AND handler <> ALL(%s::text[]))) "
            "  ORDER BY next_attempt_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "SELECT handler, customer_id FROM due "
            "WHERE pg_try_advisory_xact_lock(%s, (customer_id %% 2147483647)::int4)",
            [now, handlers, orphans, list(_handlers), limit, LOCK_NAMESPACES[lane]],
        )
        return cursor.fetchall()


def retry_set_aside(*, failure_ids: Iterable[int]) -> int:
    """Put set-aside failures back in line for the next sweep (the admin's "retry now")."""
    return DirtyHandlerFailure.objects.filter(pk__in=list(failure_ids)).update(
        set_aside=False, next_attempt_at=timezone.now()
    )


def _claim(lane: DirtyLane, batch_size: int) -> list[tuple[int, int]]:
    """(mark id, customer id) of the lane's oldest marks this worker may process now.

    PostgreSQL: marks another worker holds are skipped, and so are customers another worker
    is processing (a transaction-level advisory lock per customer), so two workers never
    process one customer at once. The claimed customers' newer marks, committed by now, are
    claimed too: one pass over a customer covers every change committed before it, so a
    customer marked a hundred times while the queue was long is processed once, not a hundred
    times (ingest marks a customer per item). SQLite serialises writers already.
    """
    marks = DirtyCustomer.objects.filter(lane=lane)
    if connection.vendor != "postgresql":
        return list(marks.order_by("pk").values_list("pk", "customer_id")[:batch_size])
    table = DirtyCustomer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH marks AS MATERIALIZED (SELECT id, customer_id FROM {table} "
            "  WHERE lane = %s ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            "SELECT id, customer_id, (SELECT max(id) FROM marks) FROM marks "
            "WHERE pg_try_advisory_xact_lock(%s, (customer_id %% 2147483647)::int4) ORDER BY id",
            [int(lane), batch_size, LOCK_NAMESPACES[lane]],
        )
        mine = cursor.fetchall()
        if not mine:
            return []
        # The newer marks in a second statement, the customers as a constant array: PostgreSQL
        # then hashes the list, or probes the customer index once per customer, whatever its
        # statistics of this fast-changing table say. Computed inside one statement, the list was
        # searched linearly per candidate row (347 ms of a 384 ms claim), and a join planned from
        # stale statistics walked the whole lane once per customer (a 20 s claim under load).
        cursor.execute(
            f"SELECT id, customer_id FROM {table} "
            "WHERE customer_id = ANY(%s::bigint[]) AND lane = %s AND id > %s "
            "ORDER BY id FOR UPDATE SKIP LOCKED",
            [array_literal(sorted({customer for _, customer, _ in mine})), int(lane), mine[0][2]],
        )
        return [(pk, customer) for pk, customer, _ in mine] + cursor.fetchall()
