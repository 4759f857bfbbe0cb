from datetime import timedelta

import pytest

from journeys.models import (
    ExceptionKind,
    InstanceState,
    JourneyException,
    JourneyInstance,
    JourneyTransition,
    ProcessedInteraction,
)
from journeys.services import process_customers, process_interactions

from .conftest import T0

pytestmark = pytest.mark.django_db

ORDER_STEPS = ("order_placed", "payment_received", "order_shipped", "order_delivered", "invoice_settled")
ORDER_DIRECTIONS = ("inbound", "inbound", "outbound", "inbound", "inbound")


def _order(event, customer, order_id, hours=(0, 2, 20, 50, 80)):
    return [
        event(customer, step, hours=h, direction=d, order_id=order_id)
        for step, h, d in zip(ORDER_STEPS, hours, ORDER_DIRECTIONS, strict=True)
    ]


def test_order_to_cash_walks_every_stage_and_records_each_transition(templates, customer, event, process):
    interactions = _order(event, customer, "991")
    result = process(*interactions)
    instance = JourneyInstance.objects.get()
    assert (result.started, result.advanced, result.completed) == (1, 4, 1)
    assert instance.state == InstanceState.COMPLETED
    assert instance.current_stage.slug == "invoice-settled"
    assert instance.correlation_value == "991"
    assert instance.completed_at == T0 + timedelta(hours=80)
    transitions = list(JourneyTransition.objects.order_by("at"))
    assert [t.to_stage.slug for t in transitions] == [
        "order-placed",
        "paid",
        "shipped",
        "delivered",
        "invoice-settled",
    ]
    assert [t.interaction_id for t in transitions] == [i.pk for i in interactions]
    assert [t.seconds_in_stage for t in transitions] == [2 * 3600, 18 * 3600, 30 * 3600, 30 * 3600, None]
    assert instance.sla_due_at is None and instance.abandon_at is None


def test_interactions_out_of_time_order_in_one_batch_are_applied_in_occurrence_order(
    templates, customer, event, process
):
    interactions = _order(event, customer, "7")
    process(*reversed(interactions))
    assert JourneyInstance.objects.get().state == InstanceState.COMPLETED
    assert not JourneyException.objects.exists()


def test_two_concurrent_orders_of_one_customer_are_tracked_separately(templates, customer, event, process):
    first = event(customer, "order_placed", hours=0, order_id="A")
    second = event(customer, "order_placed", hours=1, order_id="B")
    paid_b = event(customer, "payment_received", hours=2, order_id="B")
    process(first, second, paid_b)
    instances = {i.correlation_value: i for i in JourneyInstance.objects.select_related("current_stage")}
    assert set(instances) == {"A", "B"}
    assert instances["A"].current_stage.slug == "order-placed"
    assert instances["B"].current_stage.slug == "paid"
    paid_a = event(customer, "payment_received", hours=3, order_id="A")
    process(paid_a)
    assert JourneyInstance.objects.get(correlation_value="A").current_stage.slug == "paid"
    assert JourneyTransition.objects.filter(instance=instances["B"]).count() == 2


def test_reprocessing_the_same_interactions_changes_nothing(templates, customer, event, process):
    interactions = _order(event, customer, "5")
    process(*interactions)
    snapshot = list(JourneyInstance.objects.values())
    counts = (JourneyTransition.objects.count(), JourneyException.objects.count())
    again = process(*interactions)
    assert again.interactions == 0
    assert process_customers([customer.pk]).interactions == 0
    assert list(JourneyInstance.objects.values()) == snapshot
    assert (JourneyTransition.objects.count(), JourneyException.objects.count()) == counts


def test_dirty_handler_processes_only_unprocessed_relevant_interactions(templates, customer, event, process):
    placed = event(customer, "order_placed", order_id="9")
    event(customer, "page_view")  # no journey cares
    process_customers([customer.pk])
    assert JourneyInstance.objects.get().current_stage.slug == "order-placed"
    assert list(ProcessedInteraction.objects.values_list("interaction_id", flat=True)) == [placed.pk]
    paid = event(customer, "payment_received", hours=1, order_id="9")
    result = process_customers([customer.pk])
    assert result.interactions == 1 and result.advanced == 1
    assert ProcessedInteraction.objects.filter(interaction=paid).exists()


def test_a_step_without_the_correlation_key_is_ignored(templates, customer, event, process):
    process(event(customer, "order_placed"))
    assert not JourneyInstance.objects.exists()


def test_a_later_stage_cannot_start_an_instance(templates, customer, event, process):
    process(event(customer, "payment_received", order_id="1"))
    assert not JourneyInstance.objects.exists()


def test_completed_reference_is_not_restarted_by_a_repeated_first_step(templates, customer, event, process):
    process(*_order(event, customer, "42"))
    process(event(customer, "order_placed", hours=100, order_id="42"))
    assert JourneyInstance.objects.count() == 1


def test_skipping_a_stage_advances_and_records_out_of_order(templates, customer, event, process):
    placed = event(customer, "order_placed", order_id="3")
    shipped = event(customer, "order_shipped", hours=5, direction="outbound", order_id="3")
    process(placed, shipped)
    instance = JourneyInstance.objects.get()
    assert instance.current_stage.slug == "shipped"
    exception = JourneyException.objects.get()
    assert exception.kind == ExceptionKind.OUT_OF_ORDER
    assert exception.interaction == shipped
    assert "Paid" in exception.detail


def test_a_late_earlier_step_records_out_of_order_without_moving_back(templates, customer, event, process):
    placed = event(customer, "order_placed", order_id="4")
    shipped = event(customer, "order_shipped", hours=5, direction="outbound", order_id="4")
    process(placed, shipped)
    late_payment = event(customer, "payment_received", hours=6, order_id="4")
    process(late_payment)
    assert JourneyInstance.objects.get().current_stage.slug == "shipped"
    # The open out-of-order exception (Paid skipped) takes the late payment in: one exception.
    exception = JourneyException.objects.get(kind=ExceptionKind.OUT_OF_ORDER)
    assert exception.occurrences == 2 and exception.detail == "Paid after Shipped"


def test_customer_calling_after_a_web_attempt_is_a_channel_switch(templates, customer, event, process):
    web = event(customer, "query", channel_code="web", query_id="Q1")
    call = event(customer, "call", hours=1, channel_code="phone", query_id="Q1")
    process(web, call)
    exception = JourneyException.objects.get()
    assert exception.kind == ExceptionKind.CHANNEL_SWITCH
    assert exception.interaction == call
    assert exception.detail.startswith("web → phone")
    instance = JourneyInstance.objects.get()
    assert instance.current_stage.slug == "query-received"
    assert instance.last_event_at == call.occurred_at


def test_property_matches_pick_the_stage(templates, customer, event, process):
    reported = event(customer, "problem_reported", channel_code="phone", ticket_id="T1")
    other_status = event(
        customer, "ticket_update", hours=1, channel_code="email", ticket_id="T1", status="noted"
    )
    diagnosed = event(
        customer, "ticket_update", hours=2, channel_code="email", ticket_id="T1", status="diagnosed"
    )
    process(reported, other_status, diagnosed)
    assert JourneyInstance.objects.get().current_stage.slug == "diagnosed"


def test_inactive_journeys_are_ignored(templates, customer, event):
    from journeys.models import Journey

    Journey.objects.update(active=False)
    placed = event(customer, "order_placed", order_id="1")
    assert process_interactions(interaction_ids=[placed.pk]).interactions == 0
    assert not JourneyInstance.objects.exists()


def test_stage_sla_and_due_times_are_set_on_entry(templates, customer, event, process):
    process(event(customer, "order_placed", order_id="8"))
    instance = JourneyInstance.objects.get()
    assert instance.sla_due_at == T0 + timedelta(hours=24)
    assert instance.stall_at == T0 + timedelta(hours=72)
    assert instance.abandon_at == T0 + timedelta(days=45)
