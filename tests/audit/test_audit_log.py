"""The append-only audit log: the service, the database trigger, retention, the API and the admin."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEvent, AuditLogIsAppendOnly
from audit.services import NotAnAuditCode, purge_before, record_audit, record_audit_many
from cxhub.roles import ADMIN, AGENT, MARKETER, ROLE_SCOPES
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

AUDIT = "/api/v1/audit/"


def test_record_audit_names_a_user_a_client_or_the_system(agent_user, api_client_with):
    reader = api_client_with("customers:read")
    by_user = record_audit(action="customer.view", actor=agent_user, customer_id=7)
    by_client = record_audit(action="customer.read", actor=reader.api_client, customer_id=7)
    by_system = record_audit(action="customer.merge", customer_id=7)
    assert (by_user.actor_user_id, by_user.actor_client_id, by_user.actor_label) == (
        agent_user.pk,
        None,
        agent_user.username,
    )
    assert (by_client.actor_user_id, by_client.actor_client_id, by_client.actor_label) == (
        None,
        reader.api_client.pk,
        reader.api_client.name,
    )
    assert (by_system.actor_user_id, by_system.actor_client_id, by_system.actor_label) == (
        None,
        None,
        "system",
    )
    assert by_system.source == "task"


@pytest.mark.parametrize(
    "detail",
    [
        {"note": "called about her divorce"},
        {"email": "ann.lee@example.com"},
        {"nested": {"list": ["ok", "not ok"]}},
        {"bad key": 1},
        {"object": object()},
    ],
)
def test_audit_detail_refuses_free_text(detail):
    with pytest.raises(NotAnAuditCode):
        record_audit(action="customer.read", customer_id=1, detail=detail)
    assert not AuditEvent.objects.exists()


def test_audit_detail_keeps_ids_counts_and_codes():
    event = record_audit(
        action="segment.update",
        object_type="segment",
        object_id=3,
        detail={"slug": "gold-tier", "fields": ["rules", "name"], "customers": [1, 2], "complete": True},
    )
    event.refresh_from_db()
    assert event.detail == {
        "slug": "gold-tier",
        "fields": ["rules", "name"],
        "customers": [1, 2],
        "complete": True,
    }
    assert (event.object_type, event.object_id) == ("segment", "3")


def test_action_must_be_a_dotted_code():
    with pytest.raises(ValueError):
        record_audit(action="viewed the customer", customer_id=1)


def test_the_model_refuses_changes_and_deletes():
    event = record_audit(action="customer.view", customer_id=1)
    event.action = "customer.export"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()


def test_the_database_refuses_update():
    event = record_audit(action="customer.view", customer_id=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(customer_id=2)
    event.refresh_from_db()
    assert event.customer_id == 1


@pytest.mark.postgres
def test_postgres_refuses_delete_even_in_raw_sql():
    event = record_audit(action="customer.view", customer_id=1)
    refused = pytest.raises(DatabaseError, match="append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk)._raw_delete(connection.alias)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.postgres
def test_postgres_purge_permission_covers_only_rows_older_than_the_cutoff():
    now = datetime.now(UTC)
    recent = record_audit(action="customer.view", customer_id=1, at=now)
    cutoff = now - timedelta(days=1)
    refused = pytest.raises(DatabaseError, match="append-only")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('cxhub.audit_purge_before', %s, true)", [cutoff.isoformat()])
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [recent.pk])
    # The setting was local to that transaction: it is gone now.
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(current_setting('cxhub.audit_purge_before', true), '')")
        assert cursor.fetchone()[0] == ""


def test_retention_purge_deletes_exactly_the_rows_older_than_the_cutoff():
    now = datetime.now(UTC)
    old = [
        record_audit(action="customer.view", customer_id=i, at=now - timedelta(days=400 + i))
        for i in range(5)
    ]
    kept = [
        record_audit(action="customer.view", customer_id=i, at=now - timedelta(days=10)) for i in range(3)
    ]
    assert purge_before(now - timedelta(days=365), chunk=2) == 5
    assert sorted(AuditEvent.objects.values_list("pk", flat=True)) == sorted(e.pk for e in kept)
    assert not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()


def test_record_audit_many_writes_one_row_per_customer_in_one_insert(django_assert_num_queries):
    with django_assert_num_queries(1):
        assert record_audit_many(action="customer.merge", customer_ids=[5, 3, 5], detail={"survivor": 3}) == 2
    assert sorted(AuditEvent.objects.values_list("customer_id", flat=True)) == [3, 5]


# --- API ---------------------------------------------------------------------


def test_admin_role_and_only_admin_holds_the_privacy_scope():
    assert "privacy:admin" in ROLE_SCOPES[ADMIN]
    assert "privacy:admin" not in ROLE_SCOPES[AGENT] | ROLE_SCOPES[MARKETER]


def test_audit_api_needs_the_privacy_scope(api_client_with, client, agent_user):
    assert api_client_with("customers:read", "customers:write").get(AUDIT).status_code == 403
    client.force_login(agent_user)
    response = client.get(AUDIT)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Missing scope: privacy:admin."
    assert api_client_with("privacy:admin").get(AUDIT).status_code == 200


def test_audit_api_filters_by_customer_actor_action_and_since(api_client_with, agent_user, marketer_user):
    auditor = api_client_with("privacy:admin")
    long_ago = datetime.now(UTC) - timedelta(days=30)
    record_audit(action="customer.view", actor=agent_user, customer_id=1, at=long_ago)
    record_audit(action="customer.view", actor=agent_user, customer_id=2)
    record_audit(action="customer.export", actor=marketer_user, customer_id=1)
    record_audit(action="segment.update", actor=marketer_user, object_type="segment", object_id=9)

    def actions(**params):
        response = auditor.get(AUDIT, params)
        assert response.status_code == 200, response.json()
        return [(e["action"], e["customer_id"]) for e in response.json()["results"]]

    assert actions(customer=1) == [("customer.export", 1), ("customer.view", 1)]
    assert actions(actor=agent_user.username) == [("customer.view", 2), ("customer.view", 1)]
    assert actions(action="customer.view") == [("customer.view", 2), ("customer.view", 1)]
    assert actions(action="customer") == [("customer.export", 1), ("customer.view", 2), ("customer.view", 1)]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert actions(since=since, customer=1) == [("customer.export", 1)]
    first = auditor.get(AUDIT, {"action": "segment.update"}).json()["results"][0]
    assert first["actor"] == {"type": "user", "id": marketer_user.pk, "name": marketer_user.username}
    assert first["object"] == {"type": "segment", "id": "9"}


def test_audit_api_pages_with_a_cursor(api_client_with):
    auditor = api_client_with("privacy:admin")
    record_audit_many(action="customer.merge", customer_ids=range(1, 8))
    page = auditor.get(AUDIT, {"page_size": 3}).json()
    seen = [e["customer_id"] for e in page["results"]]
    while page["next"]:
        page = auditor.get(page["next"]).json()
        seen += [e["customer_id"] for e in page["results"]]
    assert seen == [7, 6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"customer": "abc"}, "customer"),
        ({"since": "2026-13-45"}, "since"),
        ({"action": "Customer View"}, "action"),
    ],
)
def test_audit_api_bad_filters_are_400_naming_the_field(api_client_with, params, field):
    response = api_client_with("privacy:admin").get(AUDIT, params)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


# --- admin ------------------------------------------------------------------


def test_admins_browse_the_audit_log_read_only(client, make_user):
    customer = CustomerFactory()
    record_audit(action="customer.view", customer_id=customer.pk)
    admin = make_user(ADMIN)
    client.force_login(admin)
    changelist = client.get("/admin/audit/auditevent/")
    assert changelist.status_code == 200
    assert "customer.view" in changelist.content.decode()
    event = AuditEvent.objects.get()
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_marketers_cannot_see_the_audit_log(client, marketer_user):
    client.force_login(marketer_user)
    assert client.get("/admin/audit/auditevent/").status_code == 403
