"""Everything that writes segments: definitions, recompute (full and incremental), static lists."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from customers.models import Customer, Identity
from customers.selectors import survivor_ids

from .compiler import segment_queryset
from .errors import InvalidRule, RecomputeNotAllowed, SegmentCycle
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
from .recompute import (
    PARTIAL,
    full_diff,
    lock,
    lock_and_load,
    partial_diff,
    partial_diff_many,
    prune_descendants,
    recompute_settings,
    record_run,
    target_sql,
    update_count,
)
from .validation import check_no_cycle, referenced_segments, stored_cycle, validate_rules

logger = logging.getLogger("cxhub.segments")

MEMBERSHIP = SegmentMembership._meta.db_table
MOVEMENT = SegmentMovement._meta.db_table

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


# One advisory lock for the whole segment graph (distinct from the per-segment recompute locks).
GRAPH_LOCK_KEY = 0x5E7 << 32  # recompute locks are 0x5E6 << 32 | segment id


def lock_segment_graph() -> None:
    """Serialise changes to the segment graph until the transaction ends (PostgreSQL).

    Two edits that each add one edge of a cycle (c → d and d → c) would otherwise both pass
    the cycle check, each before the other commits. SQLite's write transaction serialises them.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GRAPH_LOCK_KEY])


@transaction.atomic
def save_segment(*, segment: Segment, actor=None) -> Segment:
    """Validate and save a segment definition (new or changed), race-free against other edits:
    the cycle check and the save run under the graph lock, so the check sees every committed edge."""
    lock_segment_graph()
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


@transaction.atomic
def delete_segment(*, segment: Segment) -> None:

    lock_segment_graph()
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
    # A cycle through this segment needs an edge out of it: one without a parent or references
    # to other segments (most rules) skips reading the whole segment graph.
    depends = segment.parent_id is not None or any(True for _ in referenced_segments(segment.rules or {}))
    cycle = stored_cycle(segment.pk) if depends else None
    if cycle:
        message = "Segment references form a cycle: " + " → ".join(cycle) + "; not recomputed."
        logger.error("Recompute of segment %s refused: %s", segment.pk, message)
        record_run(run, segment=segment, trigger=trigger, status=RunStatus.FAILED, error=message)
        raise SegmentCycle(message)
    settings = recompute_settings()
    try:
        with transaction.atomic():
            segment, started = lock_and_load(segment.pk, settings=settings)
            if run is not None and not SegmentRun.objects.filter(pk=run.pk, status=RunStatus.QUEUED).exists():
                # Completed meanwhile by another delivery of the same task (redelivered or swept).
                return SegmentRun.objects.get(pk=run.pk)
            with connection.cursor() as cursor:
                done = full_diff(cursor, segment, started, run=run, trigger=trigger)
                if done.removed:
                    prune_descendants(cursor, segment, started)
            return done
    except Segment.DoesNotExist:  # deleted since the caller loaded it: nothing to record a run on
        raise
    except Exception as exc:
        logger.exception("Recompute of segment %s failed", segment.pk)
        record_run(run, segment=segment, trigger=trigger, status=RunStatus.FAILED, error=str(exc)[:2000])
        raise


# A queued run whose task has not finished after this long was lost (worker killed before
# re-delivery was possible, broker outage): the sweep queues it again.
STALE_RUN_AFTER = timedelta(minutes=10)


def requeue_stale_runs(*, now=None) -> int:
    """Queue again every run still ``queued`` after ``STALE_RUN_AFTER`` (one task per segment).

    Safe if the original task is only slow: a recompute holds the segment's lock and a second
    delivery finds the run completed and does nothing.
    """
    from .tasks import recompute_segment_task

    now = now or timezone.now()
    stale = (
        SegmentRun.objects.filter(status=RunStatus.QUEUED, created_at__lt=now - STALE_RUN_AFTER)
        .order_by("segment_id", "-id")
        .values_list("pk", "segment_id", "trigger")
    )
    seen: set[int] = set()
    queued = 0
    for run_id, segment_id, trigger in stale:
        if segment_id in seen:
            continue
        seen.add(segment_id)
        # Older queued runs of the segment are covered by this one.
        SegmentRun.objects.filter(segment_id=segment_id, status=RunStatus.QUEUED, pk__lt=run_id).update(
            status=RunStatus.FAILED, finished_at=now, error="Superseded by a later queued run (swept)."
        )
        try:
            recompute_segment_task.delay(segment_id, run_id=run_id, trigger=trigger)
            queued += 1
        except Exception:  # broker still down: the next sweep tries again
            logger.warning("Could not requeue run %s of segment %s", run_id, segment_id)
    return queued


def dependency_order(segments: Iterable[Segment]) -> list[Segment]:
    """Segments sorted so that parents and referenced segments come before their dependants."""

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

    PostgreSQL: one set-based statement per level of dependency between those segments (one
    for all of them when none refers to another), however many customers and segments; SQLite:
    statements per segment. Returns {segment_id: (added, removed)}.
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
            targets.append((segment, target_sql(segment, now=now, customer_ids=ids, cache=cache)))
        except InvalidRule:  # e.g. a referenced segment was deleted; the full run records it
            logger.warning("Segment %s has an invalid rule; incremental refresh skipped.", segment.pk)
    if not targets:
        return {}
    changes: dict[int, tuple[int, int]] = {}
    nested = connection.in_atomic_block
    settings = recompute_settings(incremental=True)
    postgres = connection.vendor == "postgresql"
    with transaction.atomic(), connection.cursor() as cursor:
        if not postgres:
            cursor.execute(f"DROP TABLE IF EXISTS {PARTIAL}")
            cursor.execute(f"CREATE TEMPORARY TABLE {PARTIAL} (customer_id bigint PRIMARY KEY)")
        # Dependency order, like recompute_segment (parents first), so the two never deadlock.
        previous = lock(*(segment.pk for segment, _ in targets), settings=settings)
        batches = dependency_levels(targets) if postgres else [[target] for target in targets]
        for batch in batches:
            if postgres:
                moved = partial_diff_many(cursor, batch, now, ids)
            else:
                (segment, target), *_ = batch
                moved = {segment.pk: partial_diff(cursor, segment, now, ids, target)}
            for segment, _ in batch:
                added, removed = moved.get(segment.pk, (0, 0))
                if added or removed:
                    changes[segment.pk] = (added, removed)
                if removed:  # before the next level, which may read the micro-segments
                    prune_descendants(cursor, segment, now)
        if not postgres:
            cursor.execute(f"DROP TABLE {PARTIAL}")
        elif nested:  # hand the caller's transaction back with its own settings
            lock(settings=dict(zip(settings, previous, strict=True)))
    return changes


def dependency_levels(items: list[tuple[Segment, object]]) -> list[list[tuple[Segment, object]]]:
    """``items`` ((segment, anything), in dependency order) grouped into levels: a segment comes
    one level after the last of the listed segments it refines or refers to, so no level holds
    a segment together with one it reads."""
    slugs = {segment.slug: segment.pk for segment, _ in items}
    level: dict[int, int] = {}
    levels: list[list[tuple[Segment, object]]] = []
    for item in items:
        segment = item[0]
        deps = {segment.parent_id, *(slugs.get(ref) for ref, _ in referenced_segments(segment.rules or {}))}
        at = max((level[dep] + 1 for dep in deps if dep in level), default=0)
        level[segment.pk] = at
        while len(levels) <= at:
            levels.append([])
        levels[at].append(item)
    return levels


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
    lock(segment.pk)
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return 0
    now = timezone.now()
    wanted = sorted(set(survivor_ids(ids).values()))
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
    lock(segment.pk)
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
    count = update_count(segment.pk, last_computed_at=started_at)
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
    count = update_count(frozen.pk)
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
