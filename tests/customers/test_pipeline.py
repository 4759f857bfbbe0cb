import pytest

from customers import pipeline
from customers.models import DirtyCustomer
from tests.factories import CustomerFactory


@pytest.fixture
def recorded_batches():
    batches: list[list[int]] = []
    saved = pipeline.dirty_handlers()
    pipeline._handlers.clear()
    pipeline.register_dirty_handler("recorder", batches.append)
    yield batches
    pipeline._handlers.clear()
    pipeline._handlers.update(saved)


@pytest.mark.django_db
def test_marked_customers_reach_every_handler_once_and_are_cleared(recorded_batches):
    a, b = CustomerFactory(), CustomerFactory()
    pipeline.mark_dirty([a.pk, b.pk, a.pk], schedule=False)
    assert pipeline.process_dirty_customers() == 2
    assert recorded_batches == [sorted([a.pk, b.pk])]
    assert not DirtyCustomer.objects.exists()
    assert pipeline.process_dirty_customers() == 0


@pytest.mark.django_db
def test_failed_handler_keeps_the_batch_for_the_next_sweep(recorded_batches):
    customer = CustomerFactory()
    pipeline.mark_dirty([customer.pk], schedule=False)

    def failing(ids):
        raise RuntimeError("down")

    pipeline.register_dirty_handler("failing", failing)
    with pytest.raises(RuntimeError):
        pipeline.process_dirty_customers()
    assert DirtyCustomer.objects.filter(customer=customer).exists()
    del pipeline._handlers["failing"]
    assert pipeline.process_dirty_customers() == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_marking_schedules_processing_on_commit(recorded_batches, celery_eager):
    customer = CustomerFactory()
    from django.db import transaction

    with transaction.atomic():
        pipeline.mark_dirty([customer.pk])
        assert recorded_batches == []  # nothing runs before commit
    # The task runs at commit (in-process here; a worker does it in production).
    assert recorded_batches == [[customer.pk]]
    assert not DirtyCustomer.objects.exists()
