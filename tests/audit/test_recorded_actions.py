"""Every read of a person's data and every change is appended to the audit log, by whom, with counts."""

import pytest

from audit.models import AuditEvent
from customers.merging import merge_customers
from segments.models import Segment
from segments.services import add_members
from tests.factories import CustomerFactory, IdentityFactory, InteractionFactory

pytestmark = pytest.mark.django_db


def events(**filters):
    return list(
        AuditEvent.objects.filter(**filters)
        .order_by("id")
        .values_list("action", "customer_id", "actor_label", "source", "row_count")
    )


def test_api_reads_of_a_person_are_recorded_with_the_client(api_client_with):
    reader = api_client_with("customers:read")
    name = reader.api_client.name
    customer = CustomerFactory()
    IdentityFactory(customer=customer)
    InteractionFactory(customer=customer)
    InteractionFactory(customer=customer)
    assert reader.get(f"/api/v1/customers/{customer.pk}/").status_code == 200
    assert reader.get(f"/api/v1/customers/{customer.pk}/identities/").status_code == 200
    assert reader.get(f"/api/v1/customers/{customer.pk}/consents/").status_code == 200
    assert reader.get(f"/api/v1/customers/{customer.pk}/timeline/").status_code == 200
    assert events(customer_id=customer.pk) == [
        ("customer.read", customer.pk, name, "api", None),
        ("customer.read", customer.pk, name, "api", None),
        ("customer.read", customer.pk, name, "api", None),
        ("customer.timeline", customer.pk, name, "api", 2),
    ]
    parts = [e.detail["part"] for e in AuditEvent.objects.filter(action="customer.read").order_by("id")]
    assert parts == ["profile", "identities", "consents"]
    assert AuditEvent.objects.get(action="customer.timeline").actor_client_id == reader.api_client.pk


def test_csv_export_of_customers_records_the_number_of_rows(api_client_with):
    reader = api_client_with("customers:read")
    CustomerFactory.create_batch(3)
    response = reader.get("/api/v1/customers/export.csv")
    body = b"".join(response.streaming_content).decode()
    assert len(body.strip().splitlines()) == 4  # header + 3
    assert events(action="customers.export_csv") == [
        ("customers.export_csv", None, reader.api_client.name, "api", 3)
    ]
    assert AuditEvent.objects.get(action="customers.export_csv").detail == {"complete": True}


def test_admin_csv_export_is_recorded_with_its_row_count(admin_web_client, admin_user):
    CustomerFactory.create_batch(2)
    response = admin_web_client.get("/admin/customers/customer/export/")
    b"".join(response.streaming_content)
    assert events(action="customers.export_csv") == [
        ("customers.export_csv", None, admin_user.username, "admin", 2)
    ]


def test_export_command_is_recorded(tmp_path):
    from django.core.management import call_command

    CustomerFactory.create_batch(2)
    call_command("export_customers", str(tmp_path / "out.csv"))
    assert events(action="customers.export_csv") == [("customers.export_csv", None, "system", "command", 2)]


def test_segment_members_csv_is_recorded_with_the_segment_and_row_count(api_client_with):
    client = api_client_with("segments:read", "segments:write")
    segment = Segment.objects.create(slug="pilot", name="Pilot", kind="static")
    add_members(segment=segment, customer_ids=[c.pk for c in CustomerFactory.create_batch(4)])
    response = client.get(f"/api/v1/segments/{segment.pk}/members.csv")
    assert len(b"".join(response.streaming_content).decode().strip().splitlines()) == 5
    event = AuditEvent.objects.get(action="segment.export_csv")
    assert (event.object_type, event.object_id, event.row_count) == ("segment", str(segment.pk), 4)
    assert event.detail == {"slug": "pilot", "complete": True}


def test_merge_and_unmerge_are_recorded_for_both_people(api_client_with):
    writer = api_client_with("customers:read", "customers:write")
    survivor, merged = CustomerFactory(), CustomerFactory()
    response = writer.post(f"/api/v1/customers/{survivor.pk}/merge/", {"other_id": merged.pk}, format="json")
    assert response.status_code == 200
    event_id = response.json()["merge_event_id"]
    writer.post(f"/api/v1/customers/{survivor.pk}/unmerge/", {"merge_event_id": event_id}, format="json")
    name = writer.api_client.name
    assert events(action__in=["customer.merge", "customer.unmerge"]) == [
        ("customer.merge", survivor.pk, name, "api", None),
        ("customer.merge", merged.pk, name, "api", None),
        ("customer.unmerge", survivor.pk, name, "api", None),
        ("customer.unmerge", merged.pk, name, "api", None),
    ]
    detail = AuditEvent.objects.filter(action="customer.merge").first()
    assert detail.detail == {"survivor": survivor.pk, "merged": merged.pk}
    assert detail.object_id == str(event_id)


def test_automatic_merges_are_recorded_as_the_system():
    a, b = CustomerFactory(), CustomerFactory()
    merge_customers(survivor=a, merged=b, rule="email")
    assert events(action="customer.merge") == [
        ("customer.merge", a.pk, "system", "task", None),
        ("customer.merge", b.pk, "system", "task", None),
    ]


def test_consent_changes_are_recorded_without_the_evidence_text(api_client_with):
    writer = api_client_with("customers:read", "customers:write")
    customer = CustomerFactory()
    body = {
        "channel": "email",
        "purpose": "marketing",
        "granted": False,
        "source": "phone call",
        "evidence": "Told the agent she never wants mail again",
    }
    assert writer.post(f"/api/v1/customers/{customer.pk}/consents/", body, format="json").status_code == 201
    event = AuditEvent.objects.get(action="consent.record")
    assert event.customer_id == customer.pk
    assert event.detail == {"channel": "email", "purpose": "marketing", "granted": False}


def test_profile_update_records_the_field_names_not_values(api_client_with):
    writer = api_client_with("customers:read", "customers:write")
    customer = CustomerFactory()
    response = writer.patch(f"/api/v1/customers/{customer.pk}/", {"first_name": "Zoë"}, format="json")
    assert response.status_code == 200
    assert AuditEvent.objects.get(action="customer.update").detail == {"fields": ["first_name"]}


def test_segment_edits_are_recorded(api_client_with):
    client = api_client_with("segments:read", "segments:write")
    created = client.post(
        "/api/v1/segments/",
        {"slug": "vip", "name": "VIP", "kind": "static", "refresh": "manual"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    segment_id = created.json()["id"]
    customer = CustomerFactory()
    client.patch(f"/api/v1/segments/{segment_id}/", {"name": "Very important"}, format="json")
    client.post(f"/api/v1/segments/{segment_id}/members/", {"customer_ids": [customer.pk]}, format="json")
    client.delete(f"/api/v1/segments/{segment_id}/members/{customer.pk}/")
    client.delete(f"/api/v1/segments/{segment_id}/")
    rows = list(
        AuditEvent.objects.filter(object_type="segment")
        .order_by("id")
        .values_list("action", "object_id", "detail")
    )
    assert rows == [
        ("segment.create", str(segment_id), {"slug": "vip"}),
        ("segment.update", str(segment_id), {"slug": "vip", "fields": ["name"]}),
        ("segment.members_add", str(segment_id), {"slug": "vip", "customers": [customer.pk]}),
        ("segment.members_remove", str(segment_id), {"slug": "vip", "customers": [customer.pk]}),
        ("segment.delete", str(segment_id), {"slug": "vip"}),
    ]


def test_segment_edit_in_the_admin_is_recorded(client, marketer_user):
    client.force_login(marketer_user)
    response = client.post(
        "/admin/segments/segment/add/",
        {
            "name": "Admin made",
            "slug": "admin-made",
            "description": "",
            "purpose": "other",
            "kind": "static",
            "refresh": "manual",
            "rules": "{}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="segment.create")
    assert (event.actor_label, event.source) == (marketer_user.username, "admin")
