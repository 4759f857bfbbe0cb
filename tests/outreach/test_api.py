"""POST /api/v1/messages/ and GET /api/v1/messages/{id}/: shapes, scopes, errors; the 360 panel and admin."""

import pytest

from customers.models import Identity
from outreach.models import Message
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_post_queues_or_blocks_and_get_shows_the_events(
    api_client_with, consenting, celery_eager, django_capture_on_commit_callbacks, mailoutbox
):
    api = api_client_with("messages:write", "messages:read")
    customer = consenting(CustomerFactory(), "email")
    body = {
        "customer_id": customer.pk,
        "channel": "email",
        "purpose": "marketing",
        "subject": "Hi",
        "body": "Hello",
        "idempotency_key": "order-1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post("/api/v1/messages/", body)
    assert answer.status_code == 202
    assert [m.to for m in mailoutbox] == [[customer.email]]  # delivered on commit (Django's test backend)
    assert answer.json() == {"id": answer.json()["id"], "status": "queued"}
    replay = api.post("/api/v1/messages/", body)
    assert replay.json()["id"] == answer.json()["id"] and Message.objects.count() == 1
    other = CustomerFactory()
    blocked = api.post("/api/v1/messages/", dict(body, customer_id=other.pk, idempotency_key="order-2"))
    assert blocked.status_code == 202 and blocked.json()["status"] == "blocked"
    assert blocked.json()["reason"] == "consent"
    shown = api.get(f"/api/v1/messages/{answer.json()['id']}/").json()
    assert (shown["customer_id"], shown["channel"], shown["purpose"], shown["status"]) == (
        customer.pk,
        "email",
        "marketing",
        "sent",
    )
    assert [e["status"] for e in shown["events"]] == ["queued", "sent"]


def test_customer_by_identity(api_client_with):
    api = api_client_with("messages:write")
    customer = CustomerFactory()
    Identity.objects.create(customer=customer, kind="email", value="ada@example.org")
    answer = api.post(
        "/api/v1/messages/",
        {
            "customer": {"email": " ADA@example.org"},
            "channel": "email",
            "purpose": "service",
            "body": "x",
            "idempotency_key": "k",
        },
    )
    assert answer.status_code == 202 and Message.objects.get().customer_id == customer.pk
    missing = api.post(
        "/api/v1/messages/",
        {
            "customer": {"email": "nobody@example.org"},
            "channel": "email",
            "purpose": "service",
            "body": "x",
            "idempotency_key": "k2",
        },
    )
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "customer"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "owl"}, "channel"),
        ({"purpose": "spam"}, "purpose"),
        ({"customer_id": 999999}, "customer_id"),
        ({"idempotency_key": None}, "idempotency_key"),
        ({"body": ""}, "body"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(api_client_with, change, field):
    api = api_client_with("messages:write")
    body = {
        "customer_id": CustomerFactory().pk,
        "channel": "email",
        "purpose": "service",
        "body": "x",
        "idempotency_key": "k",
    }
    body.update(change)
    answer = api.post("/api/v1/messages/", {k: v for k, v in body.items() if v is not None})
    assert answer.status_code in (400, 404)
    assert answer.json()["error"]["field"] == field


def test_scopes_and_roles(api_client_with, agent_user, marketer_user):
    from django.test import Client

    agent_client, marketer_client = Client(), Client()
    agent_client.force_login(agent_user)
    marketer_client.force_login(marketer_user)
    reader = api_client_with("messages:read")
    assert reader.post("/api/v1/messages/", {}).status_code == 403
    assert reader.get("/api/v1/messages/1/").status_code == 404
    assert api_client_with("customers:read").get("/api/v1/messages/1/").status_code == 403
    body = {
        "customer_id": CustomerFactory().pk,
        "channel": "email",
        "purpose": "service",
        "body": "x",
        "idempotency_key": "k",
    }
    assert agent_client.post("/api/v1/messages/", body, content_type="application/json").status_code == 403
    assert marketer_client.post("/api/v1/messages/", body, content_type="application/json").status_code == 202


def test_decisions_show_on_the_360_page_and_in_the_admin(agent_client, admin_web_client):
    from outreach.services import send_message

    customer = CustomerFactory()
    send_message(customer=customer, channel="email", purpose="marketing", subject="Spring offer", body="x")
    page = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert "Spring offer" in page and "No consent" in page
    listing = admin_web_client.get("/admin/outreach/message/?reason=consent").content.decode()
    assert "Spring offer" in listing
