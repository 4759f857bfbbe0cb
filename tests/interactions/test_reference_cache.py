"""Ingest keeps channels, business units, merge rules and the block list in memory between
batches (cxhub.refdata); any change to those tables reaches the next batch."""

import threading

import pytest
from django.db import connection, transaction
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext

from customers.merging import MergeRules
from customers.models import Identity, IdentityRule, MergeSettings
from interactions.models import Channel, Interaction
from interactions.services import active_channels, ingest_interactions
from tests.interactions.conftest import transactional_marker

REFERENCE_TABLES = (
    "interactions_channel",
    "customers_businessunit",
    "customers_mergesettings",
    "customers_identityrule",
    "customers_blockedidentityvalue",
)


def item(n: int, **fields) -> dict:
    return {
        "source": "shop",
        "external_id": f"ref-{n}",
        "channel": "web",
        "type": "page_view",
        "occurred_at": "2026-10-01T10:00:00Z",
        "customer": {"email": f"person{n}@example.com"},
        **fields,
    }


def ingest_one(n: int, **fields) -> dict:
    return ingest_interactions(items=[item(n, **fields)]).results[0]


def admin_form(instance, **changes) -> dict:
    """The admin change form's data for ``instance`` with ``changes`` (unchecked boxes left out)."""
    data = {**model_to_dict(instance), **changes}
    return {name: ("" if value is None else value) for name, value in data.items() if value is not False}


@pytest.mark.django_db
def test_a_second_batch_reads_only_the_version_of_the_reference_tables():
    assert ingest_one(1, business_unit="")["status"] == "created"
    with CaptureQueriesContext(connection) as queries:
        assert ingest_one(2)["status"] == "created"
    statements = [query["sql"] for query in queries.captured_queries]
    assert [s for s in statements if any(table in s for table in REFERENCE_TABLES)] == []
    assert sum("cxhub_referencedataversion" in s for s in statements) == 1


@pytest.mark.django_db
def test_a_channel_the_admin_deactivates_is_refused_by_the_next_batch(admin_web_client):
    assert ingest_one(1, channel="chat")["status"] == "created"
    chat = Channel.objects.get(code="chat")
    response = admin_web_client.post(
        f"/admin/interactions/channel/{chat.pk}/change/", admin_form(chat, active=False)
    )
    assert response.status_code == 302
    error = ingest_one(2, channel="chat")["error"]
    assert error["field"] == "channel"
    assert error["message"].startswith("channel: unknown channel; valid codes:")
    assert "chat" not in error["message"].split("valid codes:")[1]


@pytest.mark.django_db
def test_a_channel_the_admin_adds_is_accepted_by_the_next_batch(admin_web_client):
    assert ingest_one(1, channel="kiosk")["error"]["field"] == "channel"
    response = admin_web_client.post(
        "/admin/interactions/channel/add/",
        {"code": "kiosk", "name": "Kiosk", "is_digital": "on", "cost_per_interaction": "0", "active": "on"},
    )
    assert response.status_code == 302
    assert ingest_one(2, channel="kiosk")["status"] == "created"
    assert Interaction.objects.get(external_id="ref-2").channel.code == "kiosk"


@pytest.mark.django_db
def test_a_business_unit_the_admin_adds_is_accepted_by_the_next_batch(admin_web_client):
    assert ingest_one(1, business_unit="bu_kiosk")["error"]["field"] == "business_unit"
    response = admin_web_client.post(
        "/admin/customers/businessunit/add/", {"code": "bu_kiosk", "name": "Kiosks"}
    )
    assert response.status_code == 302
    assert ingest_one(2, business_unit="bu_kiosk")["status"] == "created"
    assert Interaction.objects.get(external_id="ref-2").business_unit.code == "bu_kiosk"


@pytest.mark.django_db
def test_a_value_the_admin_blocks_no_longer_finds_its_profile(admin_web_client):
    shared = {"email": "front.desk@example.com"}
    first = ingest_one(1, customer=shared)["id"]
    second = ingest_one(2, customer=shared)["id"]
    owner = Interaction.objects.get(pk=first).customer_id
    assert Interaction.objects.get(pk=second).customer_id == owner
    response = admin_web_client.post(
        "/admin/customers/blockedidentityvalue/add/", {"kind": "email", "value": "front.desk@example.com"}
    )
    assert response.status_code == 302
    third = ingest_one(3, customer=shared)["id"]
    assert Interaction.objects.get(pk=third).customer_id != owner


@pytest.mark.django_db
def test_an_identity_rule_the_admin_changes_applies_to_the_next_batch(admin_web_client):
    ingest_one(1, customer={"email": "ann@example.com", "anonymous_id": "anon-1"})
    ingest_one(2, customer={"email": "ann@example.com", "anonymous_id": "anon-2"})
    assert Identity.objects.filter(kind="anonymous_id").count() == 2  # no limit per profile yet
    rule = IdentityRule.objects.get(kind="anonymous_id", namespace="")
    response = admin_web_client.post(
        f"/admin/customers/identityrule/{rule.pk}/change/", admin_form(rule, max_per_customer=2)
    )
    assert response.status_code == 302
    ingest_one(3, customer={"email": "ann@example.com", "anonymous_id": "anon-3"})
    assert not Identity.objects.filter(value="anon-3").exists()  # over the new limit: not attached


@pytest.mark.django_db
def test_merge_settings_the_admin_changes_are_read_again(admin_web_client):
    settings = MergeSettings.objects.get(pk=1)
    assert MergeRules.cached().settings.auto_merge_enabled
    response = admin_web_client.post(
        "/admin/customers/mergesettings/1/change/", admin_form(settings, auto_merge_enabled=False)
    )
    assert response.status_code == 302
    assert MergeRules.cached().settings.auto_merge_enabled is False


@pytest.mark.django_db
def test_changes_that_bypass_the_models_reach_the_next_lookup():
    assert "chat" in active_channels()
    Channel.objects.filter(code="chat").update(active=False)  # no signal is sent
    assert "chat" not in active_channels()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE interactions_channel SET active = %s WHERE code = %s", [True, "chat"])
    assert "chat" in active_channels()
    Channel.objects.filter(code="chat").delete()
    assert "chat" not in active_channels()


@pytest.mark.django_db
def test_a_change_rolled_back_leaves_no_copy_for_a_later_change():
    with pytest.raises(RuntimeError), transaction.atomic():
        Channel.objects.create(code="pigeon", name="Pigeon")
        assert "pigeon" in active_channels()  # kept under the rolled-back change's version
        raise RuntimeError("roll back")
    assert "pigeon" not in active_channels()
    Channel.objects.create(code="carrier", name="Carrier")
    assert "carrier" in active_channels()
    assert "pigeon" not in active_channels()


@pytest.mark.postgres
@transactional_marker()
def test_a_change_committed_by_another_connection_reaches_this_process(seeded_channels):
    assert "chat" in active_channels()

    def deactivate():
        try:
            Channel.objects.filter(code="chat").update(active=False)
        finally:
            connection.close()

    worker = threading.Thread(target=deactivate)
    worker.start()
    worker.join()
    assert "chat" not in active_channels()
