"""The SQL of recomputing a segment: locks and transaction settings, the membership diff (a
read and a write on PostgreSQL, statement by statement on SQLite), micro-segment pruning and run
records.

``segments.services`` calls these inside its transactions; they are not an API of their own.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import F
from django.utils import timezone

from customers.models import Customer

from .compiler import id_array, member_ids_sql
from .models import MovementKind, RunStatus, Segment, SegmentMembership, SegmentMovement, SegmentRun

# pg_advisory_xact_lock key space for segment recomputes: (namespace << 32) | segment id.
LOCK_NAMESPACE = 0x5E6 << 32
MEMBERSHIP = SegmentMembership._meta.db_table
MOVEMENT = SegmentMovement._meta.db_table
SEGMENT = Segment._meta.db_table
RUN = SegmentRun._meta.db_table
DIFF_COUNTS = "(SELECT count(*) FROM added), (SELECT count(*) FROM gone), (SELECT size FROM diff)"
CUSTOMER = Customer._meta.db_table
# A rule's query over customers (segments.compiler) starts with this; in an incremental refresh
# the outer scan reads the dirty customers' rows, taken once for all the rules, under the name
# the rule's conditions refer to them by.
_OVER_CUSTOMERS = f'SELECT "{CUSTOMER}"."id" AS "id" FROM "{CUSTOMER}" WHERE '
DIRTY = "dirty_customers"
_OVER_DIRTY = f'SELECT "{CUSTOMER}"."id" AS "id" FROM {DIRTY} AS "{CUSTOMER}" WHERE '
TARGET = "segments_recompute_target"
PARTIAL = "segments_partial_target"


def lock(*segment_ids: int, settings: dict[str, str] | None = None) -> list[str]:
    """Serialise recomputes of these segments, taking the locks in the order given. PostgreSQL:
    advisory locks until the transaction ends; SQLite: the (IMMEDIATE) write transaction already
    serialises writers.

    ``settings`` are PostgreSQL settings for the rest of the transaction, changed in the same
    round trip; returns their previous values, in order.
    """
    if connection.vendor != "postgresql":
        return []
    settings = settings or {}
    # A target list is evaluated left to right: the old value is read before it is set, and
    # the locks are taken in the order given.
    calls = ["current_setting(%s), set_config(%s, %s, true)"] * len(settings)
    calls += ["pg_advisory_xact_lock(%s)"] * len(segment_ids)
    if not calls:
        return []
    params = [value for name, setting in settings.items() for value in (name, name, setting)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(calls)}", [*params, *(LOCK_NAMESPACE | pk for pk in segment_ids)])
        row = cursor.fetchone()
    return [row[2 * i] for i in range(len(settings))]


def recompute_settings(*, incremental: bool = False) -> dict[str, str]:
    """Settings for a recompute transaction (PostgreSQL). A caller's transaction keeps its
    durability; an incremental refresh inside one restores the caller's JIT setting after."""
    settings = {}
    if not connection.in_atomic_block or incremental:
        # Rules are index probes, hash lookups and a few comparisons per customer: compiling
        # them to machine code took longer (~250 ms for a rule with an "any" of subqueries on
        # the benchmark data) than running them did (~15 ms). The planner's cost estimate for
        # such rules crosses jit_above_cost long before JIT could pay off.
        settings["jit"] = "off"
    if not (incremental or connection.in_atomic_block):
        # The diff read (``_read_diff``) hands the rule's rows to the leader to join them with
        # the members. At the default cost of 0.1 per row handed over, the planner scans a
        # million customers alone rather than with two workers: 274 ms instead of 206 ms for an
        # attribute filter with 72,000 members on the benchmark data (an incremental refresh
        # writes in the statement that reads, and PostgreSQL runs those without workers; a
        # caller's transaction keeps its planner settings).
        settings["parallel_tuple_cost"] = "0.01"
    if not connection.in_atomic_block:
        # Membership is derived data: a commit lost to a server crash in the instant before it
        # reached disk leaves the previous membership, whole, and the next run redoes it.
        settings["synchronous_commit"] = "off"
    return settings


def lock_and_load(segment_id: int, *, settings: dict[str, str]) -> tuple[Segment, datetime]:
    """Take the segment's recompute lock and read its definition and the start time, in one
    round trip when no other recompute of it is running (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return Segment.objects.get(pk=segment_id), timezone.now()
    segment = _load_locked(segment_id, settings=settings, wait=False)
    if not segment.locked:
        # Another recompute of it is running: wait for it, then re-read what may have changed.
        segment = _load_locked(segment_id, settings={}, wait=True)
    return segment, segment.started


def _load_locked(segment_id: int, *, settings: dict[str, str], wait: bool) -> Segment:
    # The target list is evaluated left to right: settings, the lock, then the clock.
    configs = "".join(f"set_config(%s, %s, true) AS setting_{i}, " for i in range(len(settings)))
    lock = "pg_advisory_xact_lock(%s) IS NOT NULL" if wait else "pg_try_advisory_xact_lock(%s)"
    params = [value for pair in settings.items() for value in pair]
    rows = Segment.objects.raw(
        f"SELECT {configs}{lock} AS locked, clock_timestamp() AS started, s.* "
        f"FROM {SEGMENT} s WHERE s.id = %s",
        [*params, LOCK_NAMESPACE | segment_id, segment_id],
    )
    for segment in rows:
        return segment
    raise Segment.DoesNotExist(f"Segment {segment_id} does not exist.")


def target_sql(
    segment: Segment, *, now, customer_ids: list[int] | None = None, cache: dict | None = None
) -> tuple[str, tuple]:
    return member_ids_sql(
        segment.rules,
        parent_id=segment.parent_id,
        now=now,
        segment=segment,
        customer_ids=customer_ids,
        cache=cache,
    )


def _read_diff(cursor, *, sid: int, target: tuple[str, tuple]) -> tuple[int, list | None, list | None]:
    """PostgreSQL: the rule's result full-joined once with the current members and folded into
    one row: its size, the ids that enter, the ids that leave (None when none do).

    A statement of its own because it only reads: PostgreSQL plans no parallel workers for a
    statement with data-modifying CTEs, and a rule over every customer (an attribute filter on a
    million rows) scans in about half the time with two of them. The recompute lock held since
    before this read keeps the segment's membership as it saw it until the write.
    """
    sql, params = target
    cursor.execute(
        "SELECT count(t.id), array_agg(t.id) FILTER (WHERE m.customer_id IS NULL), "
        "array_agg(m.customer_id) FILTER (WHERE t.id IS NULL) "
        f"FROM ({sql}) t FULL JOIN (SELECT customer_id FROM {MEMBERSHIP} WHERE segment_id = %s) m "
        "ON m.customer_id = t.id",
        [*params, sid],
    )
    return cursor.fetchone()


def _write_diff(
    cursor,
    *,
    sid: int,
    now,
    diff: tuple[int, list | None, list | None],
    final: tuple[str, list] | None = None,
) -> tuple:
    """PostgreSQL: apply a diff ``_read_diff`` found, as one statement of data-modifying CTEs.

    New members are inserted and gone ones deleted, each with its movement row, and the segment's
    member count and ``last_computed_at`` follow. The statement ends with ``final`` (sql,
    params), which may read ``added`` and ``gone`` (customer ids) and ``diff.size``; returns its
    row, by default (added, removed, size).
    """
    size, entered, exited = diff
    final_sql, final_params = final or (f"SELECT {DIFF_COUNTS}", [])
    cursor.execute(
        "WITH diff AS MATERIALIZED "
        "(SELECT %s::bigint AS size, %s::bigint[] AS entered, %s::bigint[] AS exited), "
        f"added AS (INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since) "
        "SELECT %s, entered.id, %s FROM diff, unnest(diff.entered) AS entered(id) RETURNING customer_id), "
        f"gone AS (DELETE FROM {MEMBERSHIP} m USING diff "
        "WHERE m.segment_id = %s AND m.customer_id = ANY(diff.exited) RETURNING m.customer_id), "
        f"moved AS (INSERT INTO {MOVEMENT} (segment_id, customer_id, kind, at) "
        "SELECT %s, customer_id, %s, %s FROM added UNION ALL SELECT %s, customer_id, %s, %s FROM gone), "
        f"counted AS (UPDATE {SEGMENT} SET member_count = (SELECT size FROM diff), last_computed_at = %s "
        "WHERE id = %s) "
        f"{final_sql}",
        [
            size,
            None if entered is None else id_array(entered),
            None if exited is None else id_array(exited),
            *(sid, now),
            sid,
            *(sid, MovementKind.ENTERED, now, sid, MovementKind.EXITED, now),
            *(now, sid),
            *final_params,
        ],
    )
    return cursor.fetchone()


def partial_diff_many(
    cursor, targets: list[tuple[Segment, tuple[str, tuple]]], now, customer_ids: list[int]
) -> dict[int, tuple[int, int]]:
    """PostgreSQL: re-evaluate only ``customer_ids`` against several segments, none of which
    depends on another (they all read the memberships as they were before it), in one statement.

    ``targets`` are (segment, the rule's (sql, params) restricted to those customers). Their
    results are tagged with the segment and full-joined once with those customers' current
    memberships (one index range per customer); entries and exits are inserted and deleted with
    their movement rows, and each segment's member count moves by its difference (only the
    segments where something moved are touched). Returns {segment_id: (added, removed)} for
    those segments.
    """
    parts, params = [], []
    for segment, (sql, sql_params) in targets:
        if sql.startswith(_OVER_CUSTOMERS):  # read the dirty customers' rows once, not per rule
            sql = f"{_OVER_DIRTY}{sql.removeprefix(_OVER_CUSTOMERS)}"
        parts.append(f"SELECT %s::bigint AS segment_id, r.id FROM ({sql}) r")
        params += [segment.pk, *sql_params]
    cursor.execute(
        f"WITH {DIRTY} AS MATERIALIZED (SELECT * FROM {CUSTOMER} WHERE id = ANY(%s::bigint[])), "
        f"t AS ({' UNION ALL '.join(parts)}), "
        # Each dirty customer's memberships, read customer by customer (OFFSET 0 keeps the
        # lookup per customer): a plan from statistics that predate a segment's first fill
        # would otherwise scan every member of the segments instead.
        "m AS (SELECT x.segment_id, x.customer_id FROM unnest(%s::bigint[]) AS d(id) CROSS JOIN LATERAL "
        f"(SELECT segment_id, customer_id FROM {MEMBERSHIP} "
        "WHERE customer_id = d.id AND segment_id = ANY(%s::bigint[]) OFFSET 0) x), "
        "diff AS MATERIALIZED (SELECT coalesce(t.segment_id, m.segment_id) AS segment_id, "
        "coalesce(t.id, m.customer_id) AS customer_id, m.customer_id IS NULL AS entering "
        "FROM t FULL JOIN m ON m.segment_id = t.segment_id AND m.customer_id = t.id "
        "WHERE t.id IS NULL OR m.customer_id IS NULL), "
        f"added AS (INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since) "
        "SELECT segment_id, customer_id, %s FROM diff WHERE entering RETURNING segment_id, customer_id), "
        f"gone AS (DELETE FROM {MEMBERSHIP} x USING diff WHERE NOT diff.entering "
        "AND x.segment_id = diff.segment_id AND x.customer_id = diff.customer_id "
        "RETURNING x.segment_id, x.customer_id), "
        f"moved AS (INSERT INTO {MOVEMENT} (segment_id, customer_id, kind, at) "
        "SELECT segment_id, customer_id, %s, %s FROM added "
        "UNION ALL SELECT segment_id, customer_id, %s, %s FROM gone), "
        "changes AS MATERIALIZED (SELECT segment_id, count(*) FILTER (WHERE entered) AS added, "
        "count(*) FILTER (WHERE NOT entered) AS removed FROM "
        "(SELECT segment_id, true AS entered FROM added UNION ALL SELECT segment_id, false FROM gone) c "
        "GROUP BY segment_id), "
        f"counted AS (UPDATE {SEGMENT} s SET member_count = s.member_count + c.added - c.removed "
        "FROM changes c WHERE s.id = c.segment_id) "
        "SELECT segment_id, added, removed FROM changes",
        [
            id_array(customer_ids),
            *params,
            id_array(customer_ids),
            id_array([segment.pk for segment, _ in targets]),
            now,
            *(MovementKind.ENTERED, now, MovementKind.EXITED, now),
        ],
    )
    return {sid: (added, removed) for sid, added, removed in cursor.fetchall()}


def _record_run_sql(
    run: SegmentRun | None, *, segment: Segment, trigger: str, started, condition: str = "true"
) -> tuple[str, list]:
    """The end of the diff statement that records the run as succeeded (a new row, or the queued
    ``run``) when ``condition`` (SQL) holds, returning (added, removed, member_count, id,
    created_at, finished_at)."""
    returning = "RETURNING added, removed, member_count, id, created_at, finished_at"
    # clock_timestamp() comes after the counts: it is read once the diff has run.
    outcome = f"{DIFF_COUNTS}, clock_timestamp()"
    if run is None:
        return (
            f"INSERT INTO {RUN} (segment_id, trigger, status, created_at, started_at, error, "
            "added, removed, member_count, finished_at) "
            f"SELECT %s, %s, %s, %s, %s, '', {outcome} WHERE {condition} {returning}",
            [segment.pk, trigger[:20], RunStatus.SUCCEEDED, started, started],
        )
    return (
        f"UPDATE {RUN} SET status = %s, started_at = %s, error = '', "
        f"(added, removed, member_count, finished_at) = (SELECT {outcome}) WHERE id = %s AND {condition} "
        f"{returning}",
        [RunStatus.SUCCEEDED, started, run.pk],
    )


def _fill_from_empty(
    cursor, *, sid: int, now, target: tuple[str, tuple], final: tuple[str, list]
) -> tuple | None:
    """PostgreSQL: the first fill of a segment without members, as one INSERT … SELECT of the
    rule's query (no join with the current members, no arrays of ids), the ``entered`` movements
    written from what it RETURNs, the member count and ``final`` (the run) in the same statement.

    Whether the segment is empty is checked again inside the statement (its own snapshot, taken
    after the recompute lock): if it is not, nothing is written and None is returned, and the
    caller diffs as usual.
    """
    sql, params = target
    final_sql, final_params = final
    cursor.execute(
        "WITH empty AS MATERIALIZED "
        f"(SELECT NOT EXISTS (SELECT 1 FROM {MEMBERSHIP} WHERE segment_id = %s) AS yes), "
        f"added AS (INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since) "
        f"SELECT %s, t.id, %s FROM ({sql}) t WHERE (SELECT yes FROM empty) RETURNING customer_id), "
        "gone AS (SELECT NULL::bigint AS customer_id WHERE false), "
        "diff AS MATERIALIZED (SELECT count(*) AS size FROM added), "
        f"moved AS (INSERT INTO {MOVEMENT} (segment_id, customer_id, kind, at) "
        "SELECT %s, customer_id, %s, %s FROM added), "
        f"counted AS (UPDATE {SEGMENT} SET member_count = (SELECT size FROM diff), last_computed_at = %s "
        "WHERE id = %s AND (SELECT yes FROM empty)) "
        f"{final_sql}",
        [
            sid,
            *(sid, now),
            *params,
            *(sid, MovementKind.ENTERED, now),
            *(now, sid),
            *final_params,
        ],
    )
    return cursor.fetchone()


def _apply_diff_sqlite(
    cursor, *, sid: int, now, target: str, column: str, scope: str = "", scope_params=()
) -> tuple[int, int]:
    """SQLite: make segment ``sid``'s membership (within ``scope``) equal the ids in
    ``target.column``, statement by statement, movements before the rows they describe."""
    new = (
        f"FROM {target} t WHERE NOT EXISTS "
        f"(SELECT 1 FROM {MEMBERSHIP} m WHERE m.segment_id = %s AND m.customer_id = t.{column})"
    )
    gone = (
        f"WHERE {MEMBERSHIP}.segment_id = %s {scope} AND NOT EXISTS "
        f"(SELECT 1 FROM {target} t WHERE t.{column} = {MEMBERSHIP}.customer_id)"
    )
    gone_params = [sid, *scope_params]
    movement = f"INSERT INTO {MOVEMENT} (segment_id, customer_id, kind, at)"
    cursor.execute(f"{movement} SELECT %s, t.{column}, %s, %s {new}", [sid, MovementKind.ENTERED, now, sid])
    cursor.execute(
        f"INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since) SELECT %s, t.{column}, %s {new}",
        [sid, now, sid],
    )
    added = cursor.rowcount
    cursor.execute(
        f"{movement} SELECT %s, {MEMBERSHIP}.customer_id, %s, %s FROM {MEMBERSHIP} {gone}",
        [sid, MovementKind.EXITED, now, *gone_params],
    )
    cursor.execute(f"DELETE FROM {MEMBERSHIP} {gone}", gone_params)
    return added, cursor.rowcount


def full_diff(
    cursor, segment: Segment, now, *, run: SegmentRun | None = None, trigger: str = ""
) -> SegmentRun:
    """Make the membership equal the rule's set and record the movements, the member count,
    ``last_computed_at`` and the run (``run`` completed, or a new one): a read and a write on
    PostgreSQL. Returns the run as recorded."""
    target = target_sql(segment, now=now)
    if connection.vendor == "postgresql":
        row = None
        if segment.member_count == 0:  # most likely a first fill (checked again in the statement)
            final = _record_run_sql(
                run, segment=segment, trigger=trigger, started=now, condition="(SELECT yes FROM empty)"
            )
            row = _fill_from_empty(cursor, sid=segment.pk, now=now, target=target, final=final)
        if row is None:
            final = _record_run_sql(run, segment=segment, trigger=trigger, started=now)
            diff = _read_diff(cursor, sid=segment.pk, target=target)
            row = _write_diff(cursor, sid=segment.pk, now=now, diff=diff, final=final)
        if row is None:
            raise SegmentRun.DoesNotExist(f"Run {run.pk} of segment {segment.pk} no longer exists.")
        # The row is what _record_run_sql RETURNs.
        columns = ("added", "removed", "member_count", "pk", "created_at", "finished_at")
        recorded = dict(zip(columns, row, strict=True))
        done = run or SegmentRun(segment=segment, trigger=trigger[:20])
        for name, value in {
            **recorded,
            "status": RunStatus.SUCCEEDED,
            "started_at": now,
            "error": "",
        }.items():
            setattr(done, name, value)
        return done
    sql, params = target
    cursor.execute(f"DROP TABLE IF EXISTS {TARGET}")
    cursor.execute(f"CREATE TEMPORARY TABLE {TARGET} AS {sql}", params)
    cursor.execute(f"CREATE INDEX {TARGET}_id ON {TARGET} (id)")
    added, removed = _apply_diff_sqlite(cursor, sid=segment.pk, now=now, target=TARGET, column="id")
    cursor.execute(f"SELECT COUNT(*) FROM {TARGET}")
    count = cursor.fetchone()[0]
    cursor.execute(f"DROP TABLE {TARGET}")
    Segment.objects.filter(pk=segment.pk).update(member_count=count, last_computed_at=now)
    return record_run(
        run,
        segment=segment,
        trigger=trigger,
        status=RunStatus.SUCCEEDED,
        started_at=now,
        added=added,
        removed=removed,
        member_count=count,
    )


def partial_diff(cursor, segment: Segment, now, customer_ids: list[int], target) -> tuple[int, int]:
    """Re-evaluate only ``customer_ids`` against the segment, apply the difference and move the
    member count by it (counting a large segment per dirty batch would dominate).

    ``target`` is the rule's (sql, params) restricted to those customers. On SQLite it runs into
    the temporary table ``PARTIAL`` (created by ``refresh_customers``).
    """
    if connection.vendor == "postgresql":
        return partial_diff_many(cursor, [(segment, target)], now, customer_ids).get(segment.pk, (0, 0))
    sql, params = target
    cursor.execute(f"DELETE FROM {PARTIAL}")
    cursor.execute(f"INSERT INTO {PARTIAL} (customer_id) {sql}", params)
    marks = ", ".join(["%s"] * len(customer_ids))
    added, removed = _apply_diff_sqlite(
        cursor,
        sid=segment.pk,
        now=now,
        target=PARTIAL,
        column="customer_id",
        scope=f"AND {MEMBERSHIP}.customer_id IN ({marks})",
        scope_params=customer_ids,
    )
    if added or removed:
        Segment.objects.filter(pk=segment.pk).update(member_count=F("member_count") + added - removed)
    return added, removed


def prune_descendants(cursor, segment: Segment, now, _seen: set[int] | None = None) -> None:
    """Micro-segments are subsets of their parent: drop children's members the parent lost."""
    seen = _seen if _seen is not None else {segment.pk}
    for child in Segment.objects.filter(parent=segment).order_by("pk"):
        if child.pk in seen:  # a parent cycle (refused on save): never follow it round
            continue
        seen.add(child.pk)
        lock(child.pk)
        gone = (
            f"WHERE {MEMBERSHIP}.segment_id = %s AND NOT EXISTS (SELECT 1 FROM {MEMBERSHIP} p "
            f"WHERE p.segment_id = %s AND p.customer_id = {MEMBERSHIP}.customer_id)"
        )
        cursor.execute(
            f"INSERT INTO {MOVEMENT} (segment_id, customer_id, kind, at) "
            f"SELECT %s, {MEMBERSHIP}.customer_id, %s, %s FROM {MEMBERSHIP} {gone}",
            [child.pk, MovementKind.EXITED, now, child.pk, segment.pk],
        )
        cursor.execute(f"DELETE FROM {MEMBERSHIP} {gone}", [child.pk, segment.pk])
        if cursor.rowcount:
            update_count(child.pk)
        prune_descendants(cursor, child, now, seen)


def update_count(segment_id: int, **extra) -> int:
    count = SegmentMembership.objects.filter(segment_id=segment_id).count()
    Segment.objects.filter(pk=segment_id).update(member_count=count, **extra)
    return count


def record_run(run: SegmentRun | None, *, segment: Segment, trigger: str, **outcome) -> SegmentRun:
    """Complete the queued ``run`` with ``outcome``, or record a new finished run."""
    outcome.update(finished_at=timezone.now(), error=outcome.get("error", ""))
    if run is None:
        return SegmentRun.objects.create(segment=segment, trigger=trigger[:20], **outcome)
    SegmentRun.objects.filter(pk=run.pk).update(**outcome)
    for name, value in outcome.items():
        setattr(run, name, value)
    return run
