"""Helpers for journey tests: shipped templates loaded, interactions made at known times."""

from datetime import UTC, datetime, timedelta

import pytest

from journeys.services import load_journey_templates, process_interactions
from tests.browser.conftest import artifacts_dir, browser  # noqa: F401  (headless Chromium, shared)
from tests.factories import CustomerFactory, InteractionFactory, channel

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def transactional_db_marker():
    """``django_db`` for tests that need real commits (threads, a live server).

    ``available_apps`` makes Django recreate post-migrate data (roles, permissions) at set-up
    and leave the database empty at tear-down, so whatever transactional test runs before or
    after this one, neither sees the other's rows. Data-migration rows are restored with
    ``seed_migration_data``.
    """
    from django.conf import settings

    return pytest.mark.django_db(transaction=True, available_apps=list(settings.INSTALLED_APPS))


def seed_migration_data():
    """Rows that data migrations create (channels), for tests whose database was flushed."""
    import importlib

    from django.apps import apps

    importlib.import_module("interactions.migrations.0002_seed_channels").seed_channels(apps, None)


@pytest.fixture
def templates(db):
    load_journey_templates()


@pytest.fixture
def customer(db):
    return CustomerFactory()


@pytest.fixture
def event():
    """event(customer, type, hours=0, channel="web", direction="inbound", **properties) -> Interaction."""

    def make(
        customer, type_, hours: float = 0, channel_code: str = "web", direction: str = "inbound", **props
    ):
        return InteractionFactory(
            customer=customer,
            type=type_,
            channel=channel(channel_code),
            direction=direction,
            occurred_at=T0 + timedelta(hours=hours),
            properties=props,
        )

    return make


@pytest.fixture
def process():
    def run(*interactions):
        return process_interactions(interaction_ids=[i.pk for i in interactions])

    return run
