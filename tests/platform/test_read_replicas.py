"""Read replicas against a REAL streaming replica of the test server (pg_basebackup + a second postgres).

Pausing WAL replay on the replica (``pg_wal_replay_pause()``) makes rows committed on the primary
afterwards invisible there, so each answer shows which server served it: a customer created after
the pause is a 404 on a replica-served 360 page and a 200 on the primary.
"""

import time
import uuid

import psycopg
import pytest
from django.db import connection, connections
from django.test import Client, override_settings

from cxhub import replicas
from tests.factories import CustomerFactory

from .replica_server import ReplicaServer, ReplicaUnavailable

ALIAS = "replica_test"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True, databases=["default", ALIAS]),
]


@pytest.fixture(scope="module")
def replica_server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        db = connection.settings_dict
        host, port, user = db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["USER"] or "root"
    primary = f"host={host} port={port} dbname=postgres user={user}"
    server = ReplicaServer(primary_dsn=primary)
    try:
        server.start()
    except (ReplicaUnavailable, OSError) as exc:
        server.remove()
        pytest.skip(f"cannot start a streaming replica here: {exc}")
    # The test database on the replica, as an alias the router may choose. A test mirror of
    # "default" for the test machinery: it never flushes or restores the read-only replica.
    with django_db_blocker.unblock():
        settings_dict = dict(connections["default"].settings_dict)
    settings_dict.update(
        PORT=str(server.port), HOST="127.0.0.1", CONN_HEALTH_CHECKS=True, TEST={"MIRROR": "default"}
    )
    connections.settings[ALIAS] = settings_dict
    yield server
    connections[ALIAS].close()
    del connections[ALIAS]
    del connections.settings[ALIAS]
    server.remove()


@pytest.fixture
def replica(replica_server, transactional_db):
    """The running replica, registered as a database alias the router may use."""
    replica_server.start()  # again after a test stopped it
    replica_server.execute("SELECT pg_wal_replay_resume()")
    replicas.forget_health()
    with override_settings(
        DATABASE_REPLICAS=[ALIAS],
        REPLICA_MAX_LAG_SECONDS=60.0,
        REPLICA_CHECK_SECONDS=0.0,
        REPLICA_PIN_SECONDS=10.0,
    ):
        yield replica_server
    connections[ALIAS].close()
    replicas.forget_health()
    if replica_server.datadir and (replica_server.datadir / "postmaster.pid").exists():
        replica_server.execute("SELECT pg_wal_replay_resume()")


def _paused(replica) -> None:
    """Everything committed so far is on the replica; nothing committed from now on is."""
    replica.wait_for_replay()
    replica.execute("SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + 10
    with psycopg.connect(replica.dsn(), autocommit=True) as conn:
        while conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()[0] != "paused":
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _served_by(response) -> str:
    """The database the request's reads went to (a request that may not use a replica: the primary)."""
    return response.wsgi_request.read_context.alias or "default"


def test_lag_tolerant_pages_read_the_replica_and_other_reads_the_primary(
    replica, agent_client, api_client_with
):
    api = api_client_with("customers:read")
    seen = CustomerFactory(first_name="Replicated")
    _paused(replica)
    late = CustomerFactory(first_name="Unreplicated")

    page = agent_client.get(f"/customers/{seen.pk}/")
    assert page.status_code == 200 and _served_by(page) == ALIAS
    assert agent_client.get(f"/customers/{late.pk}/").status_code == 404  # the replica has not replayed it
    search = agent_client.get("/customers/", {"q": "Unreplicated"})
    assert _served_by(search) == ALIAS and list(search.context["results"]) == []
    assert api.get(f"/api/v1/customers/{late.pk}/timeline/").status_code == 404

    detail = api.get(f"/api/v1/customers/{late.pk}/")  # not marked lag-tolerant: the primary
    assert detail.status_code == 200 and _served_by(detail) == "default"
    assert detail.json()["first_name"] == "Unreplicated"


def test_a_caller_that_wrote_reads_the_primary_for_the_pin_window(
    replica, agent_client, make_user, api_client_with
):
    other_agent = Client()
    other_agent.force_login(make_user())
    writer = api_client_with("ingest:write", "customers:read")
    reader = api_client_with("customers:read")
    seen = CustomerFactory()
    _paused(replica)
    late = CustomerFactory()

    # A browser session: logging a call stamps the pin cookie; its next page comes from the primary.
    logged = agent_client.post(
        f"/customers/{seen.pk}/interactions/",
        {
            "kind": "call_note",
            "direction": "inbound",
            "summary": "Asked about delivery",
            "token": str(uuid.uuid4()),
        },
    )
    assert logged.status_code == 302 and replicas.PIN_COOKIE in logged.cookies
    page = agent_client.get(f"/customers/{seen.pk}/")
    assert _served_by(page) == "default" and "Asked about delivery" in page.content.decode()
    assert agent_client.get(f"/customers/{late.pk}/").status_code == 200
    assert other_agent.get(f"/customers/{late.pk}/").status_code == 404  # another agent: the replica

    # A token client keeps no cookies: the pin is a cache key for its credential.
    item = {"source": "shop", "external_id": "o-1", "channel": "web", "type": "order_placed",
            "occurred_at": "2026-01-05T10:00:00Z", "customer_id": late.pk}  # fmt: skip
    assert writer.post("/api/v1/interactions/", item, format="json").status_code == 201
    writer.cookies.clear()
    timeline = writer.get(f"/api/v1/customers/{late.pk}/timeline/")
    assert timeline.status_code == 200 and _served_by(timeline) == "default"
    assert [row["external_id"] for row in timeline.json()["results"]] == ["o-1"]
    assert reader.get(f"/api/v1/customers/{late.pk}/timeline/").status_code == 404  # another caller

    with override_settings(REPLICA_PIN_SECONDS=0.5):
        writer.post("/api/v1/interactions/", {**item, "external_id": "o-2"}, format="json")
        writer.cookies.clear()
        time.sleep(1.1)
        assert writer.get(f"/api/v1/customers/{late.pk}/timeline/").status_code == 404  # pin expired


def test_a_replica_lagging_past_the_bound_is_skipped(replica, agent_client):
    seen = CustomerFactory()
    _paused(replica)
    late = CustomerFactory()
    assert agent_client.get(f"/customers/{late.pk}/").status_code == 404

    with override_settings(REPLICA_MAX_LAG_SECONDS=1.0):
        time.sleep(1.5)
        health = replicas.replica_health(ALIAS, refresh=True)
        assert not health.usable and health.lag_seconds > 1.0
        page = agent_client.get(f"/customers/{late.pk}/")
        assert page.status_code == 200 and _served_by(page) == "default"

        replica.execute("SELECT pg_wal_replay_resume()")
        replica.wait_for_replay()
        health = replicas.replica_health(ALIAS, refresh=True)
        assert health.usable and health.lag_seconds < 1.0
        page = agent_client.get(f"/customers/{seen.pk}/")
        assert page.status_code == 200 and _served_by(page) == ALIAS


def test_a_stopped_replica_falls_back_to_the_primary_without_an_error(replica, agent_client, api_client_with):
    api = api_client_with("customers:read", "segments:read")
    customer = CustomerFactory(first_name="Fallback")
    replica.wait_for_replay()
    page = agent_client.get(f"/customers/{customer.pk}/")
    assert page.status_code == 200 and _served_by(page) == ALIAS  # the connection is open now

    replica.stop()
    page = agent_client.get(f"/customers/{customer.pk}/")
    assert page.status_code == 200 and _served_by(page) == "default"
    assert "Fallback" in page.content.decode()
    timeline = api.get(f"/api/v1/customers/{customer.pk}/timeline/")
    assert timeline.status_code == 200 and _served_by(timeline) == "default"
    assert not replicas.replica_health(ALIAS).usable


def test_writes_and_reads_inside_transactions_stay_on_the_primary(replica):
    from django.db import transaction

    from customers.models import Customer

    CustomerFactory()
    replica.wait_for_replay()
    with replicas.replica_reads() as ctx:
        assert Customer.objects.count() >= 1 and ctx.alias == ALIAS
        with transaction.atomic():
            created = CustomerFactory()
            assert Customer.objects.filter(pk=created.pk).exists()  # read inside the write: primary
        assert ctx.used == {ALIAS, "default"}
