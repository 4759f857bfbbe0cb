"""Helpers for journey tests: shipped templates loaded, interactions made at known times."""

from datetime import UTC, datetime, timedelta

import pytest

from journeys.services import load_journey_templates, process_interactions
from tests.browser.conftest import artifacts_dir, browser  # noqa: F401  (headless Chromium, shared)
from tests.factories import CustomerFactory, InteractionFactory, channel

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


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
