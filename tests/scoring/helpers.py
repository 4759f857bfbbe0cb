"""Purchase histories for the scoring tests, drawn from BG/NBD + Gamma-Gamma with known parameters."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np

from customers.models import Customer
from interactions.models import Channel, Interaction

AS_OF = date(2026, 6, 30)


def load_histories(
    n: int, *, seed: int = 3, weeks: float = 52.0, as_of: date = AS_OF, holdout_weeks: float = 0.0
):
    """``n`` customers whose first purchase falls in the ``weeks`` before ``as_of`` (plus an
    optional holdout period after it). Returns the customers in creation order."""
    rng = np.random.default_rng(seed)
    web = Channel.objects.get(code="web")
    customers = Customer.objects.bulk_create([Customer(first_name=f"Buyer{i}") for i in range(n)])
    start = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    rate = rng.gamma(0.6, 1 / 5.0, n)  # purchases per week
    drop = rng.beta(0.9, 3.0, n)
    spend = rng.gamma(4.0, 1 / 0.1, n)  # mean spend about 40
    rows = []
    for index, customer in enumerate(customers):
        age = rng.uniform(4, weeks)  # weeks since the first purchase at as_of
        t = 0.0
        while True:
            at = start - timedelta(weeks=age - t)
            value = Decimal(str(round(float(rng.gamma(6.0, spend[index] / 6.0)), 2)))
            rows.append(
                Interaction(
                    customer=customer,
                    channel=web,
                    direction="inbound",
                    type="order_placed",
                    occurred_at=at,
                    value=value,
                    source="test",
                    external_id=f"o-{index}-{len(rows)}",
                )
            )
            if t > 0 and rng.random() < drop[index]:
                break
            t += rng.exponential(1 / max(rate[index], 1e-9))
            if t > age + holdout_weeks:
                break
    Interaction.objects.bulk_create(rows, batch_size=2000)
    return customers
