import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from customers.merging import merge_customers
from customers.models import Customer, Identity, ImportRun, MergeEvent
from tests.factories import CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/customers/customer/"


def test_admin_search_finds_customers_by_any_identity(admin_web_client):
    target = CustomerFactory(first_name="Zoe", email="")
    IdentityFactory(customer=target, kind="phone", value="+442079460018")
    IdentityFactory(customer=target, kind="external_id", namespace="crm", value="CRM-77")
    CustomerFactory(first_name="Other")
    for term in ("020 7946 0018", "CRM-77"):
        response = admin_web_client.get(CHANGELIST, {"q": term})
        assert response.status_code == 200
        assert list(response.context["cl"].result_list) == [target], term


def test_merge_action_previews_then_merges(admin_web_client):
    a = CustomerFactory(first_name="Ann", last_name="")
    b = CustomerFactory(first_name="Ann", last_name="Lee")
    IdentityFactory(customer=b, kind="email", value="b@example.org")
    response = admin_web_client.post(
        CHANGELIST, {"action": "merge_selected", "_selected_action": [a.pk, b.pk]}
    )
    assert response.status_code == 302 and "/merge/?ids=" in response["Location"]
    preview = admin_web_client.get(response["Location"])
    assert preview.status_code == 200
    assert b"b@example.org" in preview.content and b"Keep #" in preview.content
    labels = [label for label, _, _ in preview.context["rows"]]
    assert len(labels) == len(set(labels)) and labels.count("lifecycle stage") == 1
    assert not MergeEvent.objects.exists()
    done = admin_web_client.post(
        "/admin/customers/customer/merge/",
        {"ids": f"{a.pk},{b.pk}", "survivor": b.pk, "reason": "same", "confirm": "Merge"},
    )
    assert done.status_code == 302
    event = MergeEvent.objects.get()
    assert (event.survivor_id, event.merged_id, event.reason) == (b.pk, a.pk, "same")


def test_merge_action_needs_exactly_two(admin_web_client):
    customers = CustomerFactory.create_batch(3)
    response = admin_web_client.post(
        CHANGELIST, {"action": "merge_selected", "_selected_action": [c.pk for c in customers]}, follow=True
    )
    assert b"Select exactly two customers" in response.content


def test_marketer_cannot_merge(marketer_client):
    a, b = CustomerFactory(), CustomerFactory()
    response = marketer_client.post(
        "/admin/customers/customer/merge/", {"ids": f"{a.pk},{b.pk}", "confirm": "Merge"}
    )
    assert response.status_code == 403
    assert not MergeEvent.objects.exists()
    assert marketer_client.get("/admin/customers/customer/import/").status_code == 403


def test_unmerge_button_restores_the_customer(admin_web_client):
    a, b = CustomerFactory(), CustomerFactory()
    IdentityFactory(customer=b, kind="email", value="b@example.org")
    event = merge_customers(survivor=a, merged=b)
    listing = admin_web_client.get("/admin/customers/mergeevent/")
    assert b"Unmerge" in listing.content
    url = f"/admin/customers/mergeevent/{event.pk}/unmerge/"
    assert admin_web_client.get(url).status_code == 200
    response = admin_web_client.post(url)
    assert response.status_code == 302
    b.refresh_from_db()
    assert b.merged_into_id is None
    assert Identity.objects.get(value="b@example.org").customer_id == b.pk


def test_admin_import_and_export(admin_web_client):
    upload = SimpleUploadedFile("c.csv", b"email,phone,first_name\nann@example.org,bad,Ann\n", "text/csv")
    response = admin_web_client.post("/admin/customers/customer/import/", {"file": upload, "source": "crm"})
    assert response.status_code == 200
    assert b"1 created" in response.content and b"bad" in response.content
    assert Customer.objects.get().first_name == "Ann"
    assert ImportRun.objects.get().rejected_values == 1
    export = admin_web_client.get("/admin/customers/customer/export/")
    body = b"".join(export.streaming_content).decode()
    assert "ann@example.org" in body


def test_data_quality_report_in_admin_and_command(admin_web_client):
    CustomerFactory(first_name="Ann", last_name="Lee", attributes={"postcode": "LS1 1AA"})
    CustomerFactory(first_name="ann ", last_name="LEE", attributes={"postcode": "ls1 1aa"})
    flagged = IdentityFactory(kind="email", value="family@example.org", is_flagged=True)
    page = admin_web_client.get("/admin/customers/customer/data-quality/")
    assert page.status_code == 200
    findings = {f.key: f for f in page.context["findings"]}
    assert findings["likely_duplicates"].count == 1
    assert findings["identities_over_limit"].count == 1
    assert findings["no_contactable_identity"].count == 2  # the two Ann Lees have no email/phone identity
    out = io.StringIO()
    call_command("data_quality", "--json", stdout=out)
    report = {f["key"]: f for f in json.loads(out.getvalue())}
    assert report["identities_over_limit"]["sample"][0]["customer_id"] == flagged.customer_id
