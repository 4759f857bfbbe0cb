"""Reads for metrics: NPS / CES / CSAT over a period and a grouping, live or from rollups.

Every summary is one grouped SQL query returning (group, score, count) rows — at most
groups × scale points rows whatever the number of responses — folded in Python through
the pure functions in ``metrics.scores``. Segment groupings add one query for the
overall figure (a customer may sit in several segments).
"""

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate, TruncMonth, TruncWeek
from django.utils.dateparse import parse_date

from cxhub.errors import DomainError
from cxhub.timeparse import parse_instant
from journeys.models import JourneyTransition
from segments.models import Segment, SegmentMembership

from . import scores
from .models import ResponseRollup, SegmentRollup, Survey, SurveyResponse

KINDS = ("nps", "ces", "csat")
GROUPINGS = ("segment", "channel", "touchpoint", "business_unit", "survey", "journey", "day", "week", "month")
LIVE_ONLY_GROUPINGS = ("journey",)
SOURCES = ("live", "rollup")


def parse_bound(value: str | None, *, field: str, end: bool = False) -> datetime | None:
    """A date or ISO datetime from the query string; a bare ``until`` date includes that whole day."""
    if not value:
        return None
    try:
        day = parse_date(value)
    except ValueError:
        day = None
    if day is None:
        return parse_instant(value, field=field, allow_date=False)
    if not 1 <= day.year <= 9998:
        raise DomainError(f"{field}: {value!r} is out of range.", field=field)
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def summary(
    *,
    kind: str,
    survey_ids: list[int] | None = None,
    group_by: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    source: str = "live",
) -> dict:
    """``{"overall": {...}, "groups": [{"group": key, ...}, ...]}`` for one survey kind.

    ``since`` is inclusive and ``until`` exclusive (``parse_bound`` turns a date into the
    end of that day). ``source="rollup"`` reads the daily rollups: bounds count in whole
    UTC days there.
    """
    if kind not in KINDS:
        raise DomainError(f"Unknown metric {kind!r}.", field="kind")
    if group_by and group_by not in GROUPINGS:
        raise DomainError(f"group_by must be one of {', '.join(GROUPINGS)}.", field="group_by")
    if source not in SOURCES:
        raise DomainError("source must be live or rollup.", field="source")
    if source == "rollup" and group_by in LIVE_ONLY_GROUPINGS:
        raise DomainError(f"group_by={group_by} is computed live only.", field="group_by")
    if source == "rollup":
        overall, groups = _from_rollups(kind, survey_ids, group_by, since, until)
    else:
        overall, groups = _live(kind, survey_ids, group_by, since, until)
    return {
        "overall": scores.summarise(kind, overall).as_dict(),
        "groups": [
            {"group": key, **scores.summarise(kind, dist).as_dict()}
            for key, dist in sorted(groups.items(), key=lambda item: (item[0] is None, str(item[0])))
        ],
    }


def check_surveys(*, kind: str, survey_ids: list[int]) -> None:
    found = dict(Survey.objects.filter(pk__in=survey_ids).values_list("pk", "kind"))
    for survey_id in survey_ids:
        if survey_id not in found:
            raise DomainError(f"Survey {survey_id} does not exist.", field="survey", code="not_found")
        if found[survey_id] != kind:
            raise DomainError(f"Survey {survey_id} is a {found[survey_id].upper()} survey.", field="survey")


def _period(expr_field: str, group_by: str, is_date: bool):
    if group_by == "month":
        return TruncMonth(expr_field, tzinfo=None if is_date else UTC)
    if group_by == "week":
        return TruncWeek(expr_field, tzinfo=None if is_date else UTC)
    return TruncDate(expr_field, tzinfo=UTC) if not is_date else None


LIVE_DIMENSIONS = {
    "channel": "channel__code",
    "touchpoint": "touchpoint",
    "business_unit": "business_unit__code",
    "survey": "survey_id",
}


def _label(group_by: str, key):
    if key is None:
        return None
    if group_by == "month":
        return f"{key:%Y-%m}"
    if group_by in ("week", "day"):
        return (key.date() if isinstance(key, datetime) else key).isoformat()
    return key


def _fold(rows, group_by: str) -> tuple[dict, dict]:
    overall: dict[int, int] = defaultdict(int)
    groups: dict = defaultdict(lambda: defaultdict(int))
    for key, score, count in rows:
        overall[score] += count
        groups[_label(group_by, key)][score] += count
    return overall, groups


def _response_filter(kind, survey_ids, since, until, prefix: str = "") -> Q:
    q = Q(**{f"{prefix}kind": kind})
    if survey_ids:
        q &= Q(**{f"{prefix}survey_id__in": survey_ids})
    if since:
        q &= Q(**{f"{prefix}responded_at__gte": since})
    if until:
        q &= Q(**{f"{prefix}responded_at__lt": until})
    return q


def _live(kind, survey_ids, group_by, since, until) -> tuple[dict, dict]:
    responses = SurveyResponse.objects.filter(_response_filter(kind, survey_ids, since, until))
    if not group_by:
        rows = responses.values_list("score").annotate(n=Count("id")).order_by()
        return dict(rows), {}
    if group_by == "segment":
        rows = _live_segment_rows(kind, survey_ids, since, until)
        _, groups = _fold(rows, group_by)
        overall = dict(responses.values_list("score").annotate(n=Count("id")).order_by())
        return overall, groups
    if group_by == "journey":
        rows = (
            responses.annotate(journey=_journey_of_prompt())
            .values_list("journey", "score")
            .annotate(n=Count("id"))
            .order_by()
        )
    elif group_by in LIVE_DIMENSIONS:
        key = LIVE_DIMENSIONS[group_by]
        rows = responses.values_list(key, "score").annotate(n=Count("id")).order_by()
    else:
        rows = (
            responses.annotate(period=_period("responded_at", group_by, is_date=False))
            .values_list("period", "score")
            .annotate(n=Count("id"))
            .order_by()
        )
    return _fold(rows, group_by)


def _journey_of_prompt():
    """The slug of the journey the response's prompting interaction moved (None when none did)."""
    return Subquery(
        JourneyTransition.objects.filter(interaction_id=OuterRef("prompted_by_id"))
        .order_by("at", "id")
        .values("instance__journey__slug")[:1]
    )


def _live_segment_rows(kind, survey_ids, since, until) -> list[tuple[str, int, int]]:
    """(segment slug, score, count): responses joined to memberships on customer_id directly.

    Written in SQL because the ORM would route the join through the customers table; with
    the (kind, customer, score, responded_at, survey) index PostgreSQL answers from the
    index alone.
    """
    where, params = ["r.kind = %s"], [kind]
    if survey_ids:
        where.append(f"r.survey_id IN ({', '.join(['%s'] * len(survey_ids))})")
        params.extend(survey_ids)
    if since:
        where.append("r.responded_at >= %s")
        params.append(since)
    if until:
        where.append("r.responded_at < %s")
        params.append(until)
    sql = (
        f"SELECT m.segment_id, r.score, COUNT(*) FROM {SurveyResponse._meta.db_table} r "
        f"JOIN {SegmentMembership._meta.db_table} m ON m.customer_id = r.customer_id "
        f"WHERE {' AND '.join(where)} GROUP BY m.segment_id, r.score"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    slugs = dict(Segment.objects.filter(pk__in={r[0] for r in rows}).values_list("pk", "slug"))
    return [(slugs[segment_id], score, n) for segment_id, score, n in rows if segment_id in slugs]


def _rollup_filter(kind, survey_ids, since, until) -> Q:
    q = Q(kind=kind)
    if survey_ids:
        q &= Q(survey_id__in=survey_ids)
    if since:
        q &= Q(day__gte=since.astimezone(UTC).date())
    if until:
        last = until.astimezone(UTC)
        # ``until`` is exclusive: a midnight bound stops the day before.
        q &= Q(day__lt=last.date()) if last.time() == time.min else Q(day__lte=last.date())
    return q


def _from_rollups(kind, survey_ids, group_by, since, until) -> tuple[dict, dict]:
    cells = ResponseRollup.objects.filter(_rollup_filter(kind, survey_ids, since, until))
    if not group_by:
        rows = cells.values_list("score").annotate(n=Sum("count")).order_by()
        return dict(rows), {}
    if group_by == "segment":
        rows = list(
            SegmentRollup.objects.filter(_rollup_filter(kind, survey_ids, since, until))
            .values_list("segment_id", "score")
            .annotate(n=Sum("count"))
            .order_by()
        )
        slugs = dict(Segment.objects.filter(pk__in={r[0] for r in rows}).values_list("pk", "slug"))
        _, groups = _fold(((slugs.get(seg), s, n) for seg, s, n in rows if seg in slugs), group_by)
        overall = dict(cells.values_list("score").annotate(n=Sum("count")).order_by())
        return overall, groups
    if group_by in LIVE_DIMENSIONS:
        rows = cells.values_list(LIVE_DIMENSIONS[group_by], "score").annotate(n=Sum("count")).order_by()
    elif group_by == "day":
        rows = cells.values_list("day", "score").annotate(n=Sum("count")).order_by()
    else:
        rows = (
            cells.annotate(period=_period("day", group_by, is_date=True))
            .values_list("period", "score")
            .annotate(n=Sum("count"))
            .order_by()
        )
    return _fold(rows, group_by)


def trend(
    *, kind: str, months: int = 12, survey_ids: list[int] | None = None, today: date | None = None
) -> list:
    """Monthly results for the last ``months`` months (oldest first), empty months included."""
    today = today or datetime.now(UTC).date()
    first = date(today.year, today.month, 1)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    data = summary(kind=kind, survey_ids=survey_ids, group_by="month", since=since)
    by_month = {g["group"]: g for g in data["groups"]}
    points, month = [], first
    for _ in range(months):
        label = f"{month:%Y-%m}"
        points.append(by_month.get(label) or {"group": label, **scores.summarise(kind, {}).as_dict()})
        month = (month + timedelta(days=32)).replace(day=1)
    return points
