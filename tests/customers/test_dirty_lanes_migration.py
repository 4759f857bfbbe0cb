"""Upgrading to lanes: the marks waiting at that moment reach the real-time lane too."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from customers.models import DirtyCustomer, DirtyLane
from tests.factories import CustomerFactory

BEFORE = [("customers", "0014_dirty_lanes")]
AFTER = [("customers", "0015_dirty_marks_for_the_realtime_lane")]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_waiting_marks_are_copied_into_the_realtime_lane_and_back_out():
    a, b = CustomerFactory(), CustomerFactory()
    _migrate(BEFORE)
    try:
        now = timezone.now()
        # as before lanes: every mark in the one (standard) lane
        DirtyCustomer.objects.bulk_create(
            [DirtyCustomer(customer_id=pk, marked_at=now, reason="interaction") for pk in (a.pk, b.pk, a.pk)]
        )
        _migrate(AFTER)
        marks = sorted(DirtyCustomer.objects.values_list("lane", "customer_id", "reason"))
        assert marks == sorted(
            (lane, pk, "interaction")
            for lane in (DirtyLane.REALTIME, DirtyLane.STANDARD)
            for pk in (a.pk, b.pk, a.pk)
        )
        _migrate(BEFORE)  # reversed: the copies go, the originals stay
        assert set(DirtyCustomer.objects.values_list("lane", flat=True)) == {DirtyLane.STANDARD}
        assert DirtyCustomer.objects.count() == 3
    finally:
        _migrate(AFTER)
