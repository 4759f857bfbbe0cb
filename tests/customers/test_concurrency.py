"""Concurrent merges on PostgreSQL: two connections, real row locks, no deadlock, no lost rows."""

import threading

import pytest
from django.db import connection, connections

from customers.errors import AlreadyMerged
from customers.merging import merge_customers
from customers.models import Customer, Identity
from customers.services import resolve_customers
from interactions.models import Interaction
from tests.factories import CustomerFactory, IdentityFactory, InteractionFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def run_concurrently(*jobs):
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def worker(index, job):
        try:
            barrier.wait(timeout=10)
            results[index] = job()
        except Exception as exc:  # reported to the test below
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a merge hung"
    return results


@pytest.fixture(autouse=True)
def interactions_move_with_merges(monkeypatch):
    from customers import merging

    relation = merging.CustomerRelation(Interaction, "customer", ())
    monkeypatch.setitem(merging._relations, relation.key, relation)


def test_opposite_merges_of_the_same_pair_neither_deadlock_nor_lose_rows():
    for _ in range(5):
        a, b = CustomerFactory(), CustomerFactory()
        IdentityFactory.create_batch(2, customer=a)
        IdentityFactory.create_batch(2, customer=b)
        InteractionFactory.create_batch(3, customer=a)
        InteractionFactory.create_batch(3, customer=b)

        results = run_concurrently(
            lambda a=a, b=b: merge_customers(survivor=a, merged=b),
            lambda a=a, b=b: merge_customers(survivor=b, merged=a),
        )

        errors = [r for r in results if isinstance(r, Exception)]
        assert len(errors) == 1 and isinstance(errors[0], AlreadyMerged), results
        live = Customer.objects.filter(pk__in=[a.pk, b.pk], merged_into__isnull=True).get()
        assert Identity.objects.filter(customer=live).count() == 4
        assert Interaction.objects.filter(customer=live).count() == 6


def test_overlapping_resolutions_merge_all_three_profiles_without_losing_rows(monkeypatch):
    from customers import merging

    monkeypatch.setitem(
        merging._relations,
        "interactions.Interaction.customer",
        merging.CustomerRelation(Interaction, "customer", ()),
    )
    for round_ in range(5):
        people = [CustomerFactory() for _ in range(3)]
        for n, person in enumerate(people):
            IdentityFactory(customer=person, kind="email", value=f"r{round_}-p{n}@example.org")
            InteractionFactory.create_batch(2, customer=person)

        def link(x, y, round_=round_):
            return resolve_customers(
                identity_sets=[
                    [
                        ("email", "", f"r{round_}-p{x}@example.org"),
                        ("email", "", f"r{round_}-p{y}@example.org"),
                    ]
                ]
            )

        results = run_concurrently(lambda: link(0, 1), lambda: link(1, 2))

        assert not [r for r in results if isinstance(r, Exception)], results
        ids = [p.pk for p in people]
        live = Customer.objects.filter(pk__in=ids, merged_into__isnull=True)
        assert live.count() == 1
        survivor = live.get()
        assert Identity.objects.filter(customer_id__in=ids).exclude(customer=survivor).count() == 0
        assert Identity.objects.filter(customer=survivor).count() == 3
        assert Interaction.objects.filter(customer=survivor).count() == 6
        assert (
            Customer.objects.filter(pk__in=ids).exclude(pk=survivor.pk).exclude(merged_into=survivor).count()
            == 0
        )
    assert connection.vendor == "postgresql"
