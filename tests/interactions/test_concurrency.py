"""Concurrent batches on PostgreSQL: overlapping keys, no deadlock, exactly one row per key."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from interactions.models import Interaction
from interactions.services import ingest_interactions
from tests.factories import CustomerFactory
from tests.interactions.conftest import transactional_marker

pytestmark = [pytest.mark.postgres, transactional_marker(), pytest.mark.usefixtures("seeded_channels")]

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def run_concurrently(*batches):
    results, errors = [None] * len(batches), []
    barrier = threading.Barrier(len(batches))

    def work(position, items):
        try:
            barrier.wait()
            results[position] = ingest_interactions(items=items)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i, b)) for i, b in enumerate(batches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


def test_overlapping_batches_in_opposite_orders_store_each_key_once():
    customers = CustomerFactory.create_batch(5)
    items = [
        {
            "source": "shop",
            "external_id": f"o-{n}",
            "channel": "web",
            "type": "order_placed",
            "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
            "customer_id": customers[n % 5].pk,
        }
        for n in range(300)
    ]
    identity_items = [
        {
            "source": "shop",
            "external_id": f"i-{n}",
            "channel": "email",
            "type": "email_opened",
            "occurred_at": T0.isoformat(),
            "customer": {"email": f"person{n % 20}@example.com"},
        }
        for n in range(100)
    ]
    first, second = run_concurrently(items + identity_items, list(reversed(items + identity_items)))
    assert first.created + second.created == 400
    assert first.duplicates + second.duplicates == 400
    assert Interaction.objects.count() == 400
    assert (
        Interaction.objects.filter(external_id__startswith="i-").values("customer").distinct().count() == 20
    )
