"""Incremental refresh: its cost in statements, and what it leaves behind in the transaction."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from segments import services
from segments.models import MovementKind, Refresh, SegmentMembership, SegmentMovement
from tests.factories import CustomerFactory, InteractionFactory

GOLD = {"attr": "attributes.plan", "op": "eq", "value": "gold"}
RECENT_ORDER = {"events": {"type": "order_placed", "channel": "web", "within_days": 30}}


def members(segment) -> set[int]:
    return set(SegmentMembership.objects.filter(segment=segment).values_list("customer_id", flat=True))


@pytest.mark.django_db
def test_refresh_query_count_does_not_grow_with_dirty_customers(make_segment):
    gold = make_segment("gold-rt", GOLD, refresh=Refresh.REALTIME)
    make_segment("orders-rt", RECENT_ORDER, refresh=Refresh.REALTIME)
    make_segment("in-gold-rt", {"segment": "gold-rt", "is": "member"}, refresh=Refresh.REALTIME)
    few = [CustomerFactory(attributes={"plan": "gold"}).pk for _ in range(2)]
    many = [CustomerFactory(attributes={"plan": "gold"}).pk for _ in range(60)]
    for pk in [few[0], *many[:5]]:  # every segment gains members in both refreshes
        InteractionFactory(customer_id=pk, type="order_placed", occurred_at=timezone.now())

    services.refresh_customers(customer_ids=[CustomerFactory().pk])  # rules compiled once per process

    with CaptureQueriesContext(connection) as small:
        services.refresh_customers(customer_ids=few)
    with CaptureQueriesContext(connection) as large:
        services.refresh_customers(customer_ids=many)

    assert members(gold) == set(few) | set(many)
    assert len(large.captured_queries) == len(small.captured_queries)
    if connection.vendor == "postgresql":  # one diff statement per level of dependency:
        # gold-rt and orders-rt together, then in-gold-rt, which reads gold-rt's members
        diffs = [q for q in large.captured_queries if q["sql"].startswith("WITH dirty_customers AS")]
        assert len(diffs) == 2


@pytest.mark.django_db
def test_refresh_records_exits_and_moves_the_count_by_the_difference(make_segment):
    ann = CustomerFactory(attributes={"plan": "gold"})
    ben = CustomerFactory(attributes={"plan": "gold"})
    cat = CustomerFactory(attributes={"plan": "gold"})
    gold = make_segment("gold-rt", GOLD, refresh=Refresh.REALTIME)
    services.recompute_segment(segment=gold, trigger="test")

    ann.attributes = {"plan": "basic"}
    ann.save()
    changes = services.refresh_customers(customer_ids=[ann.pk, ben.pk])

    assert changes == {gold.pk: (0, 1)}
    assert members(gold) == {ben.pk, cat.pk}  # cat was not dirty and stays
    gold.refresh_from_db()
    assert gold.member_count == 2
    exits = SegmentMovement.objects.filter(segment=gold, kind=MovementKind.EXITED)
    assert list(exits.values_list("customer_id", flat=True)) == [ann.pk]
    assert services.refresh_customers(customer_ids=[ann.pk, ben.pk]) == {}


@pytest.mark.postgres
@pytest.mark.django_db
def test_refresh_inside_a_callers_transaction_leaves_its_settings_alone(make_segment):
    make_segment("gold-rt", GOLD, refresh=Refresh.REALTIME)
    ann = CustomerFactory(attributes={"plan": "gold"})

    def settings() -> tuple[str, str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('jit'), current_setting('synchronous_commit')")
            return cursor.fetchone()

    with transaction.atomic():
        before = settings()
        services.refresh_customers(customer_ids=[ann.pk])
        assert settings() == before
