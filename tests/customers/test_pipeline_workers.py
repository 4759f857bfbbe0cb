"""Four real Celery worker processes drain both lanes of the dirty-customer pipeline in parallel
(SKIP LOCKED)."""

import time

import pytest
from django.db import connection

from customers.models import Customer, DirtyCustomer, DirtyLane
from customers.pipeline import mark_dirty
from customers.tasks import LANE_TASKS
from cxhub.celery import app
from tests.conftest import start_celery_worker, stop_process, wait_for_workers

from .dirty_probe import PROBE_TABLE

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

WORKERS = 4


@pytest.fixture
def probe_table():
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {PROBE_TABLE} "
            "(customer_id bigint NOT NULL, lane int NOT NULL, worker_pid int NOT NULL)"
        )
    yield PROBE_TABLE
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PROBE_TABLE}")


def test_four_workers_process_every_mark_once_while_marks_keep_arriving(probe_table):
    customers = Customer.objects.bulk_create(Customer(first_name=f"P{i}") for i in range(3000))
    ids = [c.pk for c in customers]
    mark_dirty(ids[:2000], reason="test", schedule=False)  # a backlog before the workers start

    app.control.purge()
    workers = [
        start_celery_worker(
            f"dirty{n}",
            queues=["realtime", "dirty"],
            app_module="tests.customers.dirty_probe",
            extra_env={"DIRTY_BATCH_SIZE": "25"},
        )
        for n in range(WORKERS)
    ]
    try:
        wait_for_workers(workers, WORKERS, timeout=90)
        for _ in range(WORKERS):
            for task in LANE_TASKS.values():
                task.delay()
        for start in range(2000, 3000, 50):  # more marks while the workers drain: each sends a task
            mark_dirty(ids[start : start + 50], reason="test")
            time.sleep(0.02)
        deadline = time.monotonic() + 180
        while DirtyCustomer.objects.exists() or _processed() < len(ids) * len(DirtyLane):
            assert time.monotonic() < deadline, f"not drained: {DirtyCustomer.objects.count()} marks left"
            time.sleep(0.25)
    finally:
        for worker in workers:
            stop_process(worker)

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT lane, customer_id, count(*) FROM {PROBE_TABLE} GROUP BY 1, 2 HAVING count(*) > 1"
        )
        assert cursor.fetchall() == []  # no customer processed twice in a lane
        cursor.execute(
            f"SELECT lane, array_agg(DISTINCT customer_id ORDER BY customer_id) "
            f"FROM {PROBE_TABLE} GROUP BY lane"
        )
        assert dict(cursor.fetchall()) == {lane: sorted(ids) for lane in DirtyLane}  # no mark lost
        cursor.execute(f"SELECT worker_pid, count(*) FROM {PROBE_TABLE} GROUP BY worker_pid")
        per_worker = dict(cursor.fetchall())
    assert not DirtyCustomer.objects.exists()
    assert len(per_worker) >= 2, f"the work was not shared: {per_worker}"  # typically all four


def _processed() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {PROBE_TABLE}")
        return cursor.fetchone()[0]


def test_a_worker_vacuums_the_marks_table_after_deleting_enough_marks(settings):
    """Processed marks are deleted; the dead rows at the head of the queue are vacuumed away by
    the worker itself once it has deleted DIRTY_VACUUM_EVERY of them (autovacuum may be off)."""
    from customers import pipeline

    settings.DIRTY_VACUUM_EVERY = 40
    customers = Customer.objects.bulk_create(Customer(first_name=f"V{i}") for i in range(30))
    mark_dirty([c.pk for c in customers], reason="test", schedule=False)
    pipeline._deleted_since_vacuum = 0
    pipeline.process_dirty_customers(lane=DirtyLane.REALTIME, batch_size=10)  # deletes 30: not yet
    assert _vacuumed_at() is None
    # the standard lane's first batch brings the count to 40: it vacuums, then two batches follow
    pipeline.process_dirty_customers(lane=DirtyLane.STANDARD, batch_size=10)
    assert _vacuumed_at() is not None
    assert pipeline._deleted_since_vacuum == 20
    assert not DirtyCustomer.objects.exists()


def _vacuumed_at():
    deadline = time.monotonic() + 5
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT last_vacuum FROM pg_stat_user_tables WHERE relname = %s",
                [DirtyCustomer._meta.db_table],
            )
            at = cursor.fetchone()[0]
        if at is not None or time.monotonic() > deadline:
            return at
        time.sleep(0.2)
