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


def test_the_360_panel_names_a_message_s_campaign(agent_client):
    from outreach.models import Campaign
    from segments.models import Segment, SegmentKind
    from tests.factories import MessageFactory

    segment = Segment.objects.create(slug="spring", name="Spring", kind=SegmentKind.STATIC)
    spring = Campaign.objects.create(
        name="Spring sale", segment=segment, channel="email", purpose="marketing", body_text="Hi"
    )
    customer = CustomerFactory()
    MessageFactory(customer=customer, campaign=spring, subject="From the campaign")
    MessageFactory(customer=customer, subject="On its own")
    page = agent_client.get(f"/customers/{customer.pk}/").content.decode()
    assert "marketing · Spring sale" in page
    assert page.count(" · Spring sale") == 1


def test_campaign_api_create_send_results(api_client_with, consenting):
    from segments.models import Segment, SegmentKind
    from segments.services import add_members

    api = api_client_with("campaigns:write", "campaigns:read")
    customers = [consenting(CustomerFactory(), "email") for _ in range(4)]
    segment = Segment.objects.create(slug="lapsed", name="Lapsed", kind=SegmentKind.STATIC, rules={})
    add_members(segment=segment, customer_ids=[c.pk for c in customers])
    created = api.post(
        "/api/v1/campaigns/",
        {
            "name": "Win back",
            "segment": "lapsed",
            "channel": "email",
            "purpose": "marketing",
            "subject": "Hi",
            "body": "We miss you, {first_name}",
            "holdout_percent": 25,
            "conversion": {"events": {"type": "order"}, "within_days": 14},
        },
    )
    assert created.status_code == 201, created.json()
    campaign = created.json()
    assert (campaign["segment"], campaign["holdout_percent"], campaign["conversion"]) == (
        "lapsed",
        25.0,
        {"events": {"type": "order"}, "within_days": 14},
    )
    sent = api.post(f"/api/v1/campaigns/{campaign['id']}/send/")
    assert sent.status_code == 202 and sent.json()["status"] == "sent" and sent.json()["decided"] == 4
    results = api.get(f"/api/v1/campaigns/{campaign['id']}/results/").json()
    assert results["audience"] == 4 and results["treated"] + results["holdout"] == 4
    assert set(results["blocked"]) == {"consent", "quiet_hours", "frequency_cap", "unreachable"}
    assert set(results["lift"]) == {"absolute", "relative", "ci95", "p_value"}
    assert results["conversions"] == {"treated": 0, "holdout": 0}
    rates = api.get("/api/v1/campaigns/response-rates/?segment=lapsed").json()["rates"]
    assert [r["channel"] for r in rates] == ["email"]
    listed = api.get("/api/v1/campaigns/").json()
    assert [c["id"] for c in listed["results"]] == [campaign["id"]]


def test_campaign_api_errors_and_scopes(api_client_with):
    api = api_client_with("campaigns:write", "campaigns:read")
    body = {"name": "x", "segment": "nope", "channel": "email", "body": "x"}
    missing = api.post("/api/v1/campaigns/", body)
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "segment"
    from segments.models import Segment

    Segment.objects.create(slug="s", name="S", kind="static", rules={})
    bad = api.post("/api/v1/campaigns/", dict(body, segment="s", conversion={"events": {"type": 5}}))
    assert bad.status_code == 400 and bad.json()["error"]["field"].startswith("conversion.events")
    too_big = api.post("/api/v1/campaigns/", dict(body, segment="s", holdout_percent=95))
    assert too_big.status_code == 400 and too_big.json()["error"]["field"] == "holdout_percent"
    assert api.get("/api/v1/campaigns/999/results/").status_code == 404
    reader = api_client_with("campaigns:read")
    assert reader.post("/api/v1/campaigns/", body).status_code == 403
    assert api_client_with("messages:read").get("/api/v1/campaigns/").status_code == 403


def test_campaign_api_next_best_channel(api_client_with, consenting):
    from segments.models import Segment, SegmentKind
    from segments.services import add_members

    api = api_client_with("campaigns:write", "campaigns:read")
    by_mail = consenting(CustomerFactory(phone="+447700900301"), "email")
    by_text = consenting(CustomerFactory(phone="+447700900302"), "sms")
    segment = Segment.objects.create(slug="mixed", name="Mixed", kind=SegmentKind.STATIC, rules={})
    add_members(segment=segment, customer_ids=[by_mail.pk, by_text.pk, CustomerFactory().pk])
    body = {
        "name": "Either way",
        "segment": "mixed",
        "channel": "next_best",
        "body": "Hi",
        "holdout_percent": 0,
    }
    unknown = api.post("/api/v1/campaigns/", dict(body, channel="pigeon"))
    assert unknown.status_code == 400 and unknown.json()["error"]["field"] == "channel"
    assert "next_best" in unknown.json()["error"]["message"]
    created = api.post("/api/v1/campaigns/", body)
    assert created.status_code == 201 and created.json()["channel"] == "next_best"
    sent = api.post(f"/api/v1/campaigns/{created.json()['id']}/send/").json()
    assert (sent["decided"], sent["messages"], sent["channels"]) == (3, 2, {"email": 1, "sms": 1})
    results = api.get(f"/api/v1/campaigns/{created.json()['id']}/results/").json()
    assert results["blocked"]["consent"] == 1 and results["reachable"] == 2
    assert [(row["channel"], row["treated"], row["holdout"]) for row in results["channels"]] == [
        ("email", 1, 0),
        ("sms", 1, 0),
    ]
    rates = api.get("/api/v1/campaigns/response-rates/?segment=mixed&channel=sms").json()["rates"]
    assert [(r["channel"], r["treated"]) for r in rates] == [("sms", 1)]
