"""Journeys seen from the other apps: segment condition, merges, the dirty pipeline, ingest."""

import pytest

from customers.models import Customer
from journeys.models import JourneyInstance

pytestmark = pytest.mark.django_db


def test_segment_condition_compiles_to_customers_in_that_journey_state(templates, customer, event, process):
    registry = pytest.importorskip("segments.registry")
    other = Customer.objects.create(first_name="Other")
    process(event(customer, "order_placed", order_id="1"), event(other, "query", query_id="Q"))
    condition = registry.condition_type("journey")
    assert condition is not None
    q = condition.compile({"journey": "order-to-cash", "state": "active"}, None)
    assert list(Customer.objects.filter(q)) == [customer]
    q = condition.compile({"journey": "order-to-cash", "state": "completed"}, None)
    assert not Customer.objects.filter(q).exists()
    assert "condition_journey" in registry.rule_schema()["$defs"]


def test_journey_instances_follow_a_merge(templates, customer, event, process):
    merging = pytest.importorskip("customers.merging")
    if not hasattr(merging, "merge_customers"):
        pytest.skip("merging service not available")
    other = Customer.objects.create(first_name="Dup")
    process(event(other, "order_placed", order_id="M1"))
    merging.merge_customers(survivor=customer, merged=other, actor=None)
    assert JourneyInstance.objects.get().customer_id == customer.pk


def test_dirty_pipeline_advances_journeys(templates, customer, event):
    from customers.pipeline import mark_dirty, process_dirty_customers

    event(customer, "order_placed", order_id="P1")
    mark_dirty([customer.pk], schedule=False)
    process_dirty_customers()
    assert JourneyInstance.objects.get().correlation_value == "P1"


def test_ingested_interactions_advance_journeys(
    templates, customer, api_client_with, celery_eager, django_capture_on_commit_callbacks
):
    api = api_client_with("ingest:write")
    items = [
        {
            "source": "shop",
            "external_id": f"o-1-{step}",
            "channel": "web",
            "direction": direction,
            "type": step,
            "occurred_at": f"2026-10-0{n + 1}T10:00:00Z",
            "customer_id": customer.pk,
            "properties": {"order_id": "1"},
        }
        for n, (step, direction) in enumerate(
            [
                ("order_placed", "inbound"),
                ("payment_received", "inbound"),
                ("order_shipped", "outbound"),
                ("order_delivered", "inbound"),
                ("invoice_settled", "inbound"),
            ]
        )
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/interactions/batch/", {"items": items}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 5
    instance = JourneyInstance.objects.get()
    assert instance.state == "completed"
    assert instance.transitions.count() == 5
