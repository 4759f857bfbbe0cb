"""Broker or cache outage with real processes: the app under gunicorn, Redis URLs pointing at a
closed port. Ingest answers in its normal time, the throttle degrades to a per-process limit,
and the sweep picks the queued work up once the broker is back."""

import os
import socket
import subprocess
import sys
import time

import pytest
import requests
from django.conf import settings
from django.db import connection

from customers import pipeline
from customers.models import DirtyCustomer
from cxhub.services import create_api_client
from interactions.models import Interaction
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS)),
]

# An ingest POST normally answers in well under a second here; before the fix it took 58 s.
NORMAL_TIME = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _closed_redis_url(db: int) -> str:
    return f"redis://127.0.0.1:{_free_port()}/{db}"  # nothing listens there


@pytest.fixture
def gunicorn():
    servers = []

    def start(**env_overrides) -> str:
        port = _free_port()
        db = connection.settings_dict
        database_url = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        env = dict(
            os.environ,
            DJANGO_SETTINGS_MODULE="cxhub.settings",
            DATABASE_URL=database_url,
            ALLOWED_HOSTS="127.0.0.1",
            CONN_MAX_AGE="0",
            **env_overrides,
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "cxhub.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
                "--timeout",
                "30",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=settings.BASE_DIR,
        )
        servers.append(server)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None, f"gunicorn exited with {server.returncode}"
            try:
                if requests.get(f"{url}/healthz", timeout=5).ok:
                    return url
            except requests.RequestException:
                time.sleep(0.3)
        raise AssertionError("gunicorn did not start")

    yield start
    for server in servers:
        server.terminate()
        server.wait(timeout=30)


def _item(customer, n):
    return {
        "source": "shop",
        "external_id": f"o-{n}",
        "channel": "web",
        "type": "order_placed",
        "occurred_at": "2026-10-01T10:00:00Z",
        "customer_id": customer.pk,
    }


def _post(url, token, body):
    started = time.monotonic()
    response = requests.post(
        f"{url}/api/v1/interactions/", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=120
    )
    return response, time.monotonic() - started


@pytest.fixture
def channels():
    """The channels the data migration seeds (a transactional test starts from an empty database)."""
    import importlib

    from django.apps import apps

    importlib.import_module("interactions.migrations.0002_seed_channels").seed_channels(apps, None)


def test_ingest_answers_in_normal_time_with_broker_and_cache_down_and_the_sweep_catches_up(
    gunicorn, channels
):
    customer = CustomerFactory()
    token = create_api_client(name="shop", scopes=["ingest:write", "customers:read"]).token
    url = gunicorn(CELERY_BROKER_URL=_closed_redis_url(0), REDIS_URL=_closed_redis_url(1))
    for n in range(3):
        response, elapsed = _post(url, token, _item(customer, n))
        assert response.status_code == 201, response.text
        assert elapsed < NORMAL_TIME, f"ingest took {elapsed:.1f} s with the broker down"
    listed = requests.get(
        f"{url}/api/v1/interactions/", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert listed.status_code == 200 and len(listed.json()["results"]) == 3
    assert Interaction.objects.count() == 3
    # Nothing was queued, but the dirty marks are rows: the beat sweep processes them.
    assert DirtyCustomer.objects.filter(customer=customer).exists()
    assert pipeline.process_dirty_customers() >= 1
    assert not DirtyCustomer.objects.filter(customer=customer).exists()


def test_throttle_counts_per_process_while_the_cache_is_down(gunicorn):
    customer = CustomerFactory()
    token = create_api_client(name="limited", scopes=["customers:read"]).token
    url = gunicorn(REDIS_URL=_closed_redis_url(1), API_THROTTLE_RATE="3/min")
    statuses = [
        requests.get(
            f"{url}/api/v1/customers/{customer.pk}/", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
