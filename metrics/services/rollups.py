"""Daily rollups of response counts, kept current incrementally and rebuilt nightly.

``ResponseRollup`` holds one row per (survey, UTC day, channel, touchpoint, business unit,
score); ``SegmentRollup`` one per (segment, survey, day, score) by current membership.
Each rebuild deletes the affected cells and re-inserts them from one grouped query,
inside a transaction holding an advisory lock on PostgreSQL so two rebuilds never
interleave.

A dirty customer's refresh recounts only the cells of their responses received since the last
full rebuild (``RollupRebuild``), in the segments they belong to; without a rebuild on record,
every cell holding any of their responses. Membership moves are followed per segment:
``refresh_moved_segments`` (a beat task every five minutes) rebuilds the rollups of each
segment whose members moved since its rollups were last built. Recounting a mover's cells
customer by customer instead reads every answer of their segments on those days: after a
segment's first fill, 40 s per batch of 1,000 dirty customers on the large benchmark data.
"""

import logging
from datetime import UTC, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.db.models.functions import TruncDate
from django.utils import timezone

from segments.models import Segment, SegmentMembership, SegmentMovement

from ..models import ResponseRollup, RollupRebuild, SegmentRollup, SurveyResponse

logger = logging.getLogger("cxhub.metrics")

LOCK_KEY = 7_340_009  # arbitrary, fixed: the advisory lock every rollup writer takes
CELL_CHUNK = 200
# A response received (or a movement recorded) this long before a rebuild started may have
# been committed only after the rebuild read the table: the incremental refresh counts it too.
# Far longer than any transaction that writes them (an ingest batch takes seconds).
REBUILD_MARGIN = timedelta(minutes=10)


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _utc_day(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"(({column}) AT TIME ZONE 'UTC')::date"
    return f"date({column})"  # SQLite keeps datetimes as UTC text


@transaction.atomic
def rebuild_rollups() -> int:
    """Recompute every response rollup cell in the database (one INSERT … SELECT); returns the cell count."""
    _lock()
    ResponseRollup.objects.all().delete()
    rollup, response = ResponseRollup._meta.db_table, SurveyResponse._meta.db_table
    keys = f"survey_id, kind, {_utc_day('responded_at')}, channel_id, touchpoint, business_unit_id, score"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {rollup} "
            "(survey_id, kind, day, channel_id, touchpoint, business_unit_id, score, count) "
            f"SELECT {keys}, COUNT(*) FROM {response} GROUP BY {keys}"
        )
    return ResponseRollup.objects.count()


def _day_range(day) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _counted_before() -> datetime | None:
    """Responses received before this are in the rollups already (None: no full rebuild on record)."""
    full = RollupRebuild.objects.filter(segment_id__isnull=True).order_by("-started_at")
    started = full.values_list("started_at", flat=True).first()
    return None if started is None else started - REBUILD_MARGIN


@transaction.atomic
def refresh_rollups_for_customers(customer_ids: list[int]) -> int:
    """Recompute the (survey, day) cells holding a response of these customers received since
    the last rebuild (any response, without one); returns the cells written."""
    answered = _answered_cells(customer_ids, _counted_before()) if customer_ids else {}
    pairs = sorted(set().union(*answered.values()))
    if not pairs:
        return 0
    _lock()
    return _recount_response_cells(pairs)


@transaction.atomic
def rebuild_segment_rollups(*, segment_ids: list[int] | None = None) -> int:
    """Recompute segment rollups (all segments, or only ``segment_ids``) from current memberships."""
    _lock()
    stale = SegmentRollup.objects.all()
    where, params = "", []
    if segment_ids is not None:
        if not segment_ids:
            return 0
        stale = stale.filter(segment_id__in=segment_ids)
        where = f"WHERE m.segment_id IN ({', '.join(['%s'] * len(segment_ids))})"
        params = list(segment_ids)
    stale.delete()
    rollup, response = SegmentRollup._meta.db_table, SurveyResponse._meta.db_table
    day = _utc_day("r.responded_at")
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {rollup} (segment_id, survey_id, kind, day, score, count) "
            f"SELECT m.segment_id, r.survey_id, r.kind, {day}, r.score, COUNT(*) FROM {response} r "
            f"JOIN {SegmentMembership._meta.db_table} m ON m.customer_id = r.customer_id {where} "
            f"GROUP BY m.segment_id, r.survey_id, r.kind, {day}, r.score",
            params,
        )
    return (
        SegmentRollup.objects.filter(segment_id__in=segment_ids) if segment_ids else SegmentRollup.objects
    ).count()


@transaction.atomic
def refresh_segment_rollups_for_customers(customer_ids: list[int]) -> int:
    """Recompute, in every segment these customers belong to, the (survey, day) cells of their
    responses received since the last full rebuild (all their responses, without one); returns
    the cells written. Membership moves are ``refresh_moved_segments``'s; an answer deleted is
    corrected by the nightly rebuild.
    """
    if not customer_ids:
        return 0
    answered = _answered_cells(customer_ids, _counted_before())
    cells: set[tuple[int, int, object]] = set()
    if answered:
        memberships = SegmentMembership.objects.filter(customer_id__in=sorted(answered))
        for segment_id, customer_id in memberships.values_list("segment_id", "customer_id"):
            cells.update((segment_id, survey_id, day) for survey_id, day in answered[customer_id])
    if not cells:
        return 0
    _lock()
    return _recount_segment_cells(sorted(cells))


def refresh_moved_segments() -> list[int]:
    """Rebuild the rollups of every segment whose members moved (entered or left) since its
    rollups were last built, in full or on its own; returns those segments' ids. A segment
    never built since it was made is rebuilt if it has members."""
    full = RollupRebuild.objects.filter(segment_id__isnull=True).aggregate(at=Max("started_at"))["at"]
    own = dict(
        RollupRebuild.objects.filter(segment_id__isnull=False)
        .values("segment_id")
        .annotate(at=Max("started_at"))
        .values_list("segment_id", "at")
    )
    moved = []
    for segment_id in Segment.objects.order_by("pk").values_list("pk", flat=True):
        built = max((at for at in (full, own.get(segment_id)) if at is not None), default=None)
        if built is None:
            changed = SegmentMembership.objects.filter(segment_id=segment_id).exists()
        else:
            changed = SegmentMovement.objects.filter(
                segment_id=segment_id, at__gte=built - REBUILD_MARGIN
            ).exists()
        if changed:
            moved.append(segment_id)
    for segment_id in moved:
        started = timezone.now()
        cells = rebuild_segment_rollups(segment_ids=[segment_id])
        RollupRebuild.objects.create(
            segment_id=segment_id,
            started_at=started,
            finished_at=timezone.now(),
            cells=0,
            segment_cells=cells,
        )
    return moved


def _answered_cells(customer_ids: list[int], received_since: datetime | None = None) -> dict[int, set]:
    """{customer id: {(survey, UTC day)}} of these customers' responses (received since
    ``received_since``, when given)."""
    responses = SurveyResponse.objects.filter(customer_id__in=customer_ids)
    if received_since is not None:
        responses = responses.filter(received_at__gte=received_since)
    answered: dict[int, set] = {}
    rows = (
        responses.annotate(day=TruncDate("responded_at", tzinfo=UTC))
        .values_list("customer_id", "survey_id", "day")
        .order_by()
    )
    for customer_id, survey_id, day in rows.distinct():
        answered.setdefault(customer_id, set()).add((survey_id, day))
    return answered


def _cell_values(cells: list[tuple]) -> tuple[str, list]:
    """Cells ``(*keys, day)`` as a VALUES list and its parameters: columns ``column1`` … the keys,
    then the day, then the day's UTC start and end (the bounds its responses' index reads)."""
    ops = connection.ops
    params = []
    for *keys, day in cells:
        lower, upper = _day_range(day)
        params += [
            *keys,
            ops.adapt_datefield_value(day),
            ops.adapt_datetimefield_value(lower),
            ops.adapt_datetimefield_value(upper),
        ]
    row = "(" + ", ".join(["%s"] * (len(cells[0]) + 2)) + ")"
    return "VALUES " + ", ".join([row] * len(cells)), params


def _recount(cells: list[tuple], *, delete: str, insert: str, in_cell: str, columns: str) -> int:
    """Delete and recount ``cells`` per chunk: one DELETE and one INSERT … SELECT joined with the
    cells as a VALUES list. ``in_cell`` matches a response ``r`` to its ``cell``; ``columns`` are
    what the cell's answers give the INSERT (read through a LATERAL subquery on PostgreSQL)."""
    response = SurveyResponse._meta.db_table
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(cells), CELL_CHUNK):
            values, params = _cell_values(cells[start : start + CELL_CHUNK])
            # VALUES columns are column1 … on PostgreSQL and SQLite alike. PostgreSQL reads each
            # cell's responses through the (survey, responded_at) index: joined plainly it hashes
            # the cells on the survey alone and matches every response of the survey.
            if connection.vendor == "postgresql":
                answers = (
                    f"FROM ({values}) cell CROSS JOIN LATERAL "
                    f"(SELECT {columns} FROM {response} r WHERE {in_cell} OFFSET 0) r"
                )
            else:  # SQLite joins row by row anyway, and has no LATERAL
                answers = f"FROM ({values}) cell JOIN {response} r ON {in_cell}"
            cursor.execute(delete.format(cells=f"({values}) cell"), params)
            cursor.execute(insert.format(answers=answers), params)
            written += cursor.rowcount
    return written


def _recount_response_cells(cells: list[tuple[int, object]]) -> int:
    """Delete and recount these (survey, UTC day) cells of the response rollups, in SQL (building
    the rows in Python cost 20 s of CPU per 1,000 dirty customers with no rebuild on record)."""
    rollup = ResponseRollup._meta.db_table
    keys = "r.survey_id, r.kind, cell.column2, r.channel_id, r.touchpoint, r.business_unit_id, r.score"
    return _recount(
        cells,
        delete=f"DELETE FROM {rollup} WHERE (survey_id, day) IN (SELECT column1, column2 FROM {{cells}})",
        insert=(
            f"INSERT INTO {rollup} "
            "(survey_id, kind, day, channel_id, touchpoint, business_unit_id, score, count) "
            f"SELECT {keys}, COUNT(*) {{answers}} GROUP BY {keys}"
        ),
        in_cell=(
            "r.survey_id = cell.column1 AND r.responded_at >= cell.column3 AND r.responded_at < cell.column4"
        ),
        columns="r.survey_id, r.kind, r.channel_id, r.touchpoint, r.business_unit_id, r.score",
    )


def _recount_segment_cells(cells: list[tuple[int, int, object]]) -> int:
    """Delete and recount these (segment, survey, UTC day) cells from current memberships (each
    cell reads its survey's responses of that day and probes their authors' membership)."""
    rollup, membership = SegmentRollup._meta.db_table, SegmentMembership._meta.db_table
    keys = "cell.column1, r.survey_id, r.kind, cell.column3, r.score"
    return _recount(
        cells,
        delete=(
            f"DELETE FROM {rollup} WHERE (segment_id, survey_id, day) IN "
            "(SELECT column1, column2, column3 FROM {cells})"
        ),
        insert=(
            f"INSERT INTO {rollup} (segment_id, survey_id, kind, day, score, count) "
            f"SELECT {keys}, COUNT(*) {{answers}} GROUP BY {keys}"
        ),
        in_cell=(
            "r.survey_id = cell.column2 AND r.responded_at >= cell.column4 AND r.responded_at < cell.column5 "
            f"AND EXISTS (SELECT 1 FROM {membership} m WHERE m.segment_id = cell.column1 "
            "AND m.customer_id = r.customer_id)"
        ),
        columns="r.survey_id, r.kind, r.score",
    )


def rebuild_all() -> dict:
    """Rebuild both kinds of rollup and record it (the dirty-customer refresh counts from it)."""
    started = timezone.now()
    outcome = {"cells": rebuild_rollups(), "segment_cells": rebuild_segment_rollups()}
    RollupRebuild.objects.create(started_at=started, finished_at=timezone.now(), **outcome)
    return outcome
