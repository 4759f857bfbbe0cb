"""A recompute survives its worker being killed: the message goes back to the queue
(acks_late + reject on worker lost), and runs left queued are swept and queued again."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from segments import services
from segments.models import RunStatus, Segment, SegmentMembership, SegmentRun
from segments.recompute import LOCK_NAMESPACE
from tests.factories import CustomerFactory

GOLD = {"attr": "attributes.plan", "op": "eq", "value": "gold"}


def _wait(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(line) for line in out.split()]


@pytest.fixture
def prefork_worker(transactional_db):
    """A real ``celery worker`` with one prefork child (the process a SIGKILL takes down)."""
    from cxhub.celery import app

    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER'] or ''}@{host}:{port}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        DJANGO_SETTINGS_MODULE="cxhub.settings",
    )
    app.control.purge()
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "cxhub",
            "worker",
            "--pool=prefork",
            "--concurrency=1",
            "--loglevel=warning",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"loss-{os.getpid()}@%h",
        ],
        env=env,
        cwd=settings.BASE_DIR,
    )
    try:
        _wait(lambda: bool(app.control.ping(timeout=0.5)) or worker.poll() is not None, 90, "no worker")
        assert worker.poll() is None
        yield worker
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def _waiting_for_advisory_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.celery_worker
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))
def test_a_recompute_whose_worker_child_is_killed_is_redelivered_and_completes(prefork_worker):
    for _ in range(3):
        CustomerFactory(attributes={"plan": "gold"})
    segment = Segment.objects.create(slug="gold", name="Gold", rules=GOLD, refresh="manual")
    holder = connections.create_connection("default")
    try:
        # Hold the segment's recompute lock so the task is mid-run (waiting) when its child dies.
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_NAMESPACE | segment.pk])
        with transaction.atomic():
            run = services.request_recompute(segment=segment, trigger="manual")
        _wait(_waiting_for_advisory_lock, 60, "the worker never started the recompute")
        (child,) = _children(prefork_worker.pid)
        os.kill(child, signal.SIGKILL)
        _wait(
            lambda: _children(prefork_worker.pid) not in ([], [child]),
            60,
            "the pool did not replace the child",
        )
        holder.rollback()  # releases the lock
    finally:
        holder.close()
    _wait(
        lambda: SegmentRun.objects.get(pk=run.pk).status != RunStatus.QUEUED,
        90,
        "the killed recompute was lost (never re-delivered)",
    )
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.added == 3
    assert SegmentMembership.objects.filter(segment=segment).count() == 3


@pytest.mark.django_db
def test_the_sweep_requeues_runs_left_queued(celery_eager):
    for _ in range(2):
        CustomerFactory(attributes={"plan": "gold"})
    segment = Segment.objects.create(slug="gold", name="Gold", rules=GOLD, refresh="manual")
    old = SegmentRun.objects.create(segment=segment, trigger="manual", status=RunStatus.QUEUED)
    lost = SegmentRun.objects.create(segment=segment, trigger="manual", status=RunStatus.QUEUED)
    fresh_segment = Segment.objects.create(slug="fresh", name="Fresh", rules=GOLD, refresh="manual")
    fresh = SegmentRun.objects.create(segment=fresh_segment, trigger="manual", status=RunStatus.QUEUED)
    long_ago = timezone.now() - services.STALE_RUN_AFTER - timedelta(minutes=1)
    SegmentRun.objects.filter(pk__in=[old.pk, lost.pk]).update(created_at=long_ago)

    assert services.requeue_stale_runs() == 1
    lost.refresh_from_db()
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == RunStatus.SUCCEEDED and lost.added == 2
    assert old.status == RunStatus.FAILED and "Superseded" in old.error
    assert fresh.status == RunStatus.QUEUED  # not stale yet: its task may still be on its way
    assert any(e["task"] == "segments.requeue_stale_runs" for e in settings.CELERY_BEAT_SCHEDULE.values())
