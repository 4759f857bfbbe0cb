"""Concurrent batches on PostgreSQL: overlapping keys, no deadlock, exactly one row per key."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from customers.merging import merge_customers
from customers.models import Identity
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


class HeldOpen:
    """Run ``first`` in a transaction kept open until released, and ``then`` meanwhile, in threads."""

    def __init__(self, first, then):
        self.opened, self.released, self.then_done = threading.Event(), threading.Event(), threading.Event()
        self.results, self.errors = {}, []
        self.threads = [
            threading.Thread(target=self._guarded, args=(self._hold, first)),
            threading.Thread(target=self._guarded, args=(self._after_open, then)),
        ]
        for thread in self.threads:
            thread.start()
        assert self.opened.wait(timeout=30)

    def _guarded(self, step, work):
        try:
            step(work)
        except Exception as exc:  # surfaced by finish()
            self.errors.append(exc)
        finally:
            connection.close()

    def _hold(self, work):
        with transaction.atomic():
            self.results["first"] = work()
            self.opened.set()
            self.released.wait(timeout=30)

    def _after_open(self, work):
        self.opened.wait(timeout=30)
        self.results["then"] = work()
        self.then_done.set()

    def finish(self) -> dict:
        """Commit the held transaction, wait for both threads; the results of both."""
        self.released.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not self.errors, self.errors
        return self.results


def test_a_merge_waits_for_a_batch_filing_under_the_merged_profile():
    survivor, merged = CustomerFactory(), CustomerFactory()
    Identity.objects.create(customer=merged, kind="email", value="kept@example.com")
    item = {
        "source": "shop",
        "external_id": "during-merge",
        "channel": "email",
        "direction": "outbound",  # no last_seen_at update: only the resolution's lock holds the merge
        "type": "email_sent",
        "occurred_at": T0.isoformat(),
        "customer": {"email": "kept@example.com"},
    }
    run = HeldOpen(
        lambda: ingest_interactions(items=[item]),  # resolves to the profile about to be merged
        lambda: merge_customers(survivor=survivor.pk, merged=merged.pk),
    )
    assert not run.then_done.wait(timeout=1), "the merge did not wait for the open batch"
    run.finish()
    assert run.then_done.is_set()
    assert Interaction.objects.get(external_id="during-merge").customer_id == survivor.pk


def test_a_key_a_concurrent_batch_stores_meanwhile_is_answered_as_a_duplicate():
    ann = CustomerFactory()

    def order(n):
        return {
            "source": "shop",
            "external_id": f"race-{n}",
            "channel": "web",
            "type": "order_placed",
            "occurred_at": T0.isoformat(),
            "customer_id": ann.pk,
        }

    # The second batch's duplicate check cannot see the first batch's row yet: its COPY meets it.
    run = HeldOpen(
        lambda: ingest_interactions(items=[order(1)]),
        lambda: ingest_interactions(items=[order(1), order(2)]),
    )
    assert not run.then_done.wait(timeout=1)  # the second batch waits on the first one's key
    results = run.finish()
    stored = results["first"].results[0]["id"]
    assert [(r["status"], r.get("id") == stored) for r in results["then"].results] == [
        ("duplicate", True),
        ("created", False),
    ]
    assert Interaction.objects.filter(external_id__startswith="race-").count() == 2
