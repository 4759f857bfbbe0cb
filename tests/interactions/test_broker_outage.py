"""Ingest must not depend on the broker: dirty marks are rows, the periodic sweep catches up."""

import logging
from datetime import UTC, datetime

import pytest

from customers import pipeline
from customers.models import DirtyCustomer
from interactions.services import ingest_interactions
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    """Point Celery at a Redis port nobody listens on, with real (non-eager) task publishing."""
    from cxhub.celery import app

    down = {
        "task_always_eager": False,
        "broker_url": "redis://127.0.0.1:1/0",
        "broker_write_url": "redis://127.0.0.1:1/0",
        "broker_connection_retry": False,
    }
    saved = {key: app.conf.get(key) for key in down}
    app.conf.update(down)
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    yield app
    app.conf.update(saved)


def test_ingest_succeeds_with_the_broker_down_and_the_sweep_catches_up(
    broker_down, caplog, django_capture_on_commit_callbacks
):
    ann = CustomerFactory()
    handled = []
    pipeline.register_dirty_handler("test-outage", handled.extend)
    try:
        with (
            caplog.at_level(logging.WARNING, logger="cxhub.pipeline"),
            django_capture_on_commit_callbacks(execute=True),
        ):
            result = ingest_interactions(
                items=[
                    {
                        "channel": "web",
                        "type": "page_view",
                        "occurred_at": datetime(2026, 10, 1, tzinfo=UTC).isoformat(),
                        "customer_id": ann.pk,
                    }
                ]
            )
        assert result.created == 1
        assert "sweep will retry" in caplog.text
        assert DirtyCustomer.objects.filter(customer=ann).exists()
        # The broker is back: the periodic sweep (the same task beat runs) processes the backlog.
        assert pipeline.process_dirty_customers() == 1
        assert handled == [ann.pk]
        assert not DirtyCustomer.objects.exists()
    finally:
        pipeline._handlers.pop("test-outage", None)
