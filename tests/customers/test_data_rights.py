"""Subject-access export and erasure, against a person with data in every table the product writes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record_audit
from customers.erasure import erase_customer, identity_hash, is_suppressed, person_profile_ids
from customers.merging import merge_customers
from customers.models import (
    Consent,
    Customer,
    DirtyCustomer,
    ErasureRequest,
    Identity,
    MergeEvent,
    SuppressedIdentity,
)
from customers.services import resolve_customer
from interactions.models import IdempotencyKey, Interaction
from journeys.models import (
    ActionAudit,
    AgentTask,
    Journey,
    JourneyException,
    JourneyInstance,
    WebhookDelivery,
    WebhookEndpoint,
)
from journeys.services import load_journey_templates
from metrics.models import FollowUpCase, SurveyResponse
from outreach.models import Message, MessageEvent, Suppression
from segments.models import Segment, SegmentMembership, SegmentMovement
from tests.factories import BusinessUnitFactory, CustomerFactory, InteractionFactory
from tests.metrics.helpers import make_survey

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 10, 5, 12, tzinfo=UTC)
SECRET_TEXT = "Ann said her husband Bob is ill"


def give_full_history(customer, *, email: str, phone: str, tag: str):
    """Rows about ``customer`` in every table that holds personal data."""
    Identity.objects.create(customer=customer, kind="email", value=email)
    Identity.objects.create(customer=customer, kind="phone", value=phone)
    Identity.objects.create(customer=customer, kind="external_id", namespace="shop", value=f"S-{tag}")
    Consent.objects.create(
        customer=customer,
        channel="email",
        purpose="marketing",
        granted=True,
        source="web_form",
        evidence=f"{SECRET_TEXT} ({tag})",
        captured_at=NOW,
    )
    customer.business_units.add(BusinessUnitFactory(code="retail"))
    interactions = [
        InteractionFactory(
            customer=customer,
            type="call",
            subject=f"Call about {tag}",
            summary=SECRET_TEXT,
            properties={"order_id": f"O-{tag}", "note": SECRET_TEXT},
            context={"ip": "203.0.113.7", "userAgent": "Firefox"},
            value="42.50",
            currency="EUR",
            occurred_at=NOW - timedelta(days=i),
        )
        for i in range(3)
    ]
    survey = make_survey("nps")
    response = SurveyResponse.objects.create(
        survey=survey, kind="nps", customer=customer, score=3, comment=SECRET_TEXT, responded_at=NOW
    )
    FollowUpCase.objects.create(
        response=response,
        customer=customer,
        opened_at=NOW,
        due_at=NOW + timedelta(days=1),
        outcome="Refund promised",
        message_to_customer=f"Dear {customer.first_name}, sorry",
    )
    segment, _ = Segment.objects.get_or_create(slug="pilot", defaults={"name": "Pilot", "kind": "static"})
    SegmentMembership.objects.create(segment=segment, customer=customer, since=NOW)
    SegmentMovement.objects.create(segment=segment, customer=customer, kind="entered", at=NOW)
    journey = Journey.objects.get(slug="order-to-cash")
    stage = journey.stages.order_by("position").first()
    instance = JourneyInstance.objects.create(
        journey=journey,
        customer=customer,
        correlation_value=f"O-{tag}",
        current_stage=stage,
        started_at=NOW,
        last_event_at=NOW,
        stage_entered_at=NOW,
    )
    exception = JourneyException.objects.create(
        instance=instance, kind="stalled", stage=stage, detected_at=NOW, resolution_note=SECRET_TEXT
    )
    AgentTask.objects.create(
        customer=customer,
        instance=instance,
        exception=exception,
        title=f"Call back {customer.first_name}",
        description=SECRET_TEXT,
    )
    ActionAudit.objects.create(
        at=NOW, kind="message", customer=customer, result="sent", reason=SECRET_TEXT, detail=SECRET_TEXT
    )
    endpoint, _ = WebhookEndpoint.objects.get_or_create(
        name="crm", defaults={"url": "https://crm.example.com/hook", "secret": "s"}
    )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="journey.entered",
        payload={"customer_id": customer.pk, "instance": {"correlation_value": f"O-{tag}"}},
    )
    IdempotencyKey.objects.create(
        owner="client:1",
        key=f"k-{tag}",
        request_hash="h",
        status_code=201,
        response_body={"id": interactions[0].pk, "customer_id": customer.pk, "summary": SECRET_TEXT},
        created_at=timezone.now(),
    )
    DirtyCustomer.objects.create(customer=customer, marked_at=NOW, reason="test")
    message = Message.objects.create(
        customer=customer,
        channel="email",
        purpose="marketing",
        to_address=email,
        subject=f"Hello {customer.first_name}",
        body_text=SECRET_TEXT,
        context={"first_name": customer.first_name},
        created_at=NOW,
        updated_at=NOW,
    )
    MessageEvent.objects.create(message=message, status="bounced", at=NOW, detail=f"550 unknown <{email}>")
    Suppression.objects.create(channel="email", address=email, reason="hard_bounce", message=message)
    record_audit(action="customer.view", customer_id=customer.pk)
    return interactions


@pytest.fixture
def journeys(db):
    load_journey_templates()


@pytest.fixture
def person(journeys):
    """Ann (survivor) with her older shop profile merged into her; both with a full history."""
    ann = CustomerFactory(
        first_name="Ann", last_name="Lee", email="ann@example.com", attributes={"plan": "gold"}
    )
    give_full_history(ann, email="ann@example.com", phone="+447700900001", tag="ann")
    old = CustomerFactory(first_name="Annie", last_name="Lee", email="annie@example.com")
    give_full_history(old, email="annie@example.com", phone="+447700900002", tag="old")
    merge_customers(survivor=ann, merged=old, reason=f"Same person: {SECRET_TEXT}")
    return ann, old


@pytest.fixture
def bystander(journeys):
    bob = CustomerFactory(first_name="Bob", last_name="Other", email="bob@example.com")
    give_full_history(bob, email="bob@example.com", phone="+447700900003", tag="bob")
    return bob


@pytest.fixture
def privacy_admin(api_client_with):
    return api_client_with("privacy:admin", "customers:read")


# --- subject access -----------------------------------------------------------


def test_export_holds_everything_on_the_person_and_their_merged_profile(person, bystander, privacy_admin):
    ann, old = person
    response = privacy_admin.get(f"/api/v1/customers/{ann.pk}/export/")
    assert response.status_code == 200
    data = response.json()
    assert data["customer_id"] == ann.pk
    # Survivorship gave Ann's profile the newer profile's name; the merged profile keeps its own.
    assert data["profile"]["id"] == ann.pk and data["profile"]["attributes"] == {"plan": "gold"}
    assert data["profile"]["last_name"] == "Lee"
    assert [(p["id"], p["first_name"]) for p in data["merged_profiles"]] == [(old.pk, "Annie")]
    assert sorted(i["value"] for i in data["identities"] if i["kind"] == "email") == [
        "ann@example.com",
        "annie@example.com",
    ]
    assert len(data["consents"]) == 2 and all(SECRET_TEXT in c["evidence"] for c in data["consents"])
    assert len(data["interactions"]) == 6
    assert {i["subject"] for i in data["interactions"]} == {"Call about ann", "Call about old"}
    assert [r["comment"] for r in data["survey_responses"]] == [SECRET_TEXT, SECRET_TEXT]
    assert len(data["follow_up_cases"]) == 2
    assert [m["segment__slug"] for m in data["segment_memberships"]] == ["pilot"]  # old's went on merge
    assert len(data["segment_movements"]) == 2
    assert {j["correlation_value"] for j in data["journeys"]} == {"O-ann", "O-old"}
    assert len(data["journey_exceptions"]) == 2 and len(data["agent_tasks"]) == 2
    assert len(data["journey_actions"]) == 2 and len(data["webhook_deliveries"]) == 2
    assert [m["merged_id"] for m in data["merges"]] == [old.pk]
    assert sorted(m["to_address"] for m in data["messages"]) == ["ann@example.com", "annie@example.com"]
    assert len(data["message_events"]) == 2 and len(data["suppressed_addresses"]) == 2
    assert sorted((u["customer_id"], u["businessunit__code"]) for u in data["business_units"]) == sorted(
        [(ann.pk, "retail"), (old.pk, "retail")]
    )
    viewed = [(a["action"], a["customer_id"]) for a in data["audit"] if a["action"] == "customer.view"]
    assert sorted(viewed) == sorted([("customer.view", ann.pk), ("customer.view", old.pk)])
    # Nothing of the bystander.
    assert "bob@example.com" not in response.content.decode()
    assert "O-bob" not in response.content.decode()


def test_export_is_audited_and_needs_the_privacy_scope(person, api_client_with):
    ann, _ = person
    assert (
        api_client_with("customers:read", "customers:write")
        .get(f"/api/v1/customers/{ann.pk}/export/")
        .status_code
        == 403
    )
    client = api_client_with("privacy:admin")
    assert client.get(f"/api/v1/customers/{ann.pk}/export/").status_code == 200
    event = AuditEvent.objects.get(action="customer.export")
    assert (event.customer_id, event.actor_client_id) == (ann.pk, client.api_client.pk)


def test_export_queries_do_not_grow_with_the_history(person, privacy_admin, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ann, _ = person
    with CaptureQueriesContext(connection) as first:
        privacy_admin.get(f"/api/v1/customers/{ann.pk}/export/")
    for i in range(30):
        InteractionFactory(customer=ann, occurred_at=NOW - timedelta(hours=i))
    with django_assert_max_num_queries(len(first.captured_queries)):
        assert len(privacy_admin.get(f"/api/v1/customers/{ann.pk}/export/").json()["interactions"]) == 36


def test_admin_downloads_the_export_from_the_360_page(person, client, make_user):
    ann, _ = person
    client.force_login(make_user("Admin"))
    page = client.get(f"/customers/{ann.pk}/").content.decode()
    assert f'href="/customers/{ann.pk}/export.json"' in page
    download = client.get(f"/customers/{ann.pk}/export.json")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="customer-{ann.pk}-export.json"'
    import json

    assert json.loads(download.content)["profile"]["attributes"] == {"plan": "gold"}
    assert AuditEvent.objects.filter(action="customer.export", customer_id=ann.pk, source="page").count() == 1


@pytest.mark.parametrize("role", ["Agent", "Marketer"])
def test_other_roles_neither_see_nor_get_the_export(person, client, make_user, role):
    ann, _ = person
    client.force_login(make_user(role))
    assert "export.json" not in client.get(f"/customers/{ann.pk}/").content.decode()
    assert client.get(f"/customers/{ann.pk}/export.json").status_code == 403


# --- erasure -------------------------------------------------------------------


@pytest.fixture
def erase(celery_eager, django_capture_on_commit_callbacks):
    """erase(client, customer_id, reason=...) -> the ErasureRequest, its task run (eagerly) on commit."""

    def run(client, customer_id: int, reason: str = "Request REF-1") -> ErasureRequest:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/v1/customers/{customer_id}/erase/", {"reason": reason}, format="json"
            )
        assert response.status_code == 202, response.json()
        return ErasureRequest.objects.get(pk=response.json()["request_id"])

    return run


def test_erasure_removes_the_personal_data_and_keeps_the_aggregates(person, bystander, privacy_admin, erase):
    ann, old = person
    request = erase(privacy_admin, ann.pk)
    request.refresh_from_db()  # the task ran eagerly on commit
    assert request.status == "done" and request.completed_at is not None
    assert sorted(request.customer_ids) == sorted([ann.pk, old.pk])
    ids = [ann.pk, old.pk]

    for profile in Customer.objects.filter(pk__in=ids):
        assert profile.erased_at is not None
        assert (profile.first_name, profile.last_name, profile.email, profile.phone) == ("", "", "", "")
        assert profile.attributes == {}
    assert not Identity.objects.filter(customer_id__in=ids).exists()
    assert not Consent.objects.filter(customer_id__in=ids).exists()
    assert not DirtyCustomer.objects.filter(customer_id__in=ids).exists()
    assert not IdempotencyKey.objects.filter(response_body__customer_id__in=ids).exists()

    kept = Interaction.objects.filter(customer_id__in=ids)
    assert kept.count() == 6  # counts and value stay
    assert set(kept.values_list("subject", "summary")) == {("", "")}
    assert all(i.properties == {} and i.context == {} for i in kept)
    assert sum(i.value for i in kept) == 255  # 6 × 42.50
    responses = SurveyResponse.objects.filter(customer_id__in=ids)
    assert sorted(responses.values_list("score", "comment")) == [(3, ""), (3, "")]
    assert set(
        FollowUpCase.objects.filter(customer_id__in=ids).values_list("outcome", "message_to_customer")
    ) == {("", "")}
    assert set(
        JourneyException.objects.filter(instance__customer_id__in=ids).values_list(
            "resolution_note", flat=True
        )
    ) == {""}
    assert set(AgentTask.objects.filter(customer_id__in=ids).values_list("title", "description")) == {
        ("(erased)", "")
    }
    assert set(ActionAudit.objects.filter(customer_id__in=ids).values_list("reason", "detail")) == {("", "")}
    assert WebhookDelivery.objects.filter(payload={"erased": True}).count() == 2
    messages = Message.objects.filter(customer_id__in=ids)
    assert messages.count() == 2  # caps and campaign results still count them
    assert set(messages.values_list("to_address", "subject", "body_text")) == {("", "", "")}
    assert all(m.context == {} for m in messages)
    events = MessageEvent.objects.filter(message__customer_id__in=ids)
    assert set(events.values_list("detail", flat=True)) == {""}
    assert not Suppression.objects.filter(address__in=["ann@example.com", "annie@example.com"]).exists()
    assert Suppression.objects.filter(address="bob@example.com").exists()
    event = MergeEvent.objects.get(survivor=ann)
    assert (event.reason, event.survivor_changes, event.removed) == ("", {}, {})
    assert SegmentMembership.objects.filter(customer_id=ann.pk).count() == 1  # segment size stays
    assert SegmentMovement.objects.filter(customer_id__in=ids).count() == 2
    assert JourneyInstance.objects.filter(customer_id__in=ids).count() == 2

    # No personal text of the person anywhere the export reads.
    from customers.subject_access import subject_access_export

    dump = str(subject_access_export(customer_id=ann.pk))
    for text in (SECRET_TEXT, "ann@example.com", "annie@example.com", "+447700900001", "Lee"):
        assert text not in dump

    # The bystander is untouched.
    bob = Customer.objects.get(pk=bystander.pk)
    assert (bob.first_name, bob.erased_at) == ("Bob", None)
    assert Identity.objects.filter(customer=bob).count() == 3
    assert Interaction.objects.filter(customer=bob, summary=SECRET_TEXT).count() == 3
    assert SurveyResponse.objects.get(customer=bob).comment == SECRET_TEXT
    assert WebhookDelivery.objects.filter(payload__customer_id=bob.pk).count() == 1


def test_erased_identities_are_suppressed_as_keyed_hashes(person, privacy_admin, erase):
    ann, _ = person
    erase(privacy_admin, ann.pk)
    assert SuppressedIdentity.objects.count() == 6
    assert SuppressedIdentity.objects.filter(
        value_hash=identity_hash("ann@example.com"), kind="email"
    ).exists()
    assert not SuppressedIdentity.objects.filter(value_hash__contains="example").exists()
    assert is_suppressed(kind="email", value="annie@example.com")
    assert is_suppressed(kind="external_id", namespace="shop", value="S-ann")
    assert is_suppressed(kind="external_id", namespace="shop", value="S-old")  # dropped by the merge
    assert not is_suppressed(kind="email", value="bob@example.com")


def test_reimport_of_an_erased_email_starts_a_fresh_profile(person, privacy_admin, erase):
    ann, _ = person
    erase(privacy_admin, ann.pk)
    again = resolve_customer(identities=[("email", "", "ann@example.com")], traits={"first_name": "Ann"})
    assert again.created is True
    fresh = Customer.objects.get(pk=again.customer_id)
    assert fresh.pk not in (ann.pk,) and fresh.erased_at is None
    assert not Interaction.objects.filter(customer=fresh).exists()
    assert not Consent.objects.filter(customer=fresh).exists()
    assert list(fresh.identities.values_list("value", flat=True)) == ["ann@example.com"]


def test_erased_customer_answers_410_in_the_common_format(person, privacy_admin, api_client_with, erase):
    ann, old = person
    erase(privacy_admin, ann.pk)
    reader = api_client_with("customers:read")
    for path in ("", "identities/", "consents/", "timeline/"):
        response = reader.get(f"/api/v1/customers/{ann.pk}/{path}")
        assert response.status_code == 410, path
        assert response.json()["error"]["code"] == "erased"
    # The merged-away id belongs to the same erased person: 410 too.
    assert reader.get(f"/api/v1/customers/{old.pk}/").status_code == 410
    assert privacy_admin.get(f"/api/v1/customers/{ann.pk}/export/").status_code == 410
    again = privacy_admin.post(f"/api/v1/customers/{ann.pk}/erase/", {"reason": "twice"}, format="json")
    assert again.status_code == 410
    listed = reader.get("/api/v1/customers/").json()["results"]
    assert ann.pk not in [c["id"] for c in listed]


def test_the_360_page_says_erased(person, privacy_admin, agent_client, erase):
    ann, _ = person
    erase(privacy_admin, ann.pk)
    response = agent_client.get(f"/customers/{ann.pk}/")
    assert response.status_code == 410
    assert "personal data was erased on" in response.content.decode()
    assert agent_client.get(f"/customers/{ann.pk}/timeline/").status_code == 410


def test_erasure_request_and_completion_are_recorded(person, privacy_admin, erase):
    ann, old = person
    request = erase(privacy_admin, ann.pk, reason="Ticket 77")
    request.refresh_from_db()
    assert request.reason == "Ticket 77" and request.requested_by == privacy_admin.api_client.name
    # One external id per source: the merge had dropped the old profile's shop id (kept in the event).
    assert request.summary["customers.Identity"] == 5
    assert request.summary["customers.SuppressedIdentity"] == 6
    assert request.summary["interactions.Interaction"] == 6
    assert request.summary["customers.Customer"] == 2
    actions = list(
        AuditEvent.objects.filter(object_type="erasure").order_by("id").values_list("action", "customer_id")
    )
    assert actions == [
        ("customer.erase_requested", ann.pk),
        ("customer.erased", ann.pk),
        ("customer.erased", old.pk),
    ]
    status = privacy_admin.get(f"/api/v1/erasures/{request.pk}/").json()
    assert status["status"] == "done" and sorted(status["customer_ids"]) == sorted([ann.pk, old.pk])
    assert "reason" not in status


def test_erasing_again_is_a_no_op(person, privacy_admin, erase):
    ann, _ = person
    request = erase(privacy_admin, ann.pk)
    request.refresh_from_db()
    completed = request.completed_at
    assert erase_customer(request_id=request.pk).completed_at == completed


def test_erase_needs_a_reason_and_the_scope(person, api_client_with, privacy_admin):
    ann, _ = person
    writer = api_client_with("customers:read", "customers:write")
    assert (
        writer.post(f"/api/v1/customers/{ann.pk}/erase/", {"reason": "x"}, format="json").status_code == 403
    )
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 2001}):
        response = privacy_admin.post(f"/api/v1/customers/{ann.pk}/erase/", body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["field"] == "reason"
    assert not ErasureRequest.objects.exists()
    assert (
        privacy_admin.post("/api/v1/customers/999999/erase/", {"reason": "x"}, format="json").status_code
        == 404
    )


def test_person_profile_ids_follows_merges_at_any_depth():
    a, b, c, d = CustomerFactory(), CustomerFactory(), CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=c.pk).update(merged_into=b)
    Customer.objects.filter(pk=b.pk).update(merged_into=a)
    assert sorted(person_profile_ids(a.pk)) == sorted([a.pk, b.pk, c.pk])
    assert person_profile_ids(d.pk) == [d.pk]


def test_a_lost_erasure_task_is_picked_up_by_the_sweep(person, django_capture_on_commit_callbacks):
    from customers.erasure import erase_pending, request_erasure

    ann, _ = person
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost the task
        request = request_erasure(customer=ann, reason="REF-9")
    assert ErasureRequest.objects.get(pk=request.pk).status == "queued"
    assert erase_pending() == 1
    assert ErasureRequest.objects.get(pk=request.pk).status == "done"
    assert Customer.objects.get(pk=ann.pk).erased_at is not None


def test_ingest_naming_an_erased_customer_id_is_refused_per_item(
    person, privacy_admin, erase, api_client_with
):
    ann, _ = person
    erase(privacy_admin, ann.pk)
    ingest = api_client_with("ingest:write")
    item = {"source": "shop", "channel": "web", "type": "page_view", "occurred_at": "2026-10-05T10:00:00Z"}
    body = {
        "items": [
            {**item, "external_id": "after-1", "customer_id": ann.pk},
            {**item, "external_id": "after-2", "customer": {"email": "ann@example.com"}},
        ]
    }
    response = ingest.post("/api/v1/interactions/batch/", body, format="json")
    assert response.status_code == 200
    first, second = response.json()["results"]
    assert first["status"] == "error" and first["error"]["code"] == "erased"
    assert first["error"]["field"] == "customer_id"
    assert second["status"] == "created"  # the e-mail alone starts a fresh profile
    assert Interaction.objects.get(pk=second["id"]).customer_id != ann.pk
    assert not Interaction.objects.filter(external_id="after-1").exists()
