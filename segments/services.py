"""Everything that writes segments: definitions, recompute (full and incremental), static lists."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from customers.models import Customer, Identity

from .compiler import member_ids_sql, segment_queryset
from .errors import InvalidRule, RecomputeNotAllowed
from .models import (
    MovementKind,
    Refresh,
    RunStatus,
    Segment,
    SegmentKind,
    SegmentMembership,
    SegmentMovement,
    SegmentRun,
)
from .validation import check_no_cycle, validate_rules

logger = logging.getLogger("cxhub.segments")

# pg_advisory_xact_lock key space for segment recomputes: (namespace << 32) | segment id.
LOCK_NAMESPACE = 0x5E6 << 32
MEMBERSHIP = SegmentMembership._meta.db_table
MOVEMENT = SegmentMovement._meta.db_table
SEGMENT = Segment._meta.db_table
RUN = SegmentRun._meta.db_table
DIFF_COUNTS = "(SELECT count(*) FROM added), (SELECT count(*) FROM gone), (SELECT n FROM size)"
TARGET = "segments_recompute_target"
PARTIAL = "segments_partial_target"

# --- definitions -----------------------------------------------------------------------------


def validate_definition(
    *, rules, kind: str, slug: str, parent: Segment | None, segment_id: int | None
) -> None:
    """Schema, references and cycles of a segment definition; raises InvalidRule with the path."""
    if kind == SegmentKind.DYNAMIC or rules:
        validate_rules(rules)
    if parent is not None and segment_id is not None and parent.pk == segment_id:
        raise InvalidRule("A segment cannot be its own parent.", field="parent")
    check_no_cycle(
        segment_id=segment_id, slug=slug, rules=rules or {}, parent_id=parent.pk if parent else None
    )
    if rules:  # compile once so unknown channels or segments fail now, not in the worker
        segment_queryset(rules, parent=parent).query.sql_with_params()


@transaction.atomic
def save_segment(*, segment: Segment, actor=None) -> Segment:
    """Validate and save a segment definition (new or changed)."""
    validate_definition(
        rules=segment.rules,
        kind=segment.kind,
        slug=segment.slug,
        parent=segment.parent,
        segment_id=segment.pk,
    )
    if segment.pk is None and segment.owner_id is None and getattr(actor, "pk", None):
        segment.owner = actor
    segment.save()
    return segment


def delete_segment(*, segment: Segment) -> None:
    from .validation import referenced_segments

    users = [
        other.slug
        for other in Segment.objects.exclude(pk=segment.pk).only("slug", "rules")
        if any(ref == segment.slug for ref, _ in referenced_segments(other.rules))
    ]
    if users or segment.children.exists():
        raise RecomputeNotAllowed(
            "Other segments depend on this one: " + ", ".join(users or ["its micro-segments"]), code="in_use"
        )
    segment.delete()


# --- recompute ---------------------------------------------------------------------------------


def _lock(*segment_ids: int, settings: dict[str, str] | None = None) -> list[str]:
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


def _recompute_settings(*, incremental: bool = False) -> dict[str, str]:
    """Settings for a recompute transaction (PostgreSQL). A caller's transaction keeps its
    durability; an incremental refresh inside one restores the caller's JIT setting after."""
    settings = {}
    if not connection.in_atomic_block or incremental:
        # Rules are index probes, hash lookups and a few comparisons per customer: compiling
        # them to machine code took longer (~250 ms for a rule with an "any" of subqueries on
        # the benchmark data) than running them did (~15 ms). The planner's cost estimate for
        # such rules crosses jit_above_cost long before JIT could pay off.
        settings["jit"] = "off"
    if not connection.in_atomic_block:
        # Membership is derived data: a commit lost to a server crash in the instant before it
        # reached disk leaves the previous membership, whole, and the next run redoes it.
        settings["synchronous_commit"] = "off"
    return settings


def _lock_and_load(segment_id: int, *, settings: dict[str, str]) -> tuple[Segment, datetime]:
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


def _target_sql(
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


def _diff_in_one_statement(
    cursor,
    *,
    sid: int,
    now,
    target: tuple[str, tuple],
    customer_ids: list[int] | None = None,
    final: tuple[str, list] | None = None,
) -> tuple:
    """PostgreSQL: the whole membership diff as one statement of data-modifying CTEs.

    The rule runs once and is full-joined once with the current members: new members are
    inserted and gone ones deleted, each with its movement row, and the segment's member count
    follows. With ``customer_ids`` only those customers' memberships are diffed and the count
    moves by the difference. The statement ends with ``final`` (sql, params), which may read
    ``added`` and ``gone`` (customer ids) and ``size`` (n, the rows of the target); returns its
    row, by default (added, removed, n).
    """
    sql, params = target
    final_sql, final_params = final or (f"SELECT {DIFF_COUNTS}", [])
    if customer_ids is None:
        scope, scope_params = "", []
        counted = "member_count = (SELECT n FROM size), last_computed_at = %s WHERE id = %s"
        counted_params = [now, sid]
    else:
        scope, scope_params = "AND customer_id = ANY(%s::bigint[])", [customer_ids]
        # Only touch the segment row when something moved (no row lock, no dead tuple otherwise).
        counted = (
            "member_count = member_count + (SELECT count(*) FROM added) - (SELECT count(*) FROM gone) "
            "WHERE id = %s AND EXISTS (SELECT 1 FROM diff)"
        )
        counted_params = [sid]
    cursor.execute(
        f"WITH target AS MATERIALIZED ({sql}), "
        "size AS (SELECT count(*) AS n FROM target), "
        "diff AS MATERIALIZED (SELECT t.id AS entered, m.customer_id AS exited FROM target t "
        f"FULL JOIN (SELECT customer_id FROM {MEMBERSHIP} WHERE segment_id = %s {scope}) m "
        "ON m.customer_id = t.id WHERE t.id IS NULL OR m.customer_id IS NULL), "
        f"added AS (INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since) "
        "SELECT %s, entered, %s FROM diff WHERE entered IS NOT NULL RETURNING customer_id), "
        f"gone AS (DELETE FROM {MEMBERSHIP} m USING diff "
        "WHERE m.segment_id = %s AND m.customer_id = diff.exited RETURNING m.customer_id), "
        f"moved AS (INSERT INTO {MOVEMENT} (segment_id, customer_id, kind, at) "
        "SELECT %s, customer_id, %s, %s FROM added UNION ALL SELECT %s, customer_id, %s, %s FROM gone), "
        f"counted AS (UPDATE {SEGMENT} SET {counted}) "
        f"{final_sql}",
        [
            *params,
            *(sid, *scope_params),
            *(sid, now),
            sid,
            *(sid, MovementKind.ENTERED, now, sid, MovementKind.EXITED, now),
            *counted_params,
            *final_params,
        ],
    )
    return cursor.fetchone()


def _record_run_sql(run: SegmentRun | None, *, segment: Segment, trigger: str, started) -> tuple[str, list]:
    """The end of the diff statement that records the run as succeeded (a new row, or the queued
    ``run``), returning (added, removed, member_count, id, created_at, finished_at)."""
    returning = "RETURNING added, removed, member_count, id, created_at, finished_at"
    # clock_timestamp() comes after the counts: it is read once the diff has run.
    outcome = f"{DIFF_COUNTS}, clock_timestamp()"
    if run is None:
        return (
            f"INSERT INTO {RUN} (segment_id, trigger, status, created_at, started_at, error, "
            "added, removed, member_count, finished_at) "
            f"SELECT %s, %s, %s, %s, %s, '', {outcome} {returning}",
            [segment.pk, trigger[:20], RunStatus.SUCCEEDED, started, started],
        )
    return (
        f"UPDATE {RUN} SET status = %s, started_at = %s, error = '', "
        f"(added, removed, member_count, finished_at) = (SELECT {outcome}) WHERE id = %s {returning}",
        [RunStatus.SUCCEEDED, started, run.pk],
    )


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


def _full_diff(
    cursor, segment: Segment, now, *, run: SegmentRun | None = None, trigger: str = ""
) -> SegmentRun:
    """Make the membership equal the rule's set and record the movements, the member count,
    ``last_computed_at`` and the run (``run`` completed, or a new one): one statement on
    PostgreSQL. Returns the run as recorded."""
    target = _target_sql(segment, now=now)
    if connection.vendor == "postgresql":
        final = _record_run_sql(run, segment=segment, trigger=trigger, started=now)
        row = _diff_in_one_statement(cursor, sid=segment.pk, now=now, target=target, final=final)
        if row is None:
            raise SegmentRun.DoesNotExist(f"Run {run.pk} of segment {segment.pk} no longer exists.")
        added, removed, count, pk, created, finished = row
        done = run or SegmentRun(segment=segment, trigger=trigger[:20])
        done.pk, done.created_at, done.status, done.started_at, done.finished_at = (
            pk,
            created,
            RunStatus.SUCCEEDED,
            now,
            finished,
        )
        done.added, done.removed, done.member_count, done.error = added, removed, count, ""
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
    return _record_run(
        run,
        segment=segment,
        trigger=trigger,
        status=RunStatus.SUCCEEDED,
        started_at=now,
        added=added,
        removed=removed,
        member_count=count,
    )


def _partial_diff(cursor, segment: Segment, now, customer_ids: list[int], target) -> tuple[int, int]:
    """Re-evaluate only ``customer_ids`` against the segment, apply the difference and move the
    member count by it (counting a large segment per dirty batch would dominate).

    ``target`` is the rule's (sql, params) restricted to those customers. On SQLite it runs into
    the temporary table ``PARTIAL`` (created by ``refresh_customers``).
    """
    if connection.vendor == "postgresql":
        added, removed, _ = _diff_in_one_statement(
            cursor, sid=segment.pk, now=now, target=target, customer_ids=customer_ids
        )
        return added, removed
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


def _prune_descendants(cursor, segment: Segment, now) -> None:
    """Micro-segments are subsets of their parent: drop children's members the parent lost."""
    for child in Segment.objects.filter(parent=segment).order_by("pk"):
        _lock(child.pk)
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
            _update_count(child.pk)
        _prune_descendants(cursor, child, now)


def _update_count(segment_id: int, **extra) -> int:
    count = SegmentMembership.objects.filter(segment_id=segment_id).count()
    Segment.objects.filter(pk=segment_id).update(member_count=count, **extra)
    return count


def request_recompute(*, segment: Segment, trigger: str = "manual") -> SegmentRun:
    """Queue a full recompute; the run row exists at once (its id goes back to the caller)."""
    if not segment.is_dynamic:
        raise RecomputeNotAllowed("Static segments are frozen lists; they are not recomputed.")
    run = SegmentRun.objects.create(segment=segment, trigger=trigger[:20], status=RunStatus.QUEUED)

    def schedule():
        from .tasks import recompute_segment_task

        try:
            recompute_segment_task.delay(segment.pk, run_id=run.pk, trigger=trigger)
        except Exception:
            logger.warning("Could not queue recompute of segment %s; the schedule will retry.", segment.pk)

    transaction.on_commit(schedule)
    return run


def recompute_segment(*, segment: Segment, trigger: str, run: SegmentRun | None = None) -> SegmentRun:
    """Fully recompute a dynamic segment's membership in the database, atomically and exclusively.

    New members are inserted, gone ones deleted, each with its movement rows; the run records
    what changed. ``run`` is a queued run to complete (``request_recompute``); without one the
    run is recorded as the recompute commits. A failure rolls everything back and is recorded
    on the run.
    """
    if not segment.is_dynamic:
        raise RecomputeNotAllowed("Static segments are frozen lists; they are not recomputed.")
    settings = _recompute_settings()
    try:
        with transaction.atomic():
            segment, started = _lock_and_load(segment.pk, settings=settings)
            with connection.cursor() as cursor:
                done = _full_diff(cursor, segment, started, run=run, trigger=trigger)
                if done.removed:
                    _prune_descendants(cursor, segment, started)
            return done
    except Exception as exc:
        logger.exception("Recompute of segment %s failed", segment.pk)
        _record_run(run, segment=segment, trigger=trigger, status=RunStatus.FAILED, error=str(exc)[:2000])
        raise


def _record_run(run: SegmentRun | None, *, segment: Segment, trigger: str, **outcome) -> SegmentRun:
    """Complete the queued ``run`` with ``outcome``, or record a new finished run."""
    outcome.update(finished_at=timezone.now(), error=outcome.get("error", ""))
    if run is None:
        return SegmentRun.objects.create(segment=segment, trigger=trigger[:20], **outcome)
    SegmentRun.objects.filter(pk=run.pk).update(**outcome)
    for name, value in outcome.items():
        setattr(run, name, value)
    return run


def dependency_order(segments: Iterable[Segment]) -> list[Segment]:
    """Segments sorted so that parents and referenced segments come before their dependants."""
    from .validation import referenced_segments

    segments = list(segments)
    by_slug = {s.slug: s for s in segments}
    by_pk = {s.pk: s for s in segments}
    ordered: list[Segment] = []
    state: dict[int, int] = {}

    def visit(segment: Segment) -> None:
        if state.get(segment.pk) == 2:
            return
        if state.get(segment.pk) == 1:  # cycle (rejected on save); do not loop
            return
        state[segment.pk] = 1
        deps = [by_pk.get(segment.parent_id)] + [
            by_slug.get(ref) for ref, _ in referenced_segments(segment.rules)
        ]
        for dep in deps:
            if dep is not None:
                visit(dep)
        state[segment.pk] = 2
        ordered.append(segment)

    for segment in sorted(segments, key=lambda s: s.pk):
        visit(segment)
    return ordered


def refresh_customers(*, customer_ids: list[int], now=None) -> dict[int, tuple[int, int]]:
    """Incremental refresh: re-evaluate only these customers against every real-time segment.

    One set-based statement per segment (PostgreSQL), however many customers; returns
    {segment_id: (added, removed)}.
    """
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return {}
    segments = dependency_order(Segment.objects.filter(kind=SegmentKind.DYNAMIC, refresh=Refresh.REALTIME))
    now = now or timezone.now()
    cache: dict = {}  # channel and segment ids, looked up once for all the rules
    targets = []
    for segment in segments:
        try:
            targets.append((segment, _target_sql(segment, now=now, customer_ids=ids, cache=cache)))
        except InvalidRule:  # e.g. a referenced segment was deleted; the full run records it
            logger.warning("Segment %s has an invalid rule; incremental refresh skipped.", segment.pk)
    if not targets:
        return {}
    changes: dict[int, tuple[int, int]] = {}
    nested = connection.in_atomic_block
    settings = _recompute_settings(incremental=True)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute(f"DROP TABLE IF EXISTS {PARTIAL}")
            cursor.execute(f"CREATE TEMPORARY TABLE {PARTIAL} (customer_id bigint PRIMARY KEY)")
        # Dependency order, like recompute_segment (parents first), so the two never deadlock.
        previous = _lock(*(segment.pk for segment, _ in targets), settings=settings)
        for segment, target in targets:
            added, removed = _partial_diff(cursor, segment, now, ids, target)
            if added or removed:
                changes[segment.pk] = (added, removed)
            if removed:
                _prune_descendants(cursor, segment, now)
        if connection.vendor != "postgresql":
            cursor.execute(f"DROP TABLE {PARTIAL}")
        elif nested:  # hand the caller's transaction back with its own settings
            _lock(settings=dict(zip(settings, previous, strict=True)))
    return changes


def due_segments(*, now=None) -> list[Segment]:
    """Dynamic segments whose scheduled full recompute is due (real-time ones hourly too:
    relative time windows move without any customer changing)."""
    from datetime import timedelta

    now = now or timezone.now()
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(days=1)
    never = Q(last_computed_at__isnull=True)
    qs = Segment.objects.filter(kind=SegmentKind.DYNAMIC).filter(
        Q(refresh__in=[Refresh.HOURLY, Refresh.REALTIME], last_computed_at__lt=hour_ago)
        | Q(refresh=Refresh.DAILY, last_computed_at__lt=day_ago)
        | (never & ~Q(refresh=Refresh.MANUAL))
    )
    return dependency_order(qs.select_related("parent"))


def dependants(*, segment: Segment) -> list[Segment]:
    """Dynamic, non-manual segments that refine or reference ``segment``."""
    from .validation import referenced_segments

    others = (
        Segment.objects.filter(kind=SegmentKind.DYNAMIC)
        .exclude(refresh=Refresh.MANUAL)
        .exclude(pk=segment.pk)
    )
    return [
        other
        for other in others
        if other.parent_id == segment.pk
        or any(ref == segment.slug for ref, _ in referenced_segments(other.rules))
    ]


# --- static lists ---------------------------------------------------------------------------------


def _require_static(segment: Segment) -> None:
    if segment.is_dynamic:
        raise RecomputeNotAllowed("Members of a dynamic segment come from its rules; freeze it first.")


@transaction.atomic
def add_members(*, segment: Segment, customer_ids: Iterable[int], trigger: str = "manual") -> int:
    """Add customers to a static segment (merged profiles count as their survivor); returns how many."""
    _require_static(segment)
    _lock(segment.pk)
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return 0
    now = timezone.now()
    survivors = Customer.objects.filter(pk__in=ids).values_list("pk", "merged_into_id")
    wanted = sorted({merged or pk for pk, merged in survivors})
    present = set(
        SegmentMembership.objects.filter(segment=segment, customer_id__in=wanted).values_list(
            "customer_id", flat=True
        )
    )
    new = [pk for pk in wanted if pk not in present]
    SegmentMembership.objects.bulk_create(
        [SegmentMembership(segment=segment, customer_id=pk, since=now) for pk in new]
    )
    SegmentMovement.objects.bulk_create(
        [SegmentMovement(segment=segment, customer_id=pk, kind=MovementKind.ENTERED, at=now) for pk in new]
    )
    _record_list_edit(segment=segment, trigger=trigger, started_at=now, added=len(new))
    return len(new)


@transaction.atomic
def remove_members(*, segment: Segment, customer_ids: Iterable[int], trigger: str = "manual") -> int:
    _require_static(segment)
    _lock(segment.pk)
    ids = sorted({int(i) for i in customer_ids})
    now = timezone.now()
    gone = list(
        SegmentMembership.objects.filter(segment=segment, customer_id__in=ids).values_list(
            "customer_id", flat=True
        )
    )
    SegmentMovement.objects.bulk_create(
        [SegmentMovement(segment=segment, customer_id=pk, kind=MovementKind.EXITED, at=now) for pk in gone]
    )
    SegmentMembership.objects.filter(segment=segment, customer_id__in=gone).delete()
    _record_list_edit(segment=segment, trigger=trigger, started_at=now, removed=len(gone))
    return len(gone)


def _record_list_edit(
    *, segment: Segment, trigger: str, started_at, added: int = 0, removed: int = 0
) -> None:
    """Refresh the member count and record a static-list edit as a successful run."""
    count = _update_count(segment.pk, last_computed_at=started_at)
    SegmentRun.objects.create(
        segment=segment,
        trigger=trigger,
        status=RunStatus.SUCCEEDED,
        started_at=started_at,
        finished_at=timezone.now(),
        added=added,
        removed=removed,
        member_count=count,
    )


def _resolve_import_values(values: list[str]) -> tuple[set[int], list[str]]:
    """Customer ids for CSV values (ids or emails), in bulk; returns (ids, unmatched values)."""
    numeric = {v: int(v) for v in values if v.isdigit()}
    emails = {v: v.strip().lower() for v in values if v not in numeric and "@" in v}
    found_ids = set(Customer.objects.filter(pk__in=set(numeric.values())).values_list("pk", flat=True))
    by_email: dict[str, int] = {}
    email_values = sorted(set(emails.values()))
    for start in range(0, len(email_values), 500):
        chunk = email_values[start : start + 500]
        by_email.update(
            Identity.objects.filter(kind="email", value__in=chunk).values_list("value", "customer_id")
        )
        for email, pk in Customer.objects.filter(email__in=chunk).values_list("email", "pk"):
            by_email.setdefault(email.lower(), pk)
    ids: set[int] = set()
    unmatched: list[str] = []
    for value in values:
        if value in numeric and numeric[value] in found_ids:
            ids.add(numeric[value])
        elif value in emails and emails[value] in by_email:
            ids.add(by_email[emails[value]])
        else:
            unmatched.append(value)
    return ids, unmatched


MAX_IMPORT_ROWS = 100_000


def import_members_csv(*, segment: Segment, text: str) -> dict:
    """Add the customers listed in a CSV (one customer id or email per row; first column, or the
    ``customer_id`` / ``email`` column when there is a header) to a static segment."""
    _require_static(segment)
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise InvalidRule("The CSV file is empty.", field="file")
    column = 0
    header = [cell.strip().lower() for cell in rows[0]]
    if any(name in header for name in ("customer_id", "id", "email")):
        column = next(header.index(n) for n in ("customer_id", "id", "email") if n in header)
        rows = rows[1:]
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidRule(f"At most {MAX_IMPORT_ROWS} rows per import.", field="file")
    values = [row[column].strip() for row in rows if len(row) > column and row[column].strip()]
    ids, unmatched = _resolve_import_values(values)
    added = add_members(segment=segment, customer_ids=ids, trigger="import")
    return {
        "rows": len(values),
        "matched": len(ids),
        "added": added,
        "unmatched": unmatched[:20],
        "unmatched_count": len(unmatched),
    }


@transaction.atomic
def freeze_segment(*, segment: Segment, slug: str, name: str, actor=None) -> Segment:
    """Snapshot a segment's current members into a new static segment."""
    if Segment.objects.filter(slug=slug).exists():
        raise InvalidRule(f"A segment with slug {slug!r} already exists.", field="slug")
    now = timezone.now()
    frozen = Segment.objects.create(
        slug=slug,
        name=name,
        description=f"Snapshot of {segment.name} taken {now:%Y-%m-%d %H:%M} UTC.",
        purpose=segment.purpose,
        kind=SegmentKind.STATIC,
        refresh=Refresh.MANUAL,
        owner=actor if getattr(actor, "pk", None) else None,
        rules={},
        last_computed_at=now,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MEMBERSHIP} (segment_id, customer_id, since) "
            f"SELECT %s, customer_id, %s FROM {MEMBERSHIP} WHERE segment_id = %s",
            [frozen.pk, now, segment.pk],
        )
        added = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {MOVEMENT} (segment_id, customer_id, kind, at) "
            f"SELECT %s, customer_id, %s, %s FROM {MEMBERSHIP} WHERE segment_id = %s",
            [frozen.pk, MovementKind.ENTERED, now, frozen.pk],
        )
    count = _update_count(frozen.pk)
    SegmentRun.objects.create(
        segment=frozen,
        trigger="snapshot",
        status=RunStatus.SUCCEEDED,
        started_at=now,
        finished_at=timezone.now(),
        added=added,
        member_count=count,
    )
    frozen.refresh_from_db()
    return frozen
