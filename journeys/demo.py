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
JOURNEYS_PER_KIND = 30


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
        for n in range(JOURNEYS_PER_KIND):
            customer_id = rng.choice(customers)
            # Most journeys finish, some stop part-way (they breach, stall or get abandoned).
            depth = len(steps) if rng.random() < 0.55 else rng.randint(1, len(steps) - 1)
            at = now - timedelta(days=rng.uniform(1, 80))
            reference = f"{kind[:1].upper()}D-{n:04d}"
            for index, (type_, direction, codes, extra) in enumerate(steps[:depth]):
                if index:
                    at += timedelta(hours=gaps[index - 1] * rng.uniform(0.3, 1.8))
                if at > now:
                    break
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
                        occurred_at=at + timedelta(hours=rng.uniform(1, 6)),
                        source=DEMO_SOURCE,
                        external_id=f"{reference}-call",
                        subject="Call about my question",
                        properties={key: reference},
                    )
                )
    Interaction.objects.bulk_create(rows, batch_size=1000)
    processed = 0
    for start in range(0, len(customers), 1000):
        processed += process_customers(customers[start : start + 1000]).interactions
    counts = detect_time_exceptions(now=now)
    stdout.write(
        f"  {len(rows)} journey interactions, {processed} processed; exceptions: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
