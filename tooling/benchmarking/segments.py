"""(d) Segment recompute: ``segments.services.recompute_segment`` vs hand-written SQL.

Five representative rules (issue 8). Each is recomputed once from empty (writing every
member and movement), then ``repeats`` more times; the steady-state median is compared
with the median time of a hand-written query computing the same set in the database
(``SELECT count(*) FROM (<query>)``, with the planner settings recompute uses), the two
timed alternately. The baseline only selects: it does not take the recompute lock, read the
current members, diff them, record the run or commit, which a recompute does every time (in
two statements and a commit), so the ratio counts that work against the recompute. The member
set is checked against the query's; any difference is reported in the note. Then the
incremental path: 1,000 dirty customers refreshed against 50 real-time segments
(``refresh_customers``). With ``--reuse-db`` the segments an earlier run made are deleted
first, so every rule fills from empty again.
"""

import random
import time
from datetime import timedelta

from django.utils import timezone

from interactions.models import Channel
from segments import models, services

from . import baseline
from .harness import Run, median

# (slug, name, rule, hand-written SQL). %(now)s is the recompute time; %(email)s the email channel id.
RULES = (
    (
        "bench-gold-active",
        "attribute filter (gold/platinum tier, active)",
        {
            "all": [
                {"attr": "attributes.tier", "op": "in", "value": ["gold", "platinum"]},
                {"attr": "lifecycle_stage", "op": "eq", "value": "active"},
            ]
        },
        """SELECT c.id FROM customers_customer c
           WHERE c.merged_into_id IS NULL AND c.lifecycle_stage = 'active'
             AND c.attributes ->> 'tier' IN ('gold', 'platinum')""",
    ),
    (
        "bench-orders-90d",
        ">= 3 orders in 90 days, any channel",
        {"events": {"type": "order_placed", "within_days": 90}, "count": {"op": "gte", "value": 3}},
        """SELECT c.id FROM customers_customer c
           JOIN (SELECT i.customer_id FROM interactions_interaction i
                 WHERE i.type = 'order_placed' AND i.occurred_at >= %(now)s - interval '90 days'
                 GROUP BY i.customer_id HAVING count(*) >= 3) o ON o.customer_id = c.id
           WHERE c.merged_into_id IS NULL""",
    ),
    (
        "bench-detractor-complaint",
        "NPS detractor with a complaint in 30 days",
        {
            "all": [
                {"survey": {"kind": "nps"}, "latest_category": "detractor"},
                {"events": {"type": "complaint", "within_days": 30}},
            ]
        },
        """SELECT c.id FROM customers_customer c
           WHERE c.merged_into_id IS NULL
             AND c.id IN (SELECT i.customer_id FROM interactions_interaction i
                          WHERE i.type = 'complaint' AND i.occurred_at >= %(now)s - interval '30 days')
             AND (SELECT r.score FROM metrics_surveyresponse r WHERE r.customer_id = c.id AND r.kind = 'nps'
                  ORDER BY r.responded_at DESC, r.id DESC LIMIT 1) <= 6""",
    ),
    (
        "bench-email-consent-quiet",
        "email marketing consent, no email sent in 60 days",
        {
            "all": [
                {"consent": {"channel": "email", "purpose": "marketing"}, "is": "granted"},
                {"not": {"events": {"channel": "email", "direction": "outbound", "within_days": 60}}},
            ]
        },
        """SELECT c.id FROM customers_customer c
           WHERE c.merged_into_id IS NULL
             AND (SELECT k.granted FROM customers_consent k
                  WHERE k.customer_id = c.id AND k.channel = 'email' AND k.purpose = 'marketing'
                  ORDER BY k.captured_at DESC, k.id DESC LIMIT 1)
             AND NOT EXISTS (SELECT 1 FROM interactions_interaction i
                             WHERE i.customer_id = c.id AND i.channel_id = %(email)s
                               AND i.direction = 'outbound'
                               AND i.occurred_at >= %(now)s - interval '60 days')""",
    ),
    (
        "bench-nested",
        "nested any/all with another segment",
        {
            "any": [
                {"segment": "bench-gold-active", "is": "member"},
                {
                    "all": [
                        {"business_unit": "telecom"},
                        {"events": {"type": "complaint", "within_days": 180}},
                    ]
                },
            ]
        },
        """SELECT c.id FROM customers_customer c
           WHERE c.merged_into_id IS NULL
             AND (c.id IN (SELECT m.customer_id FROM segments_segmentmembership m
                           JOIN segments_segment s ON s.id = m.segment_id WHERE s.slug = 'bench-gold-active')
                  OR (EXISTS (SELECT 1 FROM customers_customer_business_units b
                              JOIN customers_businessunit u ON u.id = b.businessunit_id
                              WHERE b.customer_id = c.id AND u.code = 'telecom')
                      AND EXISTS (SELECT 1 FROM interactions_interaction i
                                  WHERE i.customer_id = c.id AND i.type = 'complaint'
                                    AND i.occurred_at >= %(now)s - interval '180 days')))""",
    ),
)
INCREMENTAL_SEGMENTS = 50
INCREMENTAL_CUSTOMERS = 1000


def _make_segment(services, models, slug: str, name: str, rule: dict, refresh: str = "manual"):
    segment = models.Segment(slug=slug, name=name, rules=rule, kind="dynamic", refresh=refresh)
    save = getattr(services, "save_segment", None)
    return save(segment=segment) if save else (segment.save() or segment)


def run(bench: Run) -> None:
    email = Channel.objects.get(code="email").id
    if bench.reuse:
        _forget_earlier_runs(models)
    with baseline.raw_cursor() as cursor:
        # recompute_segment runs with JIT off (see segments.recompute.recompute_settings). The
        # hand-written queries get the same planner setting, so the ratio compares the query and
        # the recompute's own work, not the cost of JIT compilation on one side only.
        cursor.execute("SET jit = off")
        for slug, name, rule, sql in RULES:
            label = f"segment recompute: {name}"
            try:
                segment = _make_segment(services, models, slug, name, rule)
                first, _ = _recompute(services, segment)
                now = timezone.now()
                params = {"now": now, "email": email}
                _count(cursor, sql, params)  # warm-up, as the recompute's first run was
                # Alternately, so that a change of load on a shared machine weighs on both sides.
                steady, hand = [], []
                for _ in range(bench.scale.repeats):
                    steady.append(_recompute(services, segment)[0])
                    hand.append(_count(cursor, sql, params))
                cursor.execute(sql, params)
                expected = {row[0] for row in cursor.fetchall()}
            except Exception as exc:  # a rule the compiler rejects, a missing condition …
                bench.skip(label, f"error: {type(exc).__name__}: {str(exc)[:150]}", "ms")
                continue
            members = set(
                models.SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True)
            )
            same = "same set" if members == expected else f"SETS DIFFER: {len(members)} vs {len(expected)}"
            bench.add(
                label,
                median(steady) * 1000,
                median(hand) * 1000,
                "ms",
                note=f"{len(members):,} members ({same}); first run from empty {first * 1000:.0f} ms",
            )
    _incremental(bench, services, models)


def _forget_earlier_runs(models) -> None:
    """``--reuse-db``: drop the timed segments an earlier run made (their members, movements and
    runs with them), so every rule fills from empty again, then tidy the tables they leave dead
    rows in. The incremental benchmark's real-time segments stay (see ``_realtime_segment``)."""
    from django.db import connection

    earlier = models.Segment.objects.filter(slug__in=[slug for slug, *_ in RULES])
    if earlier.delete()[0]:
        with connection.cursor() as cursor:
            tables = (models.SegmentMembership, models.SegmentMovement, models.SegmentRun, models.Segment)
            for model in tables:
                cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")


def _count(cursor, sql: str, params: dict) -> float:
    """Seconds to run the hand-written query (its rows counted in the database)."""
    started = time.perf_counter()
    cursor.execute(f"SELECT count(*) FROM ({sql}) s", params)
    cursor.fetchone()
    return time.perf_counter() - started


def _recompute(services, segment) -> tuple[float, object]:
    started = time.perf_counter()
    run = services.recompute_segment(segment=segment, trigger="manual")
    return time.perf_counter() - started, run


def _incremental(bench: Run, services, models) -> None:
    label = f"segment incremental: {INCREMENTAL_CUSTOMERS:,} dirty × {INCREMENTAL_SEGMENTS} real-time"
    refresh = getattr(services, "refresh_customers", None)
    if refresh is None:
        bench.skip(label, "segments.services.refresh_customers does not exist yet", "s")
        return
    from customers.models import Customer

    try:
        for n, slug in enumerate(incremental_slugs()):
            _, name, rule, _ = RULES[n % len(RULES)]
            _realtime_segment(services, models, slug, f"{name} (rt {n})", _vary(rule, n))
        ids = list(Customer.objects.values_list("id", flat=True))
        dirty = random.Random(bench.seed).sample(ids, min(INCREMENTAL_CUSTOMERS, len(ids)))
        timings = []
        for _ in range(bench.scale.repeats):
            started = time.perf_counter()
            refresh(customer_ids=dirty, now=timezone.now() + timedelta(seconds=1))
            timings.append(time.perf_counter() - started)
    except Exception as exc:
        bench.skip(label, f"error: {type(exc).__name__}: {str(exc)[:150]}", "s")
        return
    bench.add(label, median(timings), None, "s", note="no raw baseline; target < 3 s, aim < 1 s")


def incremental_slugs() -> list[str]:
    """The slugs of the incremental benchmark's real-time segments (kept for ``--reuse-db``)."""
    return [f"{RULES[n % len(RULES)][0]}-rt{n}" for n in range(INCREMENTAL_SEGMENTS)]


def _realtime_segment(services, models, slug: str, name: str, rule: dict) -> None:
    """A filled real-time segment for the incremental benchmark. Filling 50 of them from empty
    is set-up, not what is timed (at 1M customers it takes longer than the rest of the segment
    benchmarks together), so a ``--reuse-db`` run keeps the ones an earlier run filled with
    the same rule."""
    kept = models.Segment.objects.filter(slug=slug, rules=rule, refresh="realtime").first()
    succeeded = models.SegmentRun.objects.filter(segment=kept, status=models.RunStatus.SUCCEEDED)
    if kept is not None and succeeded.exists():
        return
    models.Segment.objects.filter(slug=slug).delete()
    segment = _make_segment(services, models, slug, name, rule, "realtime")
    services.recompute_segment(segment=segment, trigger="manual")


def _vary(rule: dict, n: int) -> dict:
    """The same rule shape with a different window, so the 50 segments are not identical."""
    import json

    text = json.dumps(rule)
    for days in (90, 30, 60, 180):
        text = text.replace(f'"within_days": {days}', f'"within_days": {days + n}')
    return json.loads(text)
