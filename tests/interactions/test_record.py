"""interactions.services.record_interactions: the one writer of interaction rows."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from customers.models import Customer, DirtyCustomer, DirtyLane
from interactions.models import Interaction
from interactions.services import RecordedInteraction, record_interaction, record_interactions
from interactions.signals import interactions_created
from tests.factories import CustomerFactory, channel
from tests.interactions.conftest import transactional_marker

T0 = datetime(2026, 10, 1, 10, 0, tzinfo=UTC)


def row(customer, n=0, **overrides):
    base = {
        "customer_id": customer.pk,
        "channel_id": channel("email").pk,
        "direction": "outbound",
        "type": "message_sent",
        "occurred_at": T0 + timedelta(minutes=n),
        "source": "outreach",
        "external_id": f"msg-{n}",
    }
    base.update(overrides)
    return base


@pytest.fixture
def announced():
    received = []

    def receiver(sender, interaction_ids=(), customer_ids=(), **kwargs):
        received.append((list(interaction_ids), list(customer_ids)))

    interactions_created.connect(receiver)
    yield received
    interactions_created.disconnect(receiver)


@pytest.mark.django_db
@pytest.mark.usefixtures("ingest_path")
class TestRecordInteractions:
    def test_minimal_rows_get_the_column_defaults(self, django_capture_on_commit_callbacks, announced):
        ann = CustomerFactory()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            [recorded] = record_interactions(rows=[row(ann, 1)], dirty_reason="message")
        assert recorded == RecordedInteraction(recorded.id, True)
        stored = Interaction.objects.get(pk=recorded.id)
        assert (stored.customer_id, stored.direction, stored.type) == (ann.pk, "outbound", "message_sent")
        assert (stored.subject, stored.summary, stored.properties, stored.context) == ("", "", {}, {})
        assert stored.received_at is not None and stored.value is None
        assert sorted(DirtyCustomer.objects.values_list("lane", "customer_id", "reason")) == [
            (lane, ann.pk, "message") for lane in (DirtyLane.REALTIME, DirtyLane.STANDARD)
        ]  # a mark per lane
        assert announced == []  # only once the transaction commits
        for callback in callbacks:
            callback()
        assert announced == [([recorded.id], [ann.pk])]

    def test_a_stored_key_or_one_repeated_in_the_rows_is_a_duplicate_with_the_stored_id(self, announced):
        ann = CustomerFactory()
        first = record_interaction(**row(ann, 1))
        again = record_interactions(rows=[row(ann, 1), row(ann, 2), row(ann, 2, subject="other")])
        assert [r.created for r in again] == [False, True, False]
        assert again[0].id == first.id and again[2].id == again[1].id
        assert Interaction.objects.count() == 2
        assert Interaction.objects.get(pk=again[1].id).subject == ""

    def test_rows_without_external_id_are_always_new(self):
        ann = CustomerFactory()
        recorded = record_interactions(rows=[row(ann, 1, external_id=None), row(ann, 1, external_id=None)])
        assert [r.created for r in recorded] == [True, True] and recorded[0].id != recorded[1].id

    def test_only_new_inbound_rows_move_last_seen_forward(self):
        ann, bob = CustomerFactory(last_seen_at=T0), CustomerFactory(last_seen_at=T0)
        record_interactions(
            rows=[
                row(ann, 5, direction="inbound", external_id="in-ann"),
                row(ann, 9, external_id="out-ann"),  # outbound: the customer was not seen
                row(bob, -30, direction="inbound", external_id="old-bob"),  # earlier: never back
            ]
        )
        seen = dict(Customer.objects.values_list("pk", "last_seen_at"))
        assert seen == {ann.pk: T0 + timedelta(minutes=5), bob.pk: T0}

    def test_duplicates_alone_mark_nobody_dirty_and_announce_nothing(
        self, django_capture_on_commit_callbacks, announced
    ):
        ann = CustomerFactory()
        record_interaction(**row(ann, 1))
        DirtyCustomer.objects.all().delete()
        with django_capture_on_commit_callbacks(execute=True):
            assert record_interactions(rows=[row(ann, 1)])[0].created is False
        assert not DirtyCustomer.objects.exists()
        assert announced == []

    def test_a_missing_or_unknown_column_is_refused(self):
        ann = CustomerFactory()
        bad = row(ann)
        del bad["source"]
        with pytest.raises(ValueError, match="source"):
            record_interactions(rows=[bad])
        with pytest.raises(ValueError, match="colour"):
            record_interactions(rows=[row(ann, colour="red")])
        assert not Interaction.objects.exists()


@pytest.mark.postgres
@transactional_marker()
@pytest.mark.usefixtures("seeded_channels")
def test_concurrent_writers_of_one_key_store_one_row_and_agree_on_its_id():
    """Two transactions record the same keys at once: one row per key, both get its id."""
    ann = CustomerFactory()
    rows = [row(ann, n) for n in range(50)]
    results, errors = [None, None], []
    barrier = threading.Barrier(2)

    def work(position, batch):
        try:
            with transaction.atomic():
                barrier.wait()
                results[position] = record_interactions(rows=batch)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=work, args=(0, rows)),
        threading.Thread(target=work, args=(1, rows[::-1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    first, second = results[0], results[1][::-1]
    assert Interaction.objects.count() == 50
    assert [a.id for a in first] == [b.id for b in second]
    assert all(a.created != b.created for a, b in zip(first, second, strict=True))
