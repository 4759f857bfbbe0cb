from datetime import timedelta

import pytest

from journeys.models import JourneyException
from journeys.services import detect_time_exceptions

from .conftest import T0

pytestmark = pytest.mark.django_db


def test_journey_list_returns_definitions_with_ordered_stages(templates, api_client_with):
    response = api_client_with("journeys:read").get("/api/v1/journeys/")
    assert response.status_code == 200
    journeys = {j["slug"]: j for j in response.json()["results"]}
    assert set(journeys) == {"order-to-cash", "problem-to-fix", "complaint-to-resolution", "query-to-resolve"}
    order = journeys["order-to-cash"]
    assert order["correlation_key"] == "properties.order_id"
    assert [s["slug"] for s in order["stages"]] == [
        "order-placed",
        "paid",
        "shipped",
        "delivered",
        "invoice-settled",
    ]
    assert order["stages"][0]["sla_seconds"] == 24 * 3600
    assert order["stages"][-1]["terminal"] is True
    assert [s["name"] for s in journeys["query-to-resolve"]["stages"]] == [
        "Query received",
        "Answered",
        "Confirmed",
    ]


def test_journey_api_needs_the_journeys_read_scope(templates, api_client_with, client):
    response = api_client_with("customers:read").get("/api/v1/journeys/")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert client.get("/api/v1/journeys/instances/").status_code in (401, 403)


def test_journey_detail_by_slug_and_unknown_slug(templates, api_client_with):
    api = api_client_with("journeys:read")
    assert api.get("/api/v1/journeys/problem-to-fix/").json()["name"] == "Problem to Fix"
    missing = api.get("/api/v1/journeys/nope/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_instances_of_a_customer(templates, customer, event, process, api_client_with):
    other = type(customer).objects.create(first_name="Other")
    process(
        event(customer, "order_placed", order_id="A"),
        event(customer, "payment_received", hours=1, order_id="A"),
        event(customer, "order_placed", hours=2, order_id="B"),
        event(other, "order_placed", order_id="C"),
    )
    detect_time_exceptions(now=T0 + timedelta(hours=27))
    response = api_client_with("journeys:read").get(f"/api/v1/journeys/instances/?customer={customer.pk}")
    assert response.status_code == 200
    rows = {r["correlation_value"]: r for r in response.json()["results"]}
    assert set(rows) == {"A", "B"}
    assert rows["A"]["current_stage"]["slug"] == "paid" and rows["A"]["state"] == "active"
    assert rows["B"]["state"] == "breached" and rows["B"]["sla_state"] == "breached"
    assert rows["B"]["open_exceptions"] == 1
    assert rows["A"]["journey"] == "order-to-cash" and rows["A"]["customer"] == customer.pk


def test_instance_filters_are_validated(templates, api_client_with):
    api = api_client_with("journeys:read")
    bad = api.get("/api/v1/journeys/instances/?customer=abc")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "customer"
    bad_state = api.get("/api/v1/journeys/instances/?state=sleeping")
    assert bad_state.status_code == 400 and bad_state.json()["error"]["field"] == "state"


def test_instance_detail_lists_transitions_and_exceptions(
    templates, customer, event, process, api_client_with
):
    process(
        event(customer, "order_placed", order_id="A"),
        event(customer, "order_shipped", hours=3, direction="outbound", order_id="A"),
    )
    api = api_client_with("journeys:read")
    instance_id = api.get("/api/v1/journeys/instances/").json()["results"][0]["id"]
    body = api.get(f"/api/v1/journeys/instances/{instance_id}/").json()
    assert [t["to_stage"] for t in body["transitions"]] == ["order-placed", "shipped"]
    assert body["transitions"][0]["seconds_in_stage"] == 3 * 3600
    assert [e["kind"] for e in body["exceptions"]] == ["out_of_order"]


def test_resolving_an_exception_through_the_api(templates, customer, event, process, api_client_with):
    process(event(customer, "order_placed", order_id="A"))
    detect_time_exceptions(now=T0 + timedelta(hours=25))
    exception = JourneyException.objects.get()
    reader = api_client_with("journeys:read")
    assert reader.get("/api/v1/journeys/exceptions/").json()["results"][0]["id"] == exception.pk
    assert reader.post(f"/api/v1/journeys/exceptions/{exception.pk}/resolve/", {}).status_code == 403
    writer = api_client_with("journeys:write")
    response = writer.post(f"/api/v1/journeys/exceptions/{exception.pk}/resolve/", {"note": "done"})
    assert response.status_code == 200 and response.json()["resolved_at"]
    again = writer.post(f"/api/v1/journeys/exceptions/{exception.pk}/resolve/", {})
    assert again.status_code == 409
    assert reader.get("/api/v1/journeys/exceptions/").json()["results"] == []


def test_journey_list_query_count_is_constant(templates, api_client_with, django_assert_max_num_queries):
    api = api_client_with("journeys:read")
    api.get("/api/v1/journeys/")
    with django_assert_max_num_queries(6):
        assert api.get("/api/v1/journeys/").status_code == 200


def test_instance_and_exception_lists_run_constant_queries(
    templates, customer, event, process, api_client_with, django_assert_max_num_queries
):
    api = api_client_with("journeys:read")

    def seed(start: int, count: int):
        process(
            *[event(customer, "order_placed", hours=n, order_id=f"N{n}") for n in range(start, start + count)]
        )
        detect_time_exceptions(now=T0 + timedelta(hours=start + count + 30))

    seed(0, 2)
    api.get("/api/v1/journeys/instances/")
    with django_assert_max_num_queries(5) as small:
        api.get("/api/v1/journeys/instances/")
        api.get("/api/v1/journeys/exceptions/")
    seed(10, 15)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert len(api.get("/api/v1/journeys/instances/").json()["results"]) == 17
        assert len(api.get("/api/v1/journeys/exceptions/").json()["results"]) == 17
