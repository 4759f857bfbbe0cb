"""Demo segments: a macro-segment and a micro-segment refining it for each purpose, computed."""

import random

from django.db import transaction

from customers.models import Customer

from . import services
from .models import Purpose, Refresh, Segment, SegmentKind

# (slug, name, purpose, refresh, rules, parent slug)
DEMO_SEGMENTS = (
    (
        "premium-plans",
        "Plus and gold plans",
        Purpose.UP_SELL,
        Refresh.DAILY,
        {"attr": "attributes.plan", "op": "in", "value": ["plus", "gold"]},
        None,
    ),
    (
        "premium-frequent-buyers",
        "Premium plans buying often",
        Purpose.UP_SELL,
        Refresh.REALTIME,
        {"events": {"type": "order_placed", "within_days": 365}, "count": {"op": "gte", "value": 3}},
        "premium-plans",
    ),
    (
        "online-shoppers",
        "Online shoppers",
        Purpose.CROSS_SELL,
        Refresh.HOURLY,
        {"events": {"type": "order_placed", "channel": ["web", "mobile_app"], "within_days": 365}},
        None,
    ),
    (
        "online-only-shoppers",
        "Online shoppers who never visit a store",
        Purpose.CROSS_SELL,
        Refresh.DAILY,
        {"not": {"events": {"type": "store_visit"}}},
        "online-shoppers",
    ),
    (
        "at-risk",
        "At-risk customers",
        Purpose.RETENTION,
        Refresh.REALTIME,
        {
            "any": [
                {"attr": "lifecycle_stage", "op": "eq", "value": "at_risk"},
                {"events": {"type": "complaint", "within_days": 60}, "count": {"op": "gte", "value": 2}},
            ]
        },
        None,
    ),
    (
        "at-risk-reachable",
        "At risk and reachable by email",
        Purpose.RETENTION,
        Refresh.REALTIME,
        {"consent": {"channel": "email", "purpose": "marketing"}, "is": "granted"},
        "at-risk",
    ),
    (
        "lapsed",
        "Lapsed customers",
        Purpose.WIN_BACK,
        Refresh.DAILY,
        {
            "any": [
                {"attr": "lifecycle_stage", "op": "eq", "value": "lapsed"},
                {"attr": "last_seen_at", "op": "before_last_days", "value": 180},
            ]
        },
        None,
    ),
    (
        "lapsed-valuable",
        "Lapsed customers who spent over 200",
        Purpose.WIN_BACK,
        Refresh.DAILY,
        {"events": {"type": "order_placed"}, "sum": {"field": "value", "op": "gt", "value": 200}},
        "lapsed",
    ),
    (
        "recent-complainers",
        "Complained in the last 30 days",
        Purpose.LEAVE_ALONE,
        Refresh.REALTIME,
        {"events": {"type": "complaint", "within_days": 30}},
        None,
    ),
    (
        "recent-complainers-no-marketing",
        "Recent complainers not to be marketed to",
        Purpose.LEAVE_ALONE,
        Refresh.REALTIME,
        {"not": {"segment": "premium-frequent-buyers", "is": "member"}},
        "recent-complainers",
    ),
    (
        "prospects",
        "Leads and prospects",
        Purpose.ACQUISITION,
        Refresh.HOURLY,
        {"attr": "lifecycle_stage", "op": "in", "value": ["lead", "prospect"]},
        None,
    ),
    (
        "prospects-browsing",
        "Prospects browsing in the last 30 days",
        Purpose.ACQUISITION,
        Refresh.REALTIME,
        {"events": {"type": "page_view", "within_days": 30}},
        "prospects",
    ),
    (
        "heavy-service-users",
        "Heavy service users",
        Purpose.SERVICE,
        Refresh.DAILY,
        {"events": {"type": ["call", "query"], "within_days": 180}, "count": {"op": "gte", "value": 4}},
        None,
    ),
    (
        "heavy-service-telecom",
        "Heavy service users in telecom",
        Purpose.SERVICE,
        Refresh.DAILY,
        {"business_unit": "telecom"},
        "heavy-service-users",
    ),
)


@transaction.atomic
def seed(*, rng: random.Random, stdout) -> None:
    if Segment.objects.filter(slug=DEMO_SEGMENTS[0][0]).exists():
        stdout.write("  segments already present, skipped")
        return
    created: dict[str, Segment] = {}
    for slug, name, purpose, refresh, rules, parent in DEMO_SEGMENTS:
        segment = Segment(
            slug=slug,
            name=name,
            purpose=purpose,
            refresh=refresh,
            rules=rules,
            parent=created.get(parent),
            description=f"Demo {Purpose(purpose).label.lower()} segment.",
        )
        created[slug] = services.save_segment(segment=segment)
        services.recompute_segment(segment=created[slug], trigger="demo")
    panel = Segment.objects.create(
        slug="pilot-panel",
        name="Pilot panel (static list)",
        purpose=Purpose.OTHER,
        kind=SegmentKind.STATIC,
        refresh=Refresh.MANUAL,
        description="Hand-picked customers for the new service pilot.",
    )
    ids = list(Customer.objects.filter(merged_into__isnull=True).order_by("id").values_list("id", flat=True))
    services.add_members(segment=panel, customer_ids=rng.sample(ids, min(25, len(ids))), trigger="demo")
    counts = ", ".join(f"{s.slug} {s.member_count}" for s in Segment.objects.order_by("slug"))
    stdout.write(f"  {len(created) + 1} segments: {counts}")
