"""Demo journeys: the four shipped templates and a few dozen customers walking through them."""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from interactions.models import Channel, Interaction

from .services import detect_time_exceptions, load_journey_templates, process_customers

DEMO_SOURCE = "journeys-demo"

# (journey key property, [(type, direction, channel choices, extra properties)], hours between steps)
SCRIPTS = {
    "order": (
        "order_id",
        [
            ("order_placed", "inbound", ("web", "mobile_app", "store"), {}),
            ("payment_received", "inbound", ("web", "mobile_app"), {}),
            ("order_shipped", "outbound", ("email",), {}),
            ("order_delivered", "inbound", ("web",), {}),
            ("invoice_settled", "inbound", ("web",), {}),
        ],
        (2, 30, 60, 200),
    ),
    "problem": (
        "ticket_id",
        [
            ("problem_reported", "inbound", ("phone", "chat", "web"), {}),
            ("ticket_update", "outbound", ("email",), {"status": "diagnosed"}),
            ("ticket_update", "outbound", ("email",), {"status": "fix_scheduled"}),
            ("ticket_update", "outbound", ("sms",), {"status": "fixed"}),
            ("fix_confirmed", "inbound", ("phone", "web"), {}),
        ],
        (4, 20, 50, 30),
    ),
    "complaint": (
        "complaint_id",
        [
            ("complaint", "inbound", ("phone", "email", "letter", "social"), {}),
            ("complaint_acknowledged", "outbound", ("email",), {}),
            ("complaint_update", "outbound", ("email",), {"status": "investigated"}),
            ("complaint_update", "outbound", ("email",), {"status": "resolved"}),
            ("complaint_outcome_sent", "outbound", ("email", "letter"), {}),
        ],
        (10, 90, 50, 20),
    ),
    "query": (
        "query_id",
        [
            ("query", "inbound", ("chat", "web", "email", "whatsapp"), {}),
            ("query_answered", "outbound", ("email", "chat"), {}),
            ("query_confirmed", "inbound", ("chat", "web"), {}),
        ],
        (3, 40),
    ),
}
JOURNEY_OF_SCRIPT = {
    "order": "order-to-cash",
    "problem": "problem-to-fix",
    "complaint": "complaint-to-resolution",
    "query": "query-to-resolve",
}
JOURNEYS_PER_KIND = 30
# A believable business: most journeys finish well inside their SLAs, some are under way
# (inside the SLA of the stage they are in), a minority is stuck past its SLA.
SHARE_COMPLETE = 0.80
SHARE_UNDER_WAY = 0.12  # the rest (8%) is stuck
# Orders placed in the general demo history carry on to payment, shipping, delivery and
# settlement: nearly all finish, 3% get stuck.
SHARE_ORDERS_STUCK = 0.03


def _stage_slas(slug: str) -> list[float | None]:
    """Hours allowed in each stage of a journey, in order (None: no SLA)."""
    from .models import Stage

    return [
        sla.total_seconds() / 3600 if sla else None
        for sla in Stage.objects.filter(journey__slug=slug).order_by("position").values_list("sla", flat=True)
    ]


def _walk(steps, gaps, slas, rng: random.Random) -> tuple[int, list[float], float]:
    """(depth, hours between steps, hours since the last step) for one journey."""
    fate = rng.random()
    depth = len(steps) if fate < SHARE_COMPLETE else rng.randint(1, len(steps) - 1)
    hours = []
    for index in range(1, depth):
        allowed = slas[index - 1] if index - 1 < len(slas) and slas[index - 1] else None
        gap = gaps[index - 1] * rng.uniform(0.3, 1.2)
        hours.append(min(gap, 0.9 * allowed) if allowed else gap)
    current = slas[depth - 1] if depth - 1 < len(slas) else None
    if depth == len(steps) or current is None:
        since_last = rng.uniform(1, 60 * 24)  # finished: any time in the last two months
    elif fate < SHARE_COMPLETE + SHARE_UNDER_WAY:
        since_last = current * rng.uniform(0.05, 0.7)  # under way, inside the stage's SLA
    else:
        since_last = current * rng.uniform(1.3, 2.5)  # stuck: past the SLA, not yet stalled
    return depth, hours, since_last


def _follow_demo_orders(*, rng: random.Random, now, channels) -> list[Interaction]:
    """The steps after each order placed in the general demo history (one order id each)."""
    key, steps, gaps = SCRIPTS["order"]
    slas = _stage_slas(JOURNEY_OF_SCRIPT["order"])
    rows = []
    placed = Interaction.objects.filter(source="demo", type="order_placed").values_list(
        "customer_id", "occurred_at", "properties"
    )
    for customer_id, at, properties in placed.order_by("pk"):
        reference = (properties or {}).get(key)
        if not reference:
            continue
        depth = rng.randint(1, len(steps) - 1) if rng.random() < SHARE_ORDERS_STUCK else len(steps)
        for index in range(1, depth):
            allowed = slas[index - 1]
            gap = gaps[index - 1] * rng.uniform(0.3, 1.2)
            at += timedelta(hours=min(gap, 0.9 * allowed) if allowed else gap)
            if at > now:
                break  # under way, inside the SLA of the stage it is in
            type_, direction, codes, extra = steps[index]
            rows.append(
                Interaction(
                    customer_id=customer_id,
                    channel=channels[rng.choice(codes)],
                    direction=direction,
                    type=type_,
                    occurred_at=at,
                    source=DEMO_SOURCE,
                    external_id=f"{reference}-{index}",
                    subject=type_.replace("_", " ").capitalize(),
                    properties={key: reference, **extra},
                )
            )
    return rows


@transaction.atomic
def seed(*, rng: random.Random, stdout) -> None:
    outcomes = load_journey_templates()
    stdout.write("  templates: " + ", ".join(f"{o.slug} ({o.status})" for o in outcomes))
    if Interaction.objects.filter(source=DEMO_SOURCE).exists():
        stdout.write("  journey demo interactions already present, skipped")
        return
    customers = list(
        Customer.objects.filter(merged_into__isnull=True).order_by("id").values_list("id", flat=True)
    )
    if not customers:
        stdout.write("  no customers: run the customers demo first")
        return
    channels = {c.code: c for c in Channel.objects.all()}
    now = timezone.now()
    rows = []
    for kind, (key, steps, gaps) in SCRIPTS.items():
        slas = _stage_slas(JOURNEY_OF_SCRIPT[kind])
        for n in range(JOURNEYS_PER_KIND):
            customer_id = rng.choice(customers)
            depth, hours, since_last = _walk(steps, gaps, slas, rng)
            at = now - timedelta(hours=since_last + sum(hours))
            reference = f"{kind[:1].upper()}D-{n:04d}"
            for index, (type_, direction, codes, extra) in enumerate(steps[:depth]):
                if index:
                    at += timedelta(hours=hours[index - 1])
                rows.append(
                    Interaction(
                        customer_id=customer_id,
                        channel=channels[rng.choice(codes)],
                        direction=direction,
                        type=type_,
                        occurred_at=at,
                        source=DEMO_SOURCE,
                        external_id=f"{reference}-{index}",
                        subject=type_.replace("_", " ").capitalize(),
                        properties={key: reference, **extra},
                    )
                )
            if kind == "query" and depth == 1 and rng.random() < 0.5:
                # The customer gives up on chat and calls: a channel switch mid-stage.
                rows.append(
                    Interaction(
                        customer_id=customer_id,
                        channel=channels["phone"],
                        direction="inbound",
                        type="call",
                        occurred_at=min(at + timedelta(hours=rng.uniform(0.5, 3)), now),
                        source=DEMO_SOURCE,
                        external_id=f"{reference}-call",
                        subject="Call about my question",
                        properties={key: reference},
                    )
                )
    rows += _follow_demo_orders(rng=rng, now=now, channels=channels)
    Interaction.objects.bulk_create(rows, batch_size=1000)
    processed = 0
    for start in range(0, len(customers), 1000):
        processed += process_customers(customers[start : start + 1000]).interactions
    counts = detect_time_exceptions(now=now)
    stdout.write(
        f"  {len(rows)} journey interactions, {processed} processed; exceptions: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
