"""Recovery on PostgreSQL: a pg_dump restores into a new database with the data (and the audit
trigger) intact, and ingest loses nothing when its database connections are killed mid-batch."""

import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import requests
from django.db import connection

from audit.models import AuditEvent
from audit.services import record_audit
from customers.models import Consent, Customer, Identity
from cxhub.services import create_api_client
from interactions.models import Interaction
from tests.factories import CustomerFactory, IdentityFactory, InteractionFactory
from tests.interactions.conftest import seeded_channels, transactional_marker  # noqa: F401  (fixture)

pytestmark = [pytest.mark.postgres, transactional_marker(), pytest.mark.usefixtures("seeded_channels")]

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def _libpq_args(settings_dict: dict, database: str) -> tuple[list[str], dict]:
    args = ["-h", settings_dict["HOST"] or "127.0.0.1", "-p", str(settings_dict["PORT"] or 5432)]
    if settings_dict["USER"]:
        args += ["-U", settings_dict["USER"]]
    env = dict(os.environ)
    if settings_dict["PASSWORD"]:
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    return args + ["-d", database], env


def _connect(settings_dict: dict, database: str, **kwargs) -> psycopg.Connection:
    return psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"] or None,
        password=settings_dict["PASSWORD"] or None,
        dbname=database,
        **kwargs,
    )


def test_pg_dump_restores_into_a_new_database_with_the_data(tmp_path):
    ann = CustomerFactory(first_name="Ann", last_name="Lee")
    IdentityFactory(customer=ann, value="ann@example.com")
    Consent.objects.create(customer=ann, channel="email", purpose="marketing", granted=True, captured_at=T0)
    for minutes in range(25):
        InteractionFactory(
            customer=ann, occurred_at=T0 + timedelta(minutes=minutes), summary=f"note {minutes}"
        )
    record_audit(action="customer.view", customer_id=ann.pk)

    settings_dict = connection.settings_dict
    source = settings_dict["NAME"]
    restored = f"{source}_restore_{os.getpid()}"[:63]
    dump = tmp_path / "cxhub.dump"
    args, env = _libpq_args(settings_dict, source)
    subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--file", str(dump), *args], env=env, check=True
    )
    assert dump.stat().st_size > 0

    with _connect(settings_dict, "postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{restored}"')
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        args, env = _libpq_args(settings_dict, restored)
        subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", *args, str(dump)], env=env, check=True)
        with _connect(settings_dict, restored) as copy:
            name = copy.execute(
                "SELECT first_name, last_name FROM customers_customer WHERE id = %s", [ann.pk]
            ).fetchone()
            assert name == ("Ann", "Lee")
            assert copy.execute(
                "SELECT value FROM customers_identity WHERE customer_id = %s", [ann.pk]
            ).fetchall() == [("ann@example.com",)]
            assert copy.execute(
                "SELECT count(*), min(summary), max(occurred_at) FROM interactions_interaction "
                "WHERE customer_id = %s",
                [ann.pk],
            ).fetchone() == (25, "note 0", T0 + timedelta(minutes=24))
            assert copy.execute("SELECT count(*) FROM customers_consent").fetchone() == (1,)
            assert copy.execute(
                "SELECT action FROM audit_auditevent WHERE customer_id = %s", [ann.pk]
            ).fetchall() == [("customer.view",)]
            # The sequences come back too: a new row gets a fresh id.
            next_id = copy.execute(
                "SELECT nextval(pg_get_serial_sequence('customers_customer', 'id'))"
            ).fetchone()
            assert next_id[0] > ann.pk
            # So does the append-only trigger on the audit log.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                copy.execute("UPDATE audit_auditevent SET action = 'customer.export'")
            copy.rollback()
            migrations = copy.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
            assert migrations > 20
    finally:
        with _connect(settings_dict, "postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
    with _connect(settings_dict, "postgres") as admin:
        assert admin.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", [restored]
        ).fetchone() == (0,)


class BackendKiller(threading.Thread):
    """From a second connection, terminate every busy backend of the test database but ``spare``."""

    def __init__(self, settings_dict: dict, spare: set[int], *, most: int = 6, pause: float = 0.4):
        super().__init__(daemon=True)
        self.settings_dict, self.spare = settings_dict, spare
        self.most, self.pause = most, pause  # at most ``most`` kills, ``pause`` seconds apart
        self.stop, self.killed = threading.Event(), 0

    def run(self):
        with _connect(self.settings_dict, "postgres", autocommit=True) as killer:
            while not self.stop.is_set() and self.killed < self.most:
                row = killer.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND NOT (pid = ANY(%s)) "
                    "AND state IN ('active', 'idle in transaction')",
                    [self.settings_dict["NAME"], list(self.spare)],
                ).fetchone()
                self.killed += row[0]
                time.sleep(self.pause if row[0] else 0.005)


def test_ingest_loses_nothing_when_postgres_backends_are_terminated(live_server):
    issued = create_api_client(name="recovery", scopes=["ingest:write"])
    url = f"{live_server.url}/api/v1/interactions/batch/"
    headers = {"Authorization": f"Bearer {issued.token}"}
    batches = [
        [
            {
                "source": "recovery",
                "external_id": f"r-{b}-{n}",
                "channel": "web",
                "type": "page_view",
                "occurred_at": (T0 + timedelta(seconds=b * 1000 + n)).isoformat(),
                "customer": {"email": f"person{(b * 7 + n) % 40}@example.com"},
                "properties": {"batch": b},
            }
            for n in range(150)
        ]
        for b in range(24)
    ]
    connection.ensure_connection()
    killer = BackendKiller(connection.settings_dict, spare={connection.connection.info.backend_pid})
    acknowledged: dict[str, int] = {}
    failures = []  # (batch, status or error) of every failed attempt: the retries
    killer.start()
    try:
        for position, items in enumerate(batches):
            for _attempt in range(30):
                try:
                    response = requests.post(url, json={"items": items}, headers=headers, timeout=60)
                except requests.ConnectionError as exc:
                    failures.append((position, type(exc).__name__))
                    continue
                if response.status_code >= 500:
                    failures.append((position, response.status_code))
                    assert response.json()["error"]["code"]  # still the common JSON error format
                    continue
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["errors"] == 0, body
                for item, result in zip(items, body["results"], strict=True):
                    acknowledged[item["external_id"]] = result["id"]
                break
            else:
                pytest.fail(f"batch {position} never got through")
            if position == len(batches) // 2:
                assert killer.killed, "no backend was terminated during the first half"
    finally:
        killer.stop.set()
        killer.join(timeout=10)

    assert killer.killed >= 1 and failures, (killer.killed, failures)
    total = sum(len(b) for b in batches)
    assert len(acknowledged) == total
    stored = dict(Interaction.objects.filter(source="recovery").values_list("external_id", "id"))
    assert stored == acknowledged  # every accepted item present, once, with the id it was acknowledged with
    # Retried resolutions created no duplicate profiles: one customer per e-mail.
    emails = Identity.objects.filter(kind="email", value__endswith="@example.com")
    assert emails.count() == 40
    assert (
        Customer.objects.filter(pk__in=emails.values("customer_id"), merged_into__isnull=True).count() == 40
    )
    assert not AuditEvent.objects.filter(action="customer.merge").exists()
