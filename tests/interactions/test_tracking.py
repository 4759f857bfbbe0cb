import base64
import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from customers.models import Customer, Identity
from cxhub.services import create_api_client
from interactions.models import Interaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued(db):
    return create_api_client(name="webshop", scopes=["ingest:write"], tracking_namespace="shop")


@pytest.fixture
def tracker(issued):
    client = APIClient()
    token = base64.b64encode(f"{issued.write_key}:".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    return client


def now_iso(delta=timedelta()):
    return (datetime.now(UTC) + delta).isoformat()


def track(message_id="m-1", **overrides):
    msg = {
        "type": "track",
        "messageId": message_id,
        "userId": "u-1",
        "event": "Order Completed",
        "properties": {"revenue": 19.99, "currency": "EUR", "order_id": "o-1"},
        "context": {"library": {"name": "analytics.js", "version": "5"}, "page": {"path": "/checkout"}},
        "timestamp": now_iso(),
    }
    msg.update(overrides)
    return msg


def test_track_becomes_an_interaction_of_the_user_in_the_client_namespace(tracker):
    response = tracker.post("/v1/track", track(), format="json", HTTP_USER_AGENT="Mozilla/5.0")
    assert response.status_code == 200
    assert response.json() == {"success": True}
    row = Interaction.objects.get()
    assert (row.type, row.subject, row.channel.code, row.direction) == (
        "order_completed",
        "Order Completed",
        "web",
        "inbound",
    )
    assert (row.source, row.external_id, row.touchpoint) == ("tracking:shop", "m-1", "/checkout")
    assert str(row.value) == "19.99" and row.currency == "EUR"
    assert row.context["library"]["name"] == "analytics.js"
    assert row.context["userAgent"] == "Mozilla/5.0" and row.context["ip"]
    identity = Identity.objects.get(kind="external_id", namespace="shop", value="u-1")
    assert row.customer_id == identity.customer_id


def test_same_message_id_twice_is_stored_once(tracker):
    tracker.post("/v1/batch", {"batch": [track("m-1"), track("m-1")]}, format="json")
    tracker.post("/v1/batch", {"batch": [track("m-1")]}, format="json")
    assert Interaction.objects.count() == 1


def test_identify_applies_traits_and_email_identity_then_events_join_the_profile(tracker):
    identify = {
        "type": "identify",
        "messageId": "i-1",
        "anonymousId": "anon-9",
        "userId": "u-9",
        "traits": {"email": "Ann.Lee@Example.com", "firstName": "Ann", "plan": "gold"},
    }
    page = {
        "type": "page",
        "messageId": "p-1",
        "anonymousId": "anon-9",
        "name": "Home",
        "properties": {"path": "/"},
    }
    response = tracker.post("/v1/batch", {"batch": [identify, page], "sentAt": now_iso()}, format="json")
    assert response.status_code == 200, response.content
    customer = Identity.objects.get(kind="email", value="ann.lee@example.com").customer
    assert customer.first_name == "Ann"
    assert customer.attributes.get("plan") == "gold"
    assert set(customer.identities.values_list("kind", flat=True)) == {"email", "external_id", "anonymous_id"}
    row = Interaction.objects.get()
    assert (row.customer_id, row.type, row.touchpoint) == (customer.pk, "page_view", "/")


def test_alias_joins_the_anonymous_profile_and_the_user(tracker):
    tracker.post("/v1/page", {"messageId": "p-1", "anonymousId": "anon-1", "name": "Home"}, format="json")
    tracker.post("/v1/identify", {"messageId": "i-1", "userId": "u-1", "traits": {}}, format="json")
    assert Customer.objects.filter(merged_into__isnull=True).count() == 2
    response = tracker.post(
        "/v1/alias", {"messageId": "a-1", "previousId": "anon-1", "userId": "u-1"}, format="json"
    )
    assert response.status_code == 200, response.content
    anon = Identity.objects.get(kind="anonymous_id", value="anon-1")
    user = Identity.objects.get(kind="external_id", value="u-1")
    assert anon.customer_id == user.customer_id


def test_screen_is_a_mobile_app_view_and_group_is_stored_on_the_customer(tracker):
    tracker.post("/v1/screen", {"messageId": "s-1", "userId": "u-2", "name": "Basket"}, format="json")
    tracker.post(
        "/v1/group",
        {"messageId": "g-1", "userId": "u-2", "groupId": "acme", "traits": {"size": 5}},
        format="json",
    )
    row = Interaction.objects.get()
    assert (row.type, row.channel.code, row.subject) == ("screen_view", "mobile_app", "Basket")
    row.customer.refresh_from_db()
    assert row.customer.attributes["group_id"] == "acme"


def test_client_clock_skew_is_corrected_with_sent_at(tracker):
    skew = timedelta(hours=5)
    event_time = datetime.now(UTC) - timedelta(minutes=10)
    msg = track(timestamp=(event_time + skew).isoformat())
    tracker.post("/v1/batch", {"batch": [msg], "sentAt": now_iso(skew)}, format="json")
    occurred = Interaction.objects.get().occurred_at
    assert abs(occurred - event_time) < timedelta(seconds=30)


def test_gzip_batch_is_accepted(tracker):
    body = gzip.compress(json.dumps({"batch": [track("m-1"), track("m-2")]}).encode())
    response = tracker.generic(
        "POST", "/v1/batch", body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 200, response.content
    assert Interaction.objects.count() == 2


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/track", track(messageId="x" * 101), "batch[0].messageId"),
        ("/v1/track", track(userId=None), "batch[0].userId"),
        ("/v1/track", track(event=""), "batch[0].event"),
        ("/v1/track", track(properties={"blob": "x" * 33 * 1024}), "batch[0]"),
        ("/v1/track", track(timestamp="not a time"), "batch[0].timestamp"),
        ("/v1/track", track(userId="u\x00"), "batch[0]"),
        ("/v1/page", {"messageId": "p", "anonymousId": "a", "name": "nul\x00"}, "batch[0]"),
        ("/v1/alias", {"messageId": "a", "userId": "u"}, "batch[0].previousId"),
        ("/v1/group", {"messageId": "g", "userId": "u"}, "batch[0].groupId"),
        ("/v1/batch", {"batch": "nope"}, "batch"),
        ("/v1/batch", {"batch": [track()], "context": {"ip": "nul\x00"}}, "context"),
        ("/v1/batch", {"batch": [track(), {"type": "launch"}]}, "batch[1].type"),
    ],
)
def test_messages_breaking_the_spec_are_a_clear_400_and_store_nothing(tracker, path, body, field):
    response = tracker.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["field"] == field
    assert not Interaction.objects.exists()


def test_request_over_500_kb_is_400(tracker):
    batch = [track(f"m-{n}", properties={"pad": "x" * 20_000}) for n in range(30)]
    response = tracker.post("/v1/batch", {"batch": batch}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payload_too_large"


def test_lone_surrogate_is_400(tracker):
    body = b'{"messageId": "m", "userId": "u", "event": "\\udc00"}'
    response = tracker.generic("POST", "/v1/track", body, content_type="application/json")
    assert response.status_code == 400


def test_malformed_json_is_400(tracker):
    response = tracker.generic("POST", "/v1/batch", b"{oops", content_type="application/json")
    assert response.status_code == 400


def test_write_key_is_required_and_must_be_valid(issued, api_client_with):
    assert APIClient().post("/v1/track", track(), format="json").status_code == 401
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"cxw_abcdefgh_nope:").decode())
    assert bad.post("/v1/track", track(), format="json").status_code == 401
    bearer = api_client_with("ingest:write")  # a Bearer token is not a write key
    assert bearer.post("/v1/track", track(), format="json").status_code == 401


def test_write_key_of_a_client_without_ingest_scope_is_403(db):
    issued = create_api_client(name="reader", scopes=["customers:read"])
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(f"{issued.write_key}:".encode()).decode()
    )
    assert client.post("/v1/track", track(), format="json").status_code == 403
