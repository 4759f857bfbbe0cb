"""Daily rollups of response counts, kept current incrementally and rebuilt nightly.

``ResponseRollup`` holds one row per (survey, UTC day, channel, touchpoint, business unit,
score); ``SegmentRollup`` one per (segment, survey, day, score) by current membership.
Each rebuild deletes the affected cells and re-inserts them from one grouped query,
inside a transaction holding an advisory lock on PostgreSQL so two rebuilds never
interleave.
"""

import logging
from datetime import UTC, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate

from segments.models import SegmentMembership

from ..models import ResponseRollup, SegmentRollup, SurveyResponse

logger = logging.getLogger("cxhub.metrics")

LOCK_KEY = 7_340_009  # arbitrary, fixed: the advisory lock every rollup writer takes
BATCH = 5000
CELL_CHUNK = 200


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _grouped_cells(responses) -> list[ResponseRollup]:
    rows = (
        responses.annotate(day=TruncDate("responded_at", tzinfo=UTC))
        .values_list("survey_id", "kind", "day", "channel_id", "touchpoint", "business_unit_id", "score")
        .annotate(n=Count("id"))
        .order_by()
    )
    return [
        ResponseRollup(
            survey_id=survey_id,
            kind=kind,
            day=day,
            channel_id=channel_id,
            touchpoint=touchpoint,
            business_unit_id=unit_id,
            score=score,
            count=n,
        )
        for survey_id, kind, day, channel_id, touchpoint, unit_id, score, n in rows.iterator(chunk_size=BATCH)
    ]


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


def _touched_cells(customer_ids: list[int]) -> list[tuple[int, object]]:
    """(survey, UTC day) pairs holding any response of these customers."""
    return sorted(
        set(
            SurveyResponse.objects.filter(customer_id__in=customer_ids)
            .annotate(day=TruncDate("responded_at", tzinfo=UTC))
            .values_list("survey_id", "day")
            .distinct()
        )
    )


def _cell_filters(chunk, response_prefix: str = "") -> tuple[Q, Q]:
    cell_q, response_q = Q(), Q()
    for survey_id, day in chunk:
        cell_q |= Q(survey_id=survey_id, day=day)
        lower, upper = _day_range(day)
        response_q |= Q(
            **{
                f"{response_prefix}survey_id": survey_id,
                f"{response_prefix}responded_at__gte": lower,
                f"{response_prefix}responded_at__lt": upper,
            }
        )
    return cell_q, response_q


@transaction.atomic
def refresh_rollups_for_customers(customer_ids: list[int]) -> int:
    """Recompute the (survey, day) cells holding any response of these customers."""
    pairs = _touched_cells(customer_ids) if customer_ids else []
    if not pairs:
        return 0
    _lock()
    written = 0
    for start in range(0, len(pairs), CELL_CHUNK):
        cell_q, response_q = _cell_filters(pairs[start : start + CELL_CHUNK])
        ResponseRollup.objects.filter(cell_q).delete()
        cells = _grouped_cells(SurveyResponse.objects.filter(response_q))
        ResponseRollup.objects.bulk_create(cells, batch_size=BATCH)
        written += len(cells)
    return written


def _segment_cells(members) -> list[SegmentRollup]:
    rows = (
        members.annotate(day=TruncDate("customer__survey_responses__responded_at", tzinfo=UTC))
        .values_list(
            "segment_id",
            "customer__survey_responses__survey_id",
            "customer__survey_responses__kind",
            "day",
            "customer__survey_responses__score",
        )
        .annotate(n=Count("customer__survey_responses__id"))
        .order_by()
    )
    return [
        SegmentRollup(segment_id=seg, survey_id=survey_id, kind=kind, day=day, score=score, count=n)
        for seg, survey_id, kind, day, score, n in rows.iterator(chunk_size=BATCH)
    ]


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
    """Recompute, in the segments these customers belong to, the (survey, day) cells they answered in.

    A customer who joined a segment brings all their answers in; one who left it, or an
    answer deleted, is corrected by the nightly rebuild.
    """
    if not customer_ids:
        return 0
    segment_ids = sorted(
        set(
            SegmentMembership.objects.filter(customer_id__in=customer_ids).values_list(
                "segment_id", flat=True
            )
        )
    )
    pairs = _touched_cells(customer_ids) if segment_ids else []
    if not pairs:
        return 0
    _lock()
    written = 0
    for start in range(0, len(pairs), CELL_CHUNK):
        cell_q, response_q = _cell_filters(pairs[start : start + CELL_CHUNK], "customer__survey_responses__")
        SegmentRollup.objects.filter(cell_q, segment_id__in=segment_ids).delete()
        members = SegmentMembership.objects.filter(segment_id__in=segment_ids).filter(response_q)
        cells = _segment_cells(members)
        SegmentRollup.objects.bulk_create(cells, batch_size=BATCH)
        written += len(cells)
    return written


def rebuild_all() -> dict:
    return {"cells": rebuild_rollups(), "segment_cells": rebuild_segment_rollups()}
