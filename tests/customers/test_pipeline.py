import psycopg
import pytest
from django.db import connection

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


@pytest.mark.django_db
def test_a_mark_added_while_the_customer_is_processed_is_processed_again(recorded_batches):
    customer = CustomerFactory()
    pipeline.mark_dirty([customer.pk], schedule=False)

    def remark_once(ids):  # as an ingest committing while the worker works
        if len(recorded_batches) == 1:
            pipeline.mark_dirty(ids, reason="again", schedule=False)

    pipeline.register_dirty_handler("remark", remark_once)
    assert pipeline.process_dirty_customers() == 2
    assert recorded_batches == [[customer.pk], [customer.pk]]
    assert not DirtyCustomer.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_customer_another_worker_is_processing_is_left_for_later(recorded_batches):
    busy, free = CustomerFactory(), CustomerFactory()
    pipeline.mark_dirty([busy.pk, free.pk], schedule=False)
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [pipeline.LOCK_NAMESPACE, busy.pk])
        assert pipeline.process_dirty_customers() == 1
        assert recorded_batches == [[free.pk]]
        assert list(DirtyCustomer.objects.values_list("customer_id", flat=True)) == [busy.pk]
    finally:
        # The other worker is done. Unlock before closing: a closed session's locks are freed only
        # once its backend has exited, which a loaded server may not have done by the next claim.
        other.execute("SELECT pg_advisory_unlock_all()")
        other.close()
    assert pipeline.process_dirty_customers() == 1
    assert recorded_batches == [[free.pk], [busy.pk]]
