"""(e) NPS by month and by segment: ``metrics.selectors.summary`` vs hand-written SQL.

On demand (``source="live"``) and from the rollups (after ``rebuild_all``), each against
one hand-written aggregate over the responses. The selector's response count is checked
against the query's; a difference is reported in the note.
"""

import importlib
import time

from . import baseline
from .harness import Run, median

BY_MONTH = """
SELECT to_char(date_trunc('month', r.responded_at AT TIME ZONE 'UTC'), 'YYYY-MM') AS month,
       count(*) AS n,
       count(*) FILTER (WHERE r.score >= 9) AS promoters,
       count(*) FILTER (WHERE r.score <= 6) AS detractors
FROM metrics_surveyresponse r WHERE r.kind = 'nps' GROUP BY 1 ORDER BY 1
"""
BY_SEGMENT = """
SELECT s.slug, count(*) AS n,
       count(*) FILTER (WHERE r.score >= 9) AS promoters,
       count(*) FILTER (WHERE r.score <= 6) AS detractors
FROM metrics_surveyresponse r
JOIN segments_segmentmembership m ON m.customer_id = r.customer_id
JOIN segments_segment s ON s.id = m.segment_id
WHERE r.kind = 'nps' GROUP BY 1
"""


def _summary():
    try:
        selectors = importlib.import_module("metrics.selectors")
    except ImportError as exc:
        return None, f"metrics.selectors does not import ({exc})"
    func = getattr(selectors, "summary", None)
    if func is None:
        return None, "metrics.selectors.summary does not exist yet"
    return func, ""


def _rebuild():
    try:
        rollups = importlib.import_module("metrics.services.rollups")
    except ImportError:
        return None
    return getattr(rollups, "rebuild_all", None)


def run(bench: Run) -> None:
    from django.apps import apps

    summary, reason = _summary()
    if (
        summary is not None
        and not apps.get_model("metrics", "SurveyResponse").objects.filter(kind="nps").exists()
    ):
        summary, reason = None, "no NPS responses were generated"
    cases = [
        ("NPS by month (on demand)", "month", "live", BY_MONTH),
        ("NPS by month (rollups)", "month", "rollup", BY_MONTH),
        ("NPS by segment (on demand)", "segment", "live", BY_SEGMENT),
        ("NPS by segment (rollups)", "segment", "rollup", BY_SEGMENT),
    ]
    if summary is None:
        for name, *_ in cases:
            bench.skip(name, reason, "ms")
        return
    rebuild = _rebuild()
    rebuilt = ""
    if rebuild is not None:
        started = time.perf_counter()
        rebuild()
        rebuilt = f"rollups rebuilt in {time.perf_counter() - started:.1f} s"
    with baseline.raw_cursor() as cursor:
        for name, group_by, source, sql in cases:
            if source == "rollup" and rebuild is None:
                bench.skip(name, "metrics.services.rollups.rebuild_all does not exist yet", "ms")
                continue
            try:
                ours, data = [], None
                for _ in range(bench.scale.repeats + 1):
                    started = time.perf_counter()
                    data = summary(kind="nps", group_by=group_by, source=source)
                    ours.append(time.perf_counter() - started)
                hand = []
                for _ in range(bench.scale.repeats + 1):
                    started = time.perf_counter()
                    cursor.execute(sql)
                    rows = cursor.fetchall()
                    hand.append(time.perf_counter() - started)
            except Exception as exc:
                bench.skip(name, f"error: {type(exc).__name__}: {str(exc)[:150]}", "ms")
                continue
            expected = sum(r[1] for r in rows)
            got = sum(g["n"] for g in data["groups"])
            check = "same n" if got == expected else f"N DIFFERS: {got} vs {expected}"
            note = f"{len(rows)} groups, n={expected:,} ({check})"
            if source == "rollup" and rebuilt:
                note += f"; {rebuilt}"
            bench.add(name, median(ours[1:]) * 1000, median(hand[1:]) * 1000, "ms", note=note)
