"""Round-trips through Redis to a real Celery worker process (CI's PostgreSQL run)."""

import time

import pytest

from customers.models import DirtyCustomer
from customers.pipeline import mark_dirty
from cxhub.tasks import ping
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_task_round_trip_through_redis(celery_worker_process):
    result = ping.delay()
    assert result.get(timeout=30) == "pong"


def test_worker_processes_dirty_customers_marked_on_commit(celery_worker_process):
    customer = CustomerFactory()
    mark_dirty([customer.pk], reason="test")  # autocommit: the task is sent at once
    deadline = time.monotonic() + 30
    while DirtyCustomer.objects.filter(customer=customer).exists():
        assert time.monotonic() < deadline, "the worker did not process the dirty customer"
        time.sleep(0.2)
    assert celery_worker_process.poll() is None  # still running; shut down by the fixture
