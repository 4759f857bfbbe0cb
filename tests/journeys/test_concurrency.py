"""Two workers processing the same interactions at once must not double anything (PostgreSQL)."""

import threading

import pytest
from django.db import connection

from journeys.models import JourneyInstance, JourneyTransition
from journeys.services import load_journey_templates, process_interactions
from tests.factories import CustomerFactory, InteractionFactory, channel

from .conftest import T0, seed_migration_data, transactional_db_marker


@pytest.mark.postgres
@transactional_db_marker()
def test_concurrent_processing_of_the_same_interactions_records_each_move_once():
    seed_migration_data()
    load_journey_templates()
    customer = CustomerFactory()
    steps = ("order_placed", "payment_received", "order_shipped")
    ids = [
        InteractionFactory(
            customer=customer,
            type=step,
            channel=channel("web"),
            direction="outbound" if step == "order_shipped" else "inbound",
            occurred_at=T0.replace(hour=9 + n),
            properties={"order_id": "C1"},
        ).pk
        for n, step in enumerate(steps)
    ]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait(timeout=10)
            process_interactions(interaction_ids=ids)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    instance = JourneyInstance.objects.get()
    assert instance.current_stage.slug == "shipped"
    assert JourneyTransition.objects.filter(instance=instance).count() == 3
