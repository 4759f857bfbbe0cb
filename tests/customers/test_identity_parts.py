"""Identity parts with hidden characters are refused (never stored or dropped), and an identity
over the per-kind limit is reported in the answer and on the data-quality page."""

import pytest

from customers.data_quality import data_quality_report
from customers.identities import InvalidIdentity, normalize_identity
from customers.models import Customer, Identity, IdentityRejection, IdentityRule
from customers.services import resolve_customer

pytestmark = pytest.mark.django_db

RESOLVE = "/api/v1/customers/resolve/"


@pytest.mark.parametrize(
    ("kind", "namespace", "value", "field"),
    [
        ("external_id", "crm\x00", "R-1", "namespace"),
        ("external_id", "crm", "R-\x001", "external_id"),
        ("external_id", "c\u200brm", "R-1", "namespace"),
        ("anonymous_id", "", "\u200b", "anonymous_id"),
        ("anonymous_id", "", "anon\u200d1", "anonymous_id"),
        ("device_id", "", "dev\x07ice", "device_id"),
        ("device_id", "", "\ufeffdevice", "device_id"),
        ("email", "", "ann\u200b@example.com", "email"),
        ("external_id", "crm\u202e", "R-1", "namespace"),
    ],
)
def test_hidden_characters_in_identity_parts_are_refused(kind, namespace, value, field):
    with pytest.raises(InvalidIdentity) as raised:
        normalize_identity(kind, value, namespace)
    assert raised.value.field == field


def test_resolve_answers_400_and_retrying_creates_no_customer(api_client_with):
    api = api_client_with("customers:write")
    body = {"identities": [{"kind": "external_id", "namespace": "crm\u200b", "value": "R-1"}]}
    for _ in range(3):
        response = api.post(RESOLVE, body, format="json")
        assert response.status_code == 400, response.content
        assert response.json()["error"]["field"].endswith("namespace")
    nul = api.post(RESOLVE, {"identities": [{"kind": "external_id", "namespace": "crm\x00", "value": "R-1"}]})
    assert nul.status_code == 400
    assert not Customer.objects.exists()


def test_tracking_and_ingest_refuse_them_too(api_client_with):
    api = api_client_with("ingest:write")
    result = api.post(
        "/api/v1/interactions/batch/",
        {
            "items": [
                {
                    "channel": "web",
                    "type": "page_view",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "customer": {"anonymous_id": "a\u200bb"},
                }
            ]
        },
        format="json",
    ).json()
    assert result["results"][0]["status"] == "error"
    assert not Customer.objects.exists()


def test_an_identity_over_the_per_kind_limit_is_reported_and_listed(api_client_with):
    IdentityRule.objects.update_or_create(kind="email", namespace="", defaults={"max_per_customer": 1})
    api = api_client_with("customers:write")
    first = api.post(
        RESOLVE,
        {
            "identities": [
                {"kind": "external_id", "namespace": "crm", "value": "R-1"},
                {"kind": "email", "value": "ann@example.com"},
            ]
        },
        format="json",
    )
    assert first.status_code == 201 and "identities_not_attached" not in first.json()
    second = api.post(
        RESOLVE,
        {
            "identities": [
                {"kind": "external_id", "namespace": "crm", "value": "R-1"},
                {"kind": "email", "value": "ann.lee@work.example"},
            ]
        },
        format="json",
    )
    assert second.status_code == 200
    assert second.json()["identities_not_attached"] == [
        {"kind": "email", "namespace": "", "value": "ann.lee@work.example", "reason": "over_limit"}
    ]
    assert not Identity.objects.filter(value="ann.lee@work.example").exists()
    rejection = IdentityRejection.objects.get()
    assert (rejection.customer_id, rejection.value) == (first.json()["id"], "ann.lee@work.example")
    finding = next(f for f in data_quality_report() if f.key == "identities_not_attached")
    assert finding.count == 1 and finding.sample[0]["value"] == "ann.lee@work.example"


def test_the_data_quality_page_shows_identities_not_attached(admin_web_client):
    IdentityRule.objects.update_or_create(kind="email", namespace="", defaults={"max_per_customer": 1})
    resolve_customer(
        identities=[
            {"kind": "external_id", "namespace": "crm", "value": "R-1"},
            {"kind": "email", "value": "ann@example.com"},
        ]
    )
    result = resolve_customer(
        identities=[
            {"kind": "external_id", "namespace": "crm", "value": "R-1"},
            {"kind": "email", "value": "second@example.com"},
        ]
    )
    assert result.not_attached == [
        {"kind": "email", "namespace": "", "value": "second@example.com", "reason": "over_limit"}
    ]
    page = admin_web_client.get("/admin/customers/customer/data-quality/")
    assert page.status_code == 200
    assert (
        "Identities not attached" in page.content.decode() and "second@example.com" in page.content.decode()
    )


def test_a_blocked_value_is_reported_but_not_listed(api_client_with):
    api = api_client_with("customers:write")
    response = api.post(
        RESOLVE,
        {
            "identities": [
                {"kind": "email", "value": "test@example.com"},
                {"kind": "external_id", "namespace": "crm", "value": "R-9"},
            ]
        },
    )
    assert response.status_code == 201
    assert response.json()["identities_not_attached"] == [
        {"kind": "email", "namespace": "", "value": "test@example.com", "reason": "blocked"}
    ]
    assert not IdentityRejection.objects.exists()


def test_printable_text_holds_no_refused_character():
    """``_hidden_character`` answers printable text at once: no printable character is in a
    refused category, so that shortcut refuses exactly what the per-character scan refuses."""
    import sys
    import unicodedata

    refused = {"Cc", "Cf", "Cs", "Co", "Cn"}
    printable_refused = [
        cp
        for cp in range(sys.maxunicode + 1)
        if chr(cp).isprintable() and unicodedata.category(chr(cp)) in refused
    ]
    assert printable_refused == []
