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
    original = services._full_diff

    def slow_diff(*args, **kwargs):
        result = original(*args, **kwargs)
        time.sleep(0.4)  # hold the lock long enough for the other worker to collide
        return result

    monkeypatch.setattr(services, "_full_diff", slow_diff)
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
