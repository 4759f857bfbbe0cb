"""Demo interactions: twelve months of activity on every channel, heavy-tailed per customer, and
two years of purchase histories shaped like real repeat buying (each customer buys at their own
rate until they quietly stop, and spends around their own typical order value)."""

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
WEIGHTS = (30, 0, 20, 8, 10, 4, 8, 8)  # orders come from the purchase histories below
ORDER_CHANNELS = ("web", "web", "mobile_app", "store", "phone")
BUYER_SHARE = 0.8
HISTORY_DAYS = 730


def _purchases(customer_id: int, rng: random.Random, now) -> list[tuple]:
    """(time, value) of one customer's orders: Poisson buying at a personal rate (Gamma across
    customers), dropping out after each repeat order with a personal probability (Beta), order
    values Gamma-distributed around a personal typical value (Gamma across customers)."""
    if rng.random() > BUYER_SHARE:
        return []
    per_week = rng.gammavariate(0.9, 1 / 4.0)  # about one order a month on average, heavy-tailed
    drop = rng.betavariate(1.1, 4.0)
    typical = rng.gammavariate(6.0, 45.0 / 6.0)  # euros
    first = now - timedelta(days=rng.uniform(0, HISTORY_DAYS))
    orders, at = [], first
    while at < now:
        value = Decimal(str(max(round(rng.gammavariate(5.0, typical / 5.0), 2), 1.0)))
        orders.append((at, value))
        if len(orders) > 1 and rng.random() < drop:
            break
        at += timedelta(weeks=rng.expovariate(max(per_week, 1e-3)), minutes=rng.randint(0, 600))
    return orders


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
        for occurred, value in _purchases(customer.pk, rng, now):
            rows.append(
                Interaction(
                    customer=customer,
                    channel=channels[rng.choice(ORDER_CHANNELS)],
                    direction=Direction.INBOUND,
                    type="order_placed",
                    occurred_at=occurred,
                    source="demo",
                    external_id=f"demo-{len(rows)}",
                    business_unit=rng.choice(units) if units else None,
                    subject="Order placed",
                    summary="Demo order placed",
                    value=value,
                    currency="EUR",
                    properties={"order_id": f"O-{len(rows)}"},
                )
            )
    Interaction.objects.bulk_create(rows, batch_size=2000)
    stdout.write(f"  {len(rows)} interactions on {len(channels)} channels")
