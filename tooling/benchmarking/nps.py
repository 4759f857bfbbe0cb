"""(e) NPS by month and by segment: ``metrics.selectors.summary`` vs hand-written SQL.

On demand (``source="live"``) and from the rollups (after ``rebuild_all``), each against
one hand-written aggregate over the responses. The selector's response count is checked
against the query's; a difference is reported in the note.
"""

import time

from metrics.models import SurveyResponse
from metrics.selectors import summary
from metrics.services.rollups import rebuild_all

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


def run(bench: Run) -> None:
    reason = "" if SurveyResponse.objects.filter(kind="nps").exists() else "no NPS responses were generated"
    cases = [
        ("NPS by month (on demand)", "month", "live", BY_MONTH),
        ("NPS by month (rollups)", "month", "rollup", BY_MONTH),
        ("NPS by segment (on demand)", "segment", "live", BY_SEGMENT),
        ("NPS by segment (rollups)", "segment", "rollup", BY_SEGMENT),
    ]
    if reason:
        for name, *_ in cases:
            bench.skip(name, reason, "ms")
        return
    started = time.perf_counter()
    rebuild_all()
    rebuilt = f"rollups rebuilt in {time.perf_counter() - started:.1f} s"
    with baseline.raw_cursor() as cursor:
        for name, group_by, source, sql in cases:
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
