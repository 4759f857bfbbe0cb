import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from segments import services
from segments.models import RunStatus, Segment, SegmentMembership, SegmentMovement
from tests.factories import CustomerFactory


# available_apps: post-migrate runs at set-up and the database is left empty at tear-down, so the
# transactional tests before and after this one (some use serialized rollback) never collide.
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))
def test_two_recomputes_of_one_segment_run_one_after_the_other(monkeypatch):
    customers = [CustomerFactory(attributes={"plan": "gold"}) for _ in range(5)]
    segment = Segment.objects.create(
        slug="gold", name="Gold", rules={"attr": "attributes.plan", "op": "eq", "value": "gold"}
    )
    original = services.full_diff

    def slow_diff(*args, **kwargs):
        result = original(*args, **kwargs)
        time.sleep(0.4)  # hold the lock long enough for the other worker to collide
        return result

    monkeypatch.setattr(services, "full_diff", slow_diff)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def worker():
        try:
            barrier.wait()
            services.recompute_segment(segment=Segment.objects.get(pk=segment.pk), trigger="test")
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    first, second = sorted(segment.runs.all(), key=lambda r: r.started_at)
    assert first.status == second.status == RunStatus.SUCCEEDED
    assert first.finished_at <= second.started_at  # serialised by the advisory lock
    assert sorted([first.added, second.added]) == [0, 5]
    assert SegmentMembership.objects.filter(segment=segment).count() == 5
    assert SegmentMovement.objects.filter(segment=segment).count() == len(customers)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))
def test_incremental_refresh_and_full_recomputes_of_a_parent_and_child_run_together_without_deadlock():
    from customers.models import Customer
    from segments.models import Refresh

    gold = [CustomerFactory(attributes={"plan": "gold"}, lifecycle_stage="active") for _ in range(6)]
    parent = Segment.objects.create(
        slug="gold",
        name="Gold",
        refresh=Refresh.REALTIME,
        rules={"attr": "attributes.plan", "op": "eq", "value": "gold"},
    )
    child = Segment.objects.create(
        slug="gold-active",
        name="Gold active",
        refresh=Refresh.REALTIME,
        parent=parent,
        rules={"attr": "lifecycle_stage", "op": "eq", "value": "active"},
    )
    services.recompute_segment(segment=parent, trigger="test")
    services.recompute_segment(segment=child, trigger="test")
    Customer.objects.filter(pk__in=[c.pk for c in gold[:3]]).update(attributes={"plan": "basic"})
    ids = [c.pk for c in gold]
    errors: list[Exception] = []
    barrier = threading.Barrier(3)

    def run(work):
        try:
            barrier.wait()
            for _ in range(3):
                work()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    workers = [
        lambda: services.refresh_customers(customer_ids=ids),
        lambda: services.recompute_segment(segment=Segment.objects.get(pk=parent.pk), trigger="test"),
        lambda: services.recompute_segment(segment=Segment.objects.get(pk=child.pk), trigger="test"),
    ]
    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    still_gold = {c.pk for c in gold[3:]}
    for segment in (parent, child):
        assert set(segment.memberships.values_list("customer_id", flat=True)) == still_gold
        segment.refresh_from_db()
        assert segment.member_count == 3
        exits = SegmentMovement.objects.filter(segment=segment, kind="exited")
        assert sorted(exits.values_list("customer_id", flat=True)) == sorted(c.pk for c in gold[:3])
