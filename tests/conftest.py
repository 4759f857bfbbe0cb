"""Shared fixtures and the rules that skip tests whose real parts are absent."""

import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from cxhub.roles import ADMIN, AGENT, MARKETER, STAFF_ROLES, sync_role_permissions
from cxhub.services import create_api_client


def _broker_reachable() -> bool:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        return False
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1):
            return True
    except OSError:
        return False


def _chromium_available() -> bool:
    return bool(shutil.which("chromium") or os.path.exists("/usr/bin/chromium")) and bool(
        shutil.which("chromedriver")
    )


def pytest_collection_modifyitems(config, items):
    reasons = {
        "postgres": None if settings.USING_POSTGRES else "needs PostgreSQL: set DATABASE_URL=postgres://…",
        "redis": None if _broker_reachable() else "needs Redis: set CELERY_BROKER_URL=redis://…",
        "browser": None if _chromium_available() else "needs Debian chromium and chromium-driver",
    }
    reasons["celery_worker"] = reasons["postgres"] or reasons["redis"]
    for item in items:
        _require_clean_transactional_teardown(item)
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


def _require_clean_transactional_teardown(item) -> None:
    """A transactional test must restore the migrated data itself (serialized_rollback or
    available_apps). Otherwise its flush re-runs post-migrate, which recreates content types
    under new ids on PostgreSQL and breaks the next test that restores the serialized state."""
    marker = item.get_closest_marker("django_db")
    fixtures = set(getattr(item, "fixturenames", ()))
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        fixtures & {"transactional_db", "live_server"}
    )
    if not transactional:
        return
    if marker and (marker.kwargs.get("serialized_rollback") or marker.kwargs.get("available_apps")):
        return
    if "django_db_serialized_rollback" in fixtures:
        return
    raise pytest.UsageError(
        f"{item.nodeid}: transactional tests need "
        "@pytest.mark.django_db(transaction=True, serialized_rollback=True) (or available_apps)."
    )


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters and cached lookups must not leak from one test into the next."""
    from django.core.cache import cache

    from cxhub import refdata

    cache.clear()
    refdata.forget()
    yield


@pytest.fixture
def make_user(db, django_user_model):
    def make(role: str | None = AGENT, username: str | None = None, password: str = "pass-word-123"):
        username = username or f"{(role or 'norole').lower()}-{django_user_model.objects.count() + 1}"
        user = django_user_model.objects.create_user(
            username=username, password=password, is_staff=role in STAFF_ROLES, is_superuser=role == ADMIN
        )
        if role:
            group, created = Group.objects.get_or_create(name=role)
            if created:  # a flush (transactional test) removed the migration's groups
                sync_role_permissions()
            user.groups.add(group)
        return user

    return make


@pytest.fixture
def agent_user(make_user):
    return make_user(AGENT)


@pytest.fixture
def marketer_user(make_user):
    return make_user(MARKETER)


@pytest.fixture
def admin_user(make_user):
    return make_user(ADMIN)


@pytest.fixture
def agent_client(client, agent_user):
    client.force_login(agent_user)
    return client


@pytest.fixture
def marketer_client(client, marketer_user):
    client.force_login(marketer_user)
    return client


@pytest.fixture
def admin_web_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def api_client_with(db):
    """api_client_with("ingest:write", ...) -> DRF test client authenticated by a Bearer token."""
    counter = {"n": 0}

    def make(*scopes: str) -> APIClient:
        counter["n"] += 1
        issued = create_api_client(name=f"test-client-{counter['n']}", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
        client.api_client = issued.client
        client.token = issued.token
        client.write_key = issued.write_key
        return client

    return make


@pytest.fixture
def celery_eager():
    """Run Celery tasks in-process for this test, even when a broker is configured (CI's PG run)."""
    from cxhub.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


def worker_database_url() -> str:
    """The test database as a DATABASE_URL, for worker and beat subprocesses."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_celery_worker(name: str, *, queues=None, extra_env: dict | None = None, app_module: str = "cxhub"):
    """A real `celery worker` subprocess (solo pool) on the test database and the configured broker,
    consuming ``queues`` (default: every workload queue). Returns the Popen; stop it with
    ``stop_process``."""
    import subprocess
    import sys

    env = dict(os.environ)
    env["DATABASE_URL"] = worker_database_url()
    env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
    env.setdefault("DJANGO_SETTINGS_MODULE", "cxhub.settings")
    env.update(extra_env or {})
    return subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", app_module, "worker", "--pool=solo", "--loglevel=warning",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-Q", ",".join(queues or settings.WORKER_QUEUES), "-n", f"{name}-{os.getpid()}@%h",
        ],
        env=env,
        cwd=settings.BASE_DIR,
    )  # fmt: skip


def wait_for_workers(processes, count: int, timeout: float = 60) -> None:
    import time

    from cxhub.celery import app

    deadline = time.monotonic() + timeout
    while len(app.control.ping(timeout=0.5) or []) < count:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early with code {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{count} Celery workers did not answer a ping within {timeout:.0f} s")


def stop_process(process, timeout: float = 30) -> None:
    """SIGTERM (warm shutdown for Celery), then kill if it does not exit in time."""
    import signal
    import subprocess

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery -A cxhub worker` subprocess on the test database and the configured broker,
    consuming every workload queue.

    Needs PostgreSQL (the worker shares the test database) and Redis; mark tests
    ``@pytest.mark.celery_worker``. The worker is stopped with SIGTERM (warm shutdown).
    """
    from cxhub.celery import app

    app.control.purge()
    worker = start_celery_worker("test")
    try:
        wait_for_workers([worker], 1)
        yield worker
    finally:
        stop_process(worker)
