"""Two real `celery beat` processes on one database: only the lock holder sends; the other takes over."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from cxhub.celery import app
from tests.conftest import stop_process, worker_database_url

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _start_beat(name: str, log_dir) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=worker_database_url(), CELERY_BROKER_URL=settings.CELERY_BROKER_URL)
    env["BEAT_LOCK_RETRY_SECONDS"] = "0.5"
    log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "cxhub", "beat", "--loglevel=info",
         "--scheduler", "cxhub.beat:SingleBeatScheduler", "--pidfile="],
        env=env, cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def _pings_sent(broker) -> int:
    return sum(json.loads(raw)["headers"]["task"] == "cxhub.ping" for raw in broker.lrange("default", 0, -1))


def _wait_for_pings(broker, at_least: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _pings_sent(broker) < at_least:
        assert time.monotonic() < deadline, f"beat sent {_pings_sent(broker)} pings, expected {at_least}"
        time.sleep(0.2)


def _rate_over(broker, seconds: float) -> int:
    before = _pings_sent(broker)
    time.sleep(seconds)
    return _pings_sent(broker) - before


def test_a_second_beat_stands_by_and_takes_over_when_the_first_dies(tmp_path):
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="test ping", task="cxhub.ping", interval=every_second)
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    app.control.purge()
    first = _start_beat("first", tmp_path)
    second = None
    try:
        _wait_for_pings(broker, 2, timeout=60)  # the first beat leads
        second = _start_beat("second", tmp_path)
        deadline = time.monotonic() + 60
        while (
            "standing by" not in (tmp_path / "second.log").read_text()
            and "standby" not in (tmp_path / "second.log").read_text()
        ):
            assert time.monotonic() < deadline, (tmp_path / "second.log").read_text()
            time.sleep(0.2)
        sent = _rate_over(broker, 6.0)
        assert 4 <= sent <= 7, f"{sent} pings in 6 s with two beats running (one a second expected)"

        first.send_signal(signal.SIGKILL)  # a crash: no clean shutdown, PostgreSQL frees the lock
        first.wait(timeout=10)
        _wait_for_pings(broker, _pings_sent(broker) + 2, timeout=30)  # the second beat took over
        assert "now leading" in (tmp_path / "second.log").read_text()
        sent = _rate_over(broker, 6.0)
        assert 4 <= sent <= 7, f"{sent} pings in 6 s after the takeover"
    finally:
        stop_process(first, timeout=10)
        if second is not None:
            stop_process(second, timeout=10)
        app.control.purge()
