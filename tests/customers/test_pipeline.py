from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from customers import pipeline
from customers.models import Customer, DirtyCustomer, DirtyHandlerFailure, DirtyLane
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
def test_a_handler_that_fails_everywhere_leaves_its_own_work_and_clears_the_marks(recorded_batches):
    customer = CustomerFactory()
    pipeline.mark_dirty([customer.pk], schedule=False)

    def failing(ids):
        raise RuntimeError("down")

    pipeline.register_dirty_handler("failing", failing)
    assert pipeline.process_dirty_customers() == 1
    assert recorded_batches == [[customer.pk]]  # the other handler went on
    assert not DirtyCustomer.objects.exists()
    failure = DirtyHandlerFailure.objects.get()
    assert (failure.handler, failure.customer_id, failure.attempts, failure.set_aside) == (
        "failing",
        customer.pk,
        1,
        False,
    )
    assert failure.error == "RuntimeError: down"


@pytest.mark.django_db
def test_a_handler_that_raises_on_one_customer_does_not_delay_the_others(recorded_batches):
    """Each handler in its own savepoint: the picky one fails only the customer it chokes on,
    its writes for that customer are undone, every other handler and customer goes through."""
    good, bad, other = CustomerFactory(), CustomerFactory(), CustomerFactory()
    pipeline.mark_dirty([good.pk, bad.pk, other.pk], schedule=False)
    done: list[int] = []

    def picky(ids):
        Customer.objects.filter(pk__in=ids).update(lifecycle_stage="churned")
        if bad.pk in ids:
            raise ValueError(f"cannot score customer {bad.pk}")
        done.extend(ids)

    pipeline.register_dirty_handler("picky", picky)
    assert pipeline.process_dirty_customers() == 3
    assert recorded_batches == [sorted([good.pk, bad.pk, other.pk])]
    assert sorted(done) == sorted([good.pk, other.pk])
    stages = dict(Customer.objects.values_list("pk", "lifecycle_stage"))
    assert stages[good.pk] == stages[other.pk] == "churned" and stages[bad.pk] != "churned"
    assert list(DirtyHandlerFailure.objects.values_list("handler", "customer_id", "attempts")) == [
        ("picky", bad.pk, 1)
    ]
    assert not DirtyCustomer.objects.exists()
    # New marks keep flowing: the failure does not block the head of the queue.
    late = CustomerFactory()
    pipeline.mark_dirty([late.pk], schedule=False)
    assert pipeline.process_dirty_customers() == 1
    assert recorded_batches[-1] == [late.pk] and done[-1] == late.pk


@pytest.mark.django_db
def test_failures_are_retried_with_attempts_counted_then_set_aside(recorded_batches):
    customer = CustomerFactory()
    calls: list[list[int]] = []

    def failing(ids):
        calls.append(list(ids))
        raise RuntimeError("still down")

    pipeline.register_dirty_handler("failing", failing)
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers()
    assert pipeline.retry_failed_handlers() == 0  # not due yet: one minute later
    assert len(calls) == 1
    for attempt in range(2, pipeline.MAX_ATTEMPTS + 1):
        DirtyHandlerFailure.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
        assert pipeline.retry_failed_handlers() == 0
        failure = DirtyHandlerFailure.objects.get()
        assert failure.attempts == attempt
        assert failure.set_aside == (attempt == pipeline.MAX_ATTEMPTS)
    assert len(calls) == pipeline.MAX_ATTEMPTS
    DirtyHandlerFailure.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    pipeline.retry_failed_handlers()
    assert len(calls) == pipeline.MAX_ATTEMPTS  # set aside: no longer retried on its own
    assert recorded_batches == [[customer.pk]]  # the healthy handler ran once, never again

    del pipeline._handlers["failing"]
    pipeline.register_dirty_handler("failing", lambda ids: calls.append(list(ids)))  # fixed
    assert pipeline.retry_set_aside(failure_ids=[failure.pk]) == 1
    assert pipeline.retry_failed_handlers() == 1
    assert calls[-1] == [customer.pk] and not DirtyHandlerFailure.objects.exists()
    assert recorded_batches == [[customer.pk]]  # a retry re-runs only the handler that failed


@pytest.mark.django_db
def test_a_fresh_mark_that_succeeds_clears_an_old_failure(recorded_batches):
    customer = CustomerFactory()
    broken = {"on": True}

    def flaky(ids):
        if broken["on"]:
            raise RuntimeError("flaky")

    pipeline.register_dirty_handler("flaky", flaky)
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers()
    assert DirtyHandlerFailure.objects.filter(handler="flaky").exists()
    broken["on"] = False
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers()
    assert not DirtyHandlerFailure.objects.exists()


@pytest.mark.django_db
def test_set_aside_failures_show_their_error_to_admins_only(admin_web_client, agent_user, recorded_batches):
    from django.test import Client

    customer = CustomerFactory()
    now = timezone.now()
    DirtyHandlerFailure.objects.create(
        handler="metrics",
        customer=customer,
        attempts=pipeline.MAX_ATTEMPTS,
        error="ZeroDivisionError: division by zero",
        first_failed_at=now,
        last_failed_at=now,
        next_attempt_at=now,
        set_aside=True,
    )
    page = admin_web_client.get("/admin/customers/dirtyhandlerfailure/?set_aside__exact=1")
    assert page.status_code == 200 and b"ZeroDivisionError: division by zero" in page.content
    agent = Client()
    agent.force_login(agent_user)
    refused = agent.get("/admin/customers/dirtyhandlerfailure/")
    assert refused.status_code in (302, 403) and b"ZeroDivisionError" not in refused.content


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


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_customer_marked_again_and_again_is_processed_once_for_all_its_marks(recorded_batches):
    a, b, c = CustomerFactory(), CustomerFactory(), CustomerFactory()
    for ids in ([a.pk], [b.pk], [a.pk], [c.pk], [a.pk], [b.pk]):  # as one ingest item after another
        pipeline.mark_dirty(ids, schedule=False)

    # the first batch claims the two oldest marks (a, b) and the newer marks of a and b with them
    assert pipeline.process_dirty_customers(batch_size=2) == 3
    assert recorded_batches == [sorted([a.pk, b.pk]), [c.pk]]
    assert not DirtyCustomer.objects.exists()


@pytest.fixture
def lane_batches(recorded_batches):
    """The recorder in the standard lane, and a second recorder in the real-time lane."""
    realtime: list[list[int]] = []
    pipeline.register_dirty_handler("realtime_recorder", realtime.append, lane=DirtyLane.REALTIME)
    return {DirtyLane.STANDARD: recorded_batches, DirtyLane.REALTIME: realtime}


@pytest.mark.django_db
def test_each_lane_processes_its_own_marks_with_its_own_handlers(lane_batches):
    a, b = CustomerFactory(), CustomerFactory()
    pipeline.mark_dirty([a.pk, b.pk], schedule=False)
    assert sorted(DirtyCustomer.objects.values_list("lane", "customer_id")) == sorted(
        (lane, pk) for lane in (DirtyLane.REALTIME, DirtyLane.STANDARD) for pk in (a.pk, b.pk)
    )

    assert pipeline.process_dirty_customers(lane=DirtyLane.REALTIME) == 2
    assert lane_batches == {DirtyLane.REALTIME: [sorted([a.pk, b.pk])], DirtyLane.STANDARD: []}
    assert set(DirtyCustomer.objects.values_list("lane", flat=True)) == {DirtyLane.STANDARD}

    assert pipeline.process_dirty_customers(lane=DirtyLane.STANDARD) == 2
    assert lane_batches[DirtyLane.STANDARD] == [sorted([a.pk, b.pk])]
    assert len(lane_batches[DirtyLane.REALTIME]) == 1
    assert not DirtyCustomer.objects.exists()


@pytest.mark.django_db
def test_without_a_realtime_handler_a_mark_is_one_row(recorded_batches):
    customer = CustomerFactory()
    pipeline.mark_dirty([customer.pk], schedule=False)
    assert list(DirtyCustomer.objects.values_list("lane", flat=True)) == [DirtyLane.STANDARD]


@pytest.mark.django_db
def test_a_success_in_one_lane_leaves_the_other_lanes_failures(lane_batches):
    customer = CustomerFactory()

    def failing(ids):
        raise RuntimeError("down")

    pipeline.register_dirty_handler("failing", failing)  # standard lane
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers(lane=DirtyLane.STANDARD)
    assert DirtyHandlerFailure.objects.filter(handler="failing", customer=customer).exists()

    pipeline.process_dirty_customers(lane=DirtyLane.REALTIME)
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers(lane=DirtyLane.REALTIME)
    assert lane_batches[DirtyLane.REALTIME] == [[customer.pk], [customer.pk]]
    # the real-time lane neither cleared nor retried the standard handler's failure
    failure = DirtyHandlerFailure.objects.get()
    assert (failure.handler, failure.attempts) == ("failing", 1)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_marking_schedules_each_lane_on_commit(lane_batches, celery_eager):
    customer = CustomerFactory()
    from django.db import transaction

    with transaction.atomic():
        pipeline.mark_dirty([customer.pk])
    assert lane_batches == {DirtyLane.REALTIME: [[customer.pk]], DirtyLane.STANDARD: [[customer.pk]]}
    assert not DirtyCustomer.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_realtime_lane_is_not_held_by_a_standard_worker_on_the_same_customer(lane_batches):
    """A customer's standard work may take a while (journeys, metrics): its real-time work goes on."""
    customer = CustomerFactory()
    pipeline.mark_dirty([customer.pk], schedule=False)
    settings = connection.settings_dict
    other = psycopg.connect(
        dbname=settings["NAME"], user=settings["USER"], host=settings["HOST"], port=settings["PORT"] or 5432
    )
    try:  # a standard-lane worker is processing the customer
        other.execute(
            "SELECT pg_advisory_lock(%s, %s)", [pipeline.LOCK_NAMESPACES[DirtyLane.STANDARD], customer.pk]
        )
        assert pipeline.process_dirty_customers(lane=DirtyLane.STANDARD) == 0
        assert pipeline.process_dirty_customers(lane=DirtyLane.REALTIME) == 1
        assert lane_batches == {DirtyLane.REALTIME: [[customer.pk]], DirtyLane.STANDARD: []}
    finally:
        other.execute("SELECT pg_advisory_unlock_all()")
        other.close()
    assert pipeline.process_dirty_customers(lane=DirtyLane.STANDARD) == 1
    assert lane_batches[DirtyLane.STANDARD] == [[customer.pk]]


@pytest.mark.django_db
def test_due_failures_of_a_handler_no_longer_registered_are_dropped_by_the_standard_lane(lane_batches):
    due, set_aside = CustomerFactory(), CustomerFactory()
    past = timezone.now() - timedelta(minutes=1)
    for customer, aside in ((due, False), (set_aside, True)):
        DirtyHandlerFailure.objects.create(
            handler="retired",
            customer=customer,
            attempts=1,
            error="RuntimeError: gone",
            first_failed_at=past,
            last_failed_at=past,
            next_attempt_at=past,
            set_aside=aside,
        )
    assert pipeline.retry_failed_handlers(lane=DirtyLane.REALTIME) == 0
    assert DirtyHandlerFailure.objects.count() == 2  # not the real-time lane's to drop
    assert pipeline.retry_failed_handlers(lane=DirtyLane.STANDARD) == 0
    # the due one is dropped; the set-aside one stays in the admin until someone acts on it
    assert list(DirtyHandlerFailure.objects.values_list("customer_id", flat=True)) == [set_aside.pk]
