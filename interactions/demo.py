"""Demo interactions: twelve months of activity on every channel, heavy-tailed per customer."""

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from customers.models import Customer

from .models import Channel, Direction, Interaction

# (type, channel codes, direction, has value, outcome choices)
KINDS = (
    ("page_view", ("web", "mobile_app"), Direction.INBOUND, False, ("",)),
    ("order_placed", ("web", "mobile_app", "store", "phone"), Direction.INBOUND, True, ("",)),
    ("email_sent", ("email",), Direction.OUTBOUND, False, ("",)),
    ("call", ("phone",), Direction.INBOUND, False, ("resolved", "escalated", "callback")),
    ("query", ("chat", "email", "phone", "whatsapp"), Direction.INBOUND, False, ("resolved", "pending")),
    (
        "complaint",
        ("phone", "email", "letter", "social"),
        Direction.INBOUND,
        False,
        ("resolved", "escalated", "pending"),
    ),
    ("sms_sent", ("sms",), Direction.OUTBOUND, False, ("",)),
    ("store_visit", ("store",), Direction.INBOUND, False, ("",)),
)
WEIGHTS = (30, 12, 20, 8, 10, 4, 8, 8)


@transaction.atomic
def seed(*, rng: random.Random, stdout) -> None:
    if Interaction.objects.filter(source="demo").exists():
        stdout.write("  interactions already present, skipped")
        return
    channels = {c.code: c for c in Channel.objects.all()}
    now = timezone.now()
    rows = []
    for customer in Customer.objects.prefetch_related("business_units").order_by("id"):
        units = list(customer.business_units.all())
        # Heavy tail: most customers are quiet, a few are very active.
        count = min(int(rng.paretovariate(1.3) * 4), 150)
        for _ in range(count):
            kind, codes, direction, has_value, outcomes = rng.choices(KINDS, WEIGHTS)[0]
            occurred = now - timedelta(days=rng.uniform(0, 365), minutes=rng.randint(0, 600))
            rows.append(
                Interaction(
                    customer=customer,
                    channel=channels[rng.choice(codes)],
                    direction=direction,
                    type=kind,
                    occurred_at=occurred,
                    source="demo",
                    external_id=f"demo-{len(rows)}",
                    business_unit=rng.choice(units) if units else None,
                    subject=kind.replace("_", " ").capitalize(),
                    summary=f"Demo {kind.replace('_', ' ')}",
                    outcome=rng.choice(outcomes),
                    value=Decimal(rng.randint(500, 25000)) / 100 if has_value else None,
                    currency="EUR" if has_value else "",
                    properties={"order_id": f"O-{len(rows)}"} if kind == "order_placed" else {},
                )
            )
    Interaction.objects.bulk_create(rows, batch_size=2000)
    stdout.write(f"  {len(rows)} interactions on {len(channels)} channels")
