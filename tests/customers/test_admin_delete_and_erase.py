"""Admins delete or erase customers in the admin (deleting once failed on the consent ledger)."""

import pytest

from audit.models import AuditEvent
from customers.merging import merge_customers
from customers.models import Consent, Customer, ErasureRequest, MergeEvent
from interactions.models import Interaction
from tests.factories import CustomerFactory, IdentityFactory, InteractionFactory

pytestmark = pytest.mark.django_db


def with_history(customer):
    IdentityFactory(customer=customer)
    Consent.objects.create(
        customer=customer, channel="email", purpose="marketing", granted=True, captured_at="2026-01-01T00:00Z"
    )
    InteractionFactory(customer=customer)
    return customer


@pytest.mark.parametrize("role", ["Admin"])
def test_admin_deletes_a_customer_with_consents_and_merge_history(client, make_user, role):
    admin = make_user(role)
    client.force_login(admin)
    survivor, merged = with_history(CustomerFactory()), with_history(CustomerFactory())
    merge_customers(survivor=survivor, merged=merged)
    other = with_history(CustomerFactory())
    url = f"/admin/customers/customer/{survivor.pk}/delete/"
    confirm = client.get(url)
    assert confirm.status_code == 200
    page = confirm.content.decode()
    assert "lacks permission" not in page and "would require deleting the following protected" not in page
    response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Customer.objects.filter(pk__in=[survivor.pk, merged.pk]).exists()
    assert not MergeEvent.objects.exists()
    assert not Consent.objects.filter(customer_id__in=[survivor.pk, merged.pk]).exists()
    assert (
        Interaction.objects.filter(customer=other).count() == 1
        and Customer.objects.filter(pk=other.pk).exists()
    )
    deleted = sorted(
        AuditEvent.objects.filter(action="customer.delete").values_list("customer_id", flat=True)
    )
    assert deleted == sorted([survivor.pk, merged.pk])


def test_admin_deletes_selected_customers_with_the_bulk_action(client, make_user):
    client.force_login(make_user("Admin"))
    a, b = with_history(CustomerFactory()), with_history(CustomerFactory())
    response = client.post(
        "/admin/customers/customer/",
        {"action": "delete_selected", "_selected_action": [a.pk, b.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Customer.objects.filter(pk__in=[a.pk, b.pk]).exists()


def test_admin_erases_selected_customers_with_a_reason(
    client, make_user, celery_eager, django_capture_on_commit_callbacks
):
    admin = make_user("Admin")
    client.force_login(admin)
    a, b = with_history(CustomerFactory()), with_history(CustomerFactory())
    start = client.post(
        "/admin/customers/customer/", {"action": "erase_selected", "_selected_action": [a.pk, b.pk]}
    )
    assert start.status_code == 302
    form = client.get(start["Location"])
    assert form.status_code == 200 and "cannot be undone" in form.content.decode()
    refused = client.post(
        "/admin/customers/customer/erase/", {"ids": f"{a.pk},{b.pk}", "confirm": "1", "reason": ""}
    )
    assert refused.status_code == 200 and not ErasureRequest.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            "/admin/customers/customer/erase/", {"ids": f"{a.pk},{b.pk}", "confirm": "1", "reason": "REF-5"}
        )
    assert done.status_code == 302
    assert list(
        ErasureRequest.objects.order_by("customer_id").values_list("customer_id", "status", "requested_by")
    ) == [
        (a.pk, "done", admin.username),
        (b.pk, "done", admin.username),
    ]
    assert set(Customer.objects.filter(pk__in=[a.pk, b.pk]).values_list("first_name", flat=True)) == {""}
    assert client.get("/admin/customers/erasurerequest/").status_code == 200


def test_marketers_can_neither_delete_nor_erase(client, make_user):
    client.force_login(make_user("Marketer"))
    customer = with_history(CustomerFactory())
    assert client.post(f"/admin/customers/customer/{customer.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get(f"/admin/customers/customer/erase/?ids={customer.pk}").status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()
