"""A Celery queue per workload: where each task goes, and that workers consume every queue."""

import pytest
from django.conf import settings

from cxhub.celery import app

EXPECTED = {
    "interactions.purge_idempotency_keys": "ingest",
    "interactions.ensure_partitions": "ingest",
    "journeys.process_interactions": "ingest",
    "customers.process_dirty_customers": "dirty",
    "customers.process_realtime_dirty_customers": "realtime",
    "segments.recompute_segment": "segments",
    "segments.recompute_due": "segments",
    "journeys.deliver_webhook": "journeys",
    "journeys.detect_time_exceptions": "journeys",
    "journeys.requeue_webhook_deliveries": "journeys",
    "metrics.send_survey_reminders": "outbound",
    "metrics.rebuild_rollups": "models",
    "metrics.flag_overdue_cases": "default",
    "cxhub.ping": "default",
}


@pytest.fixture(autouse=True)
def _tasks_loaded():
    app.loader.import_default_modules()  # autodiscovery is lazy


def _queue_of(task_name: str) -> str:
    route = app.amqp.router.route({}, task_name)
    return route["queue"].name


@pytest.mark.parametrize(("task_name", "queue"), sorted(EXPECTED.items()))
def test_each_workload_has_its_queue(task_name, queue):
    assert task_name in app.tasks
    assert _queue_of(task_name) == queue


def test_every_registered_task_lands_on_a_queue_workers_consume():
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    assert {_queue_of(name) for name in ours} <= set(settings.WORKER_QUEUES)
    # a worker started without -Q consumes every workload queue
    assert {queue.name for queue in app.conf.task_queues} == set(settings.WORKER_QUEUES)


def test_the_beat_schedule_only_names_registered_tasks():
    assert {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()} <= set(app.tasks)
