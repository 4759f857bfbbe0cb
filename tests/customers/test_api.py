import csv
import io

import pytest
from django.test import Client

from customers.merging import merge_customers
from customers.models import Consent, Customer, Identity, MergeEvent
from tests.factories import BusinessUnitFactory, CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db

RESOLVE = "/api/v1/customers/resolve/"


@pytest.fixture
def writer(api_client_with):
    return api_client_with("customers:read", "customers:write")


@pytest.fixture
def reader(api_client_with):
    return api_client_with("customers:read")


def test_resolve_creates_then_finds_and_reports_merges(writer):
    body = {
        "identities": [
            {"kind": "email", "value": " Ann.Lee@Example.com"},
            {"kind": "external_id", "namespace": "bu_retail", "value": "R-1"},
            {"kind": "phone", "value": "+44 20 7946 0018"},
        ],
        "traits": {"first_name": "Ann", "plan": "gold"},
    }
    created = writer.post(RESOLVE, body, format="json")
    assert created.status_code == 201, created.json()
    data = created.json()
    assert data["email"] == "ann.lee@example.com" and data["phone"] == "+442079460018"
    assert data["first_name"] == "Ann" and data["attributes"] == {"plan": "gold"}
    assert data["merged_ids"] == []
    for key in (
        "id",
        "last_name",
        "lifecycle_stage",
        "business_units",
        "created_at",
        "updated_at",
        "last_seen_at",
    ):
        assert key in data

    found = writer.post(
        RESOLVE, {"identities": [{"kind": "email", "value": "ann.lee@example.com"}]}, format="json"
    )
    assert found.status_code == 200 and found.json()["id"] == data["id"]

    other = IdentityFactory(kind="email", value="annie@example.org").customer
    merged = writer.post(
        RESOLVE,
        {
            "identities": [
                {"kind": "email", "value": "annie@example.org"},
                {"kind": "phone", "value": "02079460018"},
            ]
        },
        format="json",
    )
    assert merged.status_code == 200
    assert merged.json()["id"] == data["id"]
    assert merged.json()["merged_ids"] == [other.pk]


@pytest.mark.parametrize(
    "identities, field",
    [
        ([{"kind": "phone", "value": "12"}], "identities[0].value"),
        (
            [{"kind": "email", "value": "a@example.org"}, {"kind": "external_id", "value": "R-1"}],
            "identities[1].namespace",
        ),
        ([{"kind": "fax", "value": "1"}], "identities[0].kind"),
        ([{"kind": "email", "value": "not-an-email"}], "identities[0].value"),
        ([], "identities"),
    ],
)
def test_resolve_rejects_bad_identities_naming_the_field(writer, identities, field):
    response = writer.post(RESOLVE, {"identities": identities}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == field and error["message"]
    assert not Customer.objects.exists()


def test_resolve_rejects_unknown_lifecycle_trait(writer):
    response = writer.post(
        RESOLVE,
        {
            "identities": [{"kind": "email", "value": "a@example.org"}],
            "traits": {"lifecycle_stage": "zombie"},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "traits.lifecycle_stage"
    assert not Customer.objects.exists()


def test_scopes_are_enforced(api_client_with, client):
    reader = api_client_with("customers:read")
    ingest_only = api_client_with("ingest:write")
    customer = CustomerFactory()
    assert client.get("/api/v1/customers/").status_code in (401, 403)
    assert reader.get("/api/v1/customers/").status_code == 200
    assert ingest_only.get("/api/v1/customers/").status_code == 403
    denied = reader.post(
        RESOLVE, {"identities": [{"kind": "email", "value": "a@example.org"}]}, format="json"
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["message"] == "Missing scope: customers:write."
    assert reader.post(f"/api/v1/customers/{customer.pk}/consents/", {}, format="json").status_code == 403
    assert (
        reader.patch(f"/api/v1/customers/{customer.pk}/", {"first_name": "X"}, format="json").status_code
        == 403
    )


def test_roles_map_to_scopes_for_session_users(agent_user, marketer_user):
    agent_client, marketer_client = Client(), Client()
    agent_client.force_login(agent_user)
    marketer_client.force_login(marketer_user)
    body = {"identities": [{"kind": "email", "value": "a@example.org"}]}
    assert agent_client.post(RESOLVE, body, content_type="application/json").status_code == 201
    assert marketer_client.get("/api/v1/customers/").status_code == 200
    assert marketer_client.post(RESOLVE, body, content_type="application/json").status_code == 403


def test_list_filters(reader):
    retail = BusinessUnitFactory(code="retail")
    ann = CustomerFactory(first_name="Ann", last_name="Lee", email="ann@example.org")
    ann.business_units.add(retail)
    IdentityFactory(customer=ann, kind="phone", value="+442079460018")
    IdentityFactory(customer=ann, kind="external_id", namespace="crm", value="C-7")
    bob = CustomerFactory(first_name="Bob", last_name="Stone", email="bob@example.org")
    IdentityFactory(customer=bob, kind="email", value="bobby@example.org")
    IdentityFactory(customer=bob, kind="external_id", namespace="shop", value="C-7")

    def ids(query):
        response = reader.get("/api/v1/customers/" + query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids("?email=ANN@example.org") == [ann.pk]
    assert ids("?email=bobby@example.org") == [bob.pk]
    assert ids("?phone=020 7946 0018") == [ann.pk]
    assert ids("?external_id=C-7&namespace=shop") == [bob.pk]
    assert sorted(ids("?external_id=C-7")) == sorted([ann.pk, bob.pk])
    assert ids("?business_unit=retail") == [ann.pk]
    assert ids("?q=stone") == [bob.pk]
    assert ids("?q=ann lee") == [ann.pk]
    assert sorted(ids("")) == sorted([ann.pk, bob.pk])


def test_list_rejects_bad_filters(reader):
    response = reader.get("/api/v1/customers/?email=nope")
    assert response.status_code == 400 and response.json()["error"]["field"] == "email"
    response = reader.get("/api/v1/customers/?segment=no-such-segment")
    assert response.status_code == 400 and response.json()["error"]["field"] == "segment"


def test_list_paginates_with_constant_queries(reader, django_assert_max_num_queries):
    unit = BusinessUnitFactory(code="retail")
    for customer in CustomerFactory.create_batch(30):
        customer.business_units.add(unit)
    with django_assert_max_num_queries(6):
        response = reader.get("/api/v1/customers/?page_size=25")
    body = response.json()
    assert len(body["results"]) == 25 and body["next"]
    assert body["results"][0]["business_units"] == ["retail"]


def test_merged_id_redirects_to_survivor_with_308(reader):
    survivor, merged = CustomerFactory(), CustomerFactory()
    merge_customers(survivor=survivor, merged=merged)
    response = reader.get(f"/api/v1/customers/{merged.pk}/")
    assert response.status_code == 308
    assert response["Location"].endswith(f"/api/v1/customers/{survivor.pk}/")
    follow = reader.get(f"/api/v1/customers/{merged.pk}/identities/")
    assert follow.status_code == 308 and follow["Location"].endswith(f"/customers/{survivor.pk}/identities/")
    assert reader.get(f"/api/v1/customers/{survivor.pk}/").json()["id"] == survivor.pk


def test_unknown_customer_is_a_json_404(reader):
    response = reader.get("/api/v1/customers/999999/")
    assert response.status_code == 404
    assert response.json()["error"]["code"]


def test_identities_list(reader):
    customer = CustomerFactory()
    IdentityFactory(customer=customer, kind="external_id", namespace="crm", value="C-1")
    rows = reader.get(f"/api/v1/customers/{customer.pk}/identities/").json()["results"]
    assert rows[0]["kind"] == "external_id" and rows[0]["namespace"] == "crm" and rows[0]["value"] == "C-1"
    assert "created_at" in rows[0]


def test_merge_and_unmerge_through_the_api(writer):
    a, b = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=b, kind="email", value="b@example.org")
    response = writer.post(
        f"/api/v1/customers/{a.pk}/merge/", {"other_id": b.pk, "reason": "dup"}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["id"] == a.pk and body["merged_ids"] == [b.pk]
    event = MergeEvent.objects.get(pk=body["merge_event_id"])
    assert event.rule == "manual" and event.reason == "dup"

    again = writer.post(f"/api/v1/customers/{a.pk}/merge/", {"other_id": b.pk}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_merged"
    history = writer.get(f"/api/v1/customers/{a.pk}/merges/").json()["results"]
    assert [h["id"] for h in history] == [event.pk]

    undone = writer.post(f"/api/v1/customers/{a.pk}/unmerge/", {"merge_event_id": event.pk}, format="json")
    assert undone.status_code == 200 and undone.json()["id"] == b.pk
    assert Identity.objects.get(value="b@example.org").customer_id == b.pk
    twice = writer.post(f"/api/v1/customers/{a.pk}/unmerge/", {"merge_event_id": event.pk}, format="json")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "cannot_unmerge"


def test_merge_errors(writer):
    a = CustomerFactory()
    missing = writer.post(f"/api/v1/customers/{a.pk}/merge/", {"other_id": 999999}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["field"] == "other_id"
    itself = writer.post(f"/api/v1/customers/{a.pk}/merge/", {"other_id": a.pk}, format="json")
    assert itself.status_code == 400 and itself.json()["error"]["code"] == "merge_not_allowed"
    bad = writer.post(f"/api/v1/customers/{a.pk}/merge/", {"other_id": "x"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "other_id"
    unknown_event = writer.post(f"/api/v1/customers/{a.pk}/unmerge/", {"merge_event_id": 5}, format="json")
    assert unknown_event.status_code == 400 and unknown_event.json()["error"]["field"] == "merge_event_id"


def test_consents_append_to_the_ledger_and_show_current_state(writer):
    customer = CustomerFactory()
    url = f"/api/v1/customers/{customer.pk}/consents/"
    first = {
        "channel": "email",
        "purpose": "marketing",
        "granted": True,
        "source": "web_form",
        "evidence": "box",
    }
    assert writer.post(url, first, format="json").status_code == 201
    second = {**first, "granted": False, "source": "unsubscribe"}
    response = writer.post(url, second, format="json")
    assert response.status_code == 201 and response.json()["granted"] is False
    assert Consent.objects.filter(customer=customer).count() == 2
    body = writer.get(url).json()
    assert len(body["results"]) == 2
    assert body["current"] == [
        {
            "channel": "email",
            "purpose": "marketing",
            "granted": False,
            "captured_at": body["current"][0]["captured_at"],
        }
    ]
    bad = writer.post(url, {**first, "purpose": "spam"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "purpose"


def test_patch_updates_profile_and_preferences(writer):
    customer = CustomerFactory(attributes={"plan": "basic", "pet": "cat"})
    url = f"/api/v1/customers/{customer.pk}/"
    response = writer.patch(
        url,
        {
            "last_name": "Lee",
            "attributes": {"plan": "gold"},
            "preferred_channel": "sms",
            "timezone": "Europe/Paris",
            "quiet_hours_start": "21:00",
            "quiet_hours_end": "08:00",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["last_name"] == "Lee" and body["attributes"] == {"plan": "gold", "pet": "cat"}
    assert body["quiet_hours_start"] == "21:00:00" and body["timezone"] == "Europe/Paris"
    bad = writer.patch(url, {"timezone": "Mars/Olympus"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "timezone"
    half = writer.patch(url, {"quiet_hours_start": "22:00"}, format="json")
    assert half.status_code == 400


def test_create_customer_with_identities_and_conflict(writer):
    body = {"first_name": "Zed", "identities": [{"kind": "email", "value": "Zed@Example.org"}]}
    response = writer.post("/api/v1/customers/", body, format="json")
    assert response.status_code == 201 and response.json()["email"] == "zed@example.org"
    conflict = writer.post("/api/v1/customers/", body, format="json")
    assert conflict.status_code == 409 and conflict.json()["error"]["field"] == "identities"


def test_csv_export_streams_customers_with_identities(reader):
    customer = CustomerFactory(first_name="=cmd", email="a@example.org")
    IdentityFactory(customer=customer, kind="external_id", namespace="crm", value="C-1")
    response = reader.get("/api/v1/customers/export.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["id"] == str(customer.pk)
    assert rows[0]["first_name"] == "'=cmd"
    assert rows[0]["external_ids"] == "crm:C-1"
