import gzip
import json
from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from interactions.models import IdempotencyKey, Interaction
from tests.factories import CustomerFactory, InteractionFactory, channel

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)
BATCH = "/api/v1/interactions/batch/"
SINGLE = "/api/v1/interactions/"


def item(customer, n=0, **overrides):
    data = {
        "source": "shop",
        "external_id": f"ord-{n}",
        "channel": "web",
        "type": "order_placed",
        "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
        "customer_id": customer.pk,
        "value": "42.50",
        "currency": "EUR",
    }
    data.update(overrides)
    return data


@pytest.fixture
def ingest(api_client_with):
    return api_client_with("ingest:write")


@pytest.fixture
def reader(api_client_with):
    return api_client_with("customers:read")


def post_raw(client, url, body: bytes, content_type="application/json", **headers):
    return client.generic("POST", url, body, content_type=content_type, **headers)


def test_single_post_is_201_then_200_with_the_same_row(ingest):
    ann = CustomerFactory()
    first = ingest.post(SINGLE, item(ann, 1), format="json")
    assert first.status_code == 201
    body = first.json()
    assert body["customer_id"] == ann.pk and body["channel"] == "web" and body["value"] == "42.50"
    again = ingest.post(SINGLE, item(ann, 1), format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]


def test_single_post_of_a_bad_item_is_400_naming_the_field(ingest):
    ann = CustomerFactory()
    response = ingest.post(SINGLE, item(ann, channel="pigeon"), format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "channel" and "email" in error["message"]


def test_batch_reports_created_duplicate_and_error_in_order(ingest):
    ann = CustomerFactory()
    ingest.post(BATCH, {"items": [item(ann, 1)]}, format="json")
    response = ingest.post(
        BATCH, {"items": [item(ann, 2), item(ann, 1), item(ann, 3, type="")]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["created", "duplicate", "error"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2]
    assert body["results"][2]["error"]["field"] == "type"
    assert (body["created"], body["duplicates"], body["errors"]) == (1, 1, 1)


def test_full_batch_of_a_thousand_items_is_accepted(ingest):
    ann = CustomerFactory()
    response = ingest.post(BATCH, {"items": [item(ann, n) for n in range(1000)]}, format="json")
    assert response.status_code == 200
    assert response.json()["created"] == 1000
    assert Interaction.objects.count() == 1000


def test_more_than_a_thousand_items_is_400(ingest):
    ann = CustomerFactory()
    response = ingest.post(BATCH, {"items": [item(ann, n) for n in range(1001)]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "items"
    assert not Interaction.objects.exists()


def test_gzip_body_is_accepted(ingest):
    ann = CustomerFactory()
    body = gzip.compress(json.dumps({"items": [item(ann, 1), item(ann, 2)]}).encode())
    response = post_raw(ingest, BATCH, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 200, response.content
    assert response.json()["created"] == 2


def test_body_over_five_megabytes_is_413(ingest):
    ann = CustomerFactory()
    big = {"items": [item(ann, 1, summary="x" * 4000, properties={"pad": "y" * 15000}) for _ in range(300)]}
    body = json.dumps(big).encode()
    assert len(body) > 5 * 1024 * 1024
    response = post_raw(ingest, BATCH, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_gzip_bomb_is_413(ingest):
    body = gzip.compress(b'{"items": [' + b" " * (6 * 1024 * 1024) + b"]}")
    assert len(body) < 100_000
    response = post_raw(ingest, BATCH, body, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{not json", {}),
        (b'{"items": [NaN]}', {}),
        (b"not gzip at all", {"HTTP_CONTENT_ENCODING": "gzip"}),
        (b'{"items": {}}', {}),
        (b'{"items": []}', {}),
        (b"[1, 2]", {}),
        (b"\xff\xfe", {}),
        (b'{"items": [{"subject": "\\ud800"}]}', {}),
    ],
)
def test_malformed_request_is_400_json(ingest, body, headers):
    response = post_raw(ingest, BATCH, body, **headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"]


def test_wrong_content_type_is_415(ingest):
    response = post_raw(ingest, BATCH, b"items=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_unknown_content_encoding_is_415(ingest):
    response = post_raw(ingest, BATCH, b"{}", HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_no_token_is_401_and_missing_scope_is_403(reader):
    assert APIClient().post(BATCH, {"items": []}, format="json").status_code == 401
    response = reader.post(BATCH, {"items": []}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Missing scope: ingest:write."


def test_idempotency_key_replays_the_first_response(ingest):
    ann = CustomerFactory()
    payload = {"items": [item(ann, 1)]}
    first = ingest.post(BATCH, payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    replay = ingest.post(BATCH, payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 200
    assert replay.json() == first.json()  # "created", not "duplicate": the stored first response
    assert replay["Idempotent-Replayed"] == "true"
    assert Interaction.objects.count() == 1


def test_idempotency_key_reused_with_another_body_is_409(ingest):
    ann = CustomerFactory()
    ingest.post(BATCH, {"items": [item(ann, 1)]}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    response = ingest.post(BATCH, {"items": [item(ann, 2)]}, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_idempotency_keys_do_not_cross_clients_and_expire_after_a_day(ingest, api_client_with):
    ann = CustomerFactory()
    ingest.post(SINGLE, item(ann, 1), format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    other = api_client_with("ingest:write")
    assert other.post(SINGLE, item(ann, 2), format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code == 201
    IdempotencyKey.objects.update(created_at=datetime.now(UTC) - timedelta(hours=25))
    response = ingest.post(SINGLE, item(ann, 1), format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert response.status_code == 200 and "Idempotent-Replayed" not in response


def test_single_post_with_idempotency_key_replays_201(ingest):
    ann = CustomerFactory()
    first = ingest.post(SINGLE, item(ann, 1), format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    replay = ingest.post(SINGLE, item(ann, 1), format="json", HTTP_IDEMPOTENCY_KEY="k-4")
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()


def test_logged_in_agent_is_recorded_as_the_agent(agent_client, agent_user):
    ann = CustomerFactory()
    response = agent_client.post(SINGLE, item(ann, 1), content_type="application/json")
    assert response.status_code == 201, response.content
    assert Interaction.objects.get().agent_id == agent_user.pk


# --- reads ---------------------------------------------------------------------


def test_list_filters_by_customer_channel_type_direction_and_time(reader):
    ann, bob = CustomerFactory(), CustomerFactory()
    hit = InteractionFactory(
        customer=ann, channel=channel("email"), type="email_sent", direction="outbound", occurred_at=T0
    )
    InteractionFactory(
        customer=bob, channel=channel("email"), type="email_sent", direction="outbound", occurred_at=T0
    )
    InteractionFactory(customer=ann, channel=channel("web"), occurred_at=T0)
    InteractionFactory(
        customer=ann,
        channel=channel("email"),
        type="email_sent",
        direction="outbound",
        occurred_at=T0 - timedelta(days=30),
    )
    query = {
        "customer": ann.pk,
        "channel": "email",
        "type": "email_sent",
        "direction": "outbound",
        "since": (T0 - timedelta(days=1)).isoformat(),
        "until": (T0 + timedelta(days=1)).isoformat(),
    }
    response = reader.get("/api/v1/interactions/", query)
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [hit.pk]


@pytest.mark.parametrize(
    "query",
    [
        {"since": "soon"},
        {"until": "2026-13-01"},
        {"direction": "up"},
        {"customer": "x"},
        {"customer": str(2**70)},
        {"customer": "\u00b2"},
        {"since": "0001-01-01T00:00:00+14:00"},
        {"cursor": "garbage"},
    ],
)
def test_bad_list_parameters_are_4xx_not_500(reader, query):
    response = reader.get("/api/v1/interactions/", query)
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_list_pages_with_a_cursor_in_arrival_order(reader):
    rows = [InteractionFactory(occurred_at=T0 - timedelta(days=n % 3)) for n in range(5)]
    seen, url = [], "/api/v1/interactions/?page_size=2"
    while url:
        body = reader.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted((r.pk for r in rows), reverse=True)


def test_timeline_pages_with_a_cursor_newest_first_ties_by_id(reader):
    ann = CustomerFactory()
    rows = [InteractionFactory(customer=ann, occurred_at=T0 + timedelta(minutes=n)) for n in range(5)]
    rows.append(InteractionFactory(customer=ann, occurred_at=T0 + timedelta(minutes=4)))  # tie, higher id
    seen, url = [], f"/api/v1/customers/{ann.pk}/timeline/?page_size=2"
    while url:
        body = reader.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    expected = sorted(rows, key=lambda r: (r.occurred_at, r.pk), reverse=True)
    assert seen == [r.pk for r in expected]


def test_list_needs_customers_read(ingest):
    assert ingest.get("/api/v1/interactions/").status_code == 403


def test_timeline_is_newest_first_and_follows_merged_ids(reader):
    survivor = CustomerFactory()
    merged = CustomerFactory(merged_into=survivor)
    old = InteractionFactory(customer=survivor, occurred_at=T0)
    new = InteractionFactory(customer=survivor, occurred_at=T0 + timedelta(hours=1))
    InteractionFactory(occurred_at=T0)
    for customer_id in (survivor.pk, merged.pk):
        response = reader.get(f"/api/v1/customers/{customer_id}/timeline/")
        assert response.status_code == 200
        assert [r["id"] for r in response.json()["results"]] == [new.pk, old.pk]
    filtered = reader.get(f"/api/v1/customers/{survivor.pk}/timeline/", {"since": "2026-10-01T10:30:00Z"})
    assert [r["id"] for r in filtered.json()["results"]] == [new.pk]


def test_timeline_of_unknown_customer_is_404(reader):
    assert reader.get("/api/v1/customers/99999/timeline/").status_code == 404
    assert reader.get(f"/api/v1/customers/{2**70}/timeline/").status_code == 404


def test_timeline_query_count_is_constant(reader, django_assert_max_num_queries):
    ann = CustomerFactory()
    InteractionFactory.create_batch(2, customer=ann)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        reader.get(f"/api/v1/customers/{ann.pk}/timeline/")
    InteractionFactory.create_batch(30, customer=ann, channel=channel("email"))
    with django_assert_max_num_queries(len(ctx.captured_queries)):
        assert len(reader.get(f"/api/v1/customers/{ann.pk}/timeline/").json()["results"]) == 32


def test_purge_task_deletes_only_expired_idempotency_keys(ingest):
    from interactions.tasks import purge_idempotency_keys

    ann = CustomerFactory()
    ingest.post(SINGLE, item(ann, 1), format="json", HTTP_IDEMPOTENCY_KEY="old")
    ingest.post(SINGLE, item(ann, 2), format="json", HTTP_IDEMPOTENCY_KEY="new")
    IdempotencyKey.objects.filter(key="old").update(created_at=datetime.now(UTC) - timedelta(hours=25))
    assert purge_idempotency_keys() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_throttled_client_gets_429_in_the_common_error_format(ingest):
    ingest.api_client.throttle_rate = "1/min"
    ingest.api_client.save(update_fields=["throttle_rate"])
    ann = CustomerFactory()
    assert ingest.post(BATCH, {"items": [item(ann, 1)]}, format="json").status_code == 200
    response = ingest.post(BATCH, {"items": [item(ann, 2)]}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
