"""Traits, attributes and interaction properties nest at most MAX_DATA_DEPTH levels (checked at
ingest, so nothing deeper is ever stored for the admin or the 360 page to trip over)."""

import pytest

from customers.models import Customer
from customers.services import resolve_customer
from cxhub.errors import DomainError
from cxhub.jsonguard import MAX_DATA_DEPTH
from interactions.models import Interaction
from tests.factories import CustomerFactory
from tests.interactions.test_tracking import issued, now_iso, tracker  # noqa: F401

pytestmark = pytest.mark.django_db


def _nested(levels: int) -> dict:
    value: dict = {"city": "Leeds"}
    for _ in range(levels - 1):
        value = {"address": value}
    return value


def test_traits_deeper_than_the_cap_are_refused_by_the_service():
    with pytest.raises(DomainError) as raised:
        resolve_customer(
            identities=[{"kind": "email", "value": "ann@example.com"}], traits={"x": _nested(900)}
        )
    assert raised.value.field.startswith("traits.x.address")
    assert not Customer.objects.exists()


def test_resolve_refuses_deep_traits_and_keeps_the_cap(api_client_with):
    api = api_client_with("customers:write")
    body = {"identities": [{"kind": "email", "value": "ann@example.com"}]}
    deep = api.post("/api/v1/customers/resolve/", {**body, "traits": {"x": _nested(MAX_DATA_DEPTH + 2)}})
    assert deep.status_code == 400
    assert deep.json()["error"]["field"].startswith("traits.x.address")
    ok = api.post("/api/v1/customers/resolve/", {**body, "traits": {"x": _nested(MAX_DATA_DEPTH - 1)}})
    assert ok.status_code == 201, ok.content


def test_patch_refuses_deep_attributes(api_client_with):
    api = api_client_with("customers:write")
    customer = CustomerFactory()
    response = api.patch(f"/api/v1/customers/{customer.pk}/", {"attributes": _nested(MAX_DATA_DEPTH + 2)})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "attributes"
    customer.refresh_from_db()
    assert "address" not in customer.attributes


def test_interaction_properties_deeper_than_the_cap_are_that_items_error(api_client_with):
    api = api_client_with("ingest:write")
    customer = CustomerFactory()
    base = {
        "channel": "web",
        "type": "page_view",
        "occurred_at": "2026-01-01T00:00:00Z",
        "customer_id": customer.pk,
    }
    result = api.post(
        "/api/v1/interactions/batch/",
        {"items": [{**base, "properties": _nested(MAX_DATA_DEPTH + 2)}, {**base, "properties": _nested(3)}]},
        format="json",
    ).json()
    assert [r["status"] for r in result["results"]] == ["error", "created"]
    assert result["results"][0]["error"]["field"] == "properties"
    assert Interaction.objects.count() == 1


def test_identify_with_deep_traits_is_a_400_and_stores_nothing(tracker):  # noqa: F811
    identify = {
        "type": "identify",
        "messageId": "i-1",
        "userId": "u-1",
        "traits": {"x": _nested(MAX_DATA_DEPTH + 2)},
    }
    response = tracker.post("/v1/identify", {**identify, "sentAt": now_iso()}, format="json")
    assert response.status_code == 400, response.content
    assert not Customer.objects.exists()
