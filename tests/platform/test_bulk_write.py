"""cxhub.db.bulk_write: each row gets its own values of the fields named, nothing else changes,
on SQLite (executemany) and on PostgreSQL (UPDATE … FROM VALUES, in chunks)."""

from datetime import UTC, datetime, time

import pytest

from customers.models import Customer
from cxhub.db import bulk_write
from interactions.models import Direction, Interaction
from tests.factories import CustomerFactory, InteractionFactory, channel

pytestmark = pytest.mark.django_db

AT = datetime(2026, 11, 30, 23, 59, 59, 123456, tzinfo=UTC)


def test_each_row_gets_its_own_values_and_nothing_else_changes(django_assert_num_queries):
    ann, bob, cy, untouched = CustomerFactory.create_batch(4, first_name="Same", email="same@example.com")
    ann.first_name, ann.attributes, ann.quiet_hours_start, ann.last_seen_at = (
        "Ann",
        {"tier": 'gold "vip"'},
        time(22),
        AT,
    )
    bob.first_name, bob.attributes, bob.quiet_hours_start, bob.last_seen_at = "", {}, None, None
    cy.first_name, cy.attributes, cy.merged_into = "Cy's", {"n": [1, None]}, untouched
    cy.email = "changed-but-not-named@example.com"
    fields = ["first_name", "attributes", "quiet_hours_start", "last_seen_at", "merged_into"]

    bulk_write([ann, bob, cy], fields, chunk=2)

    got = {c.pk: c for c in Customer.objects.filter(pk__in=[ann.pk, bob.pk, cy.pk, untouched.pk])}
    for customer in (ann, bob, cy):
        assert [getattr(got[customer.pk], f) for f in fields] == [getattr(customer, f) for f in fields]
    assert got[cy.pk].email == "same@example.com"  # not named: not written
    assert got[untouched.pk].first_name == "Same" and got[untouched.pk].merged_into_id is None
    with django_assert_num_queries(0):
        bulk_write([], fields)


def test_foreign_keys_choices_and_numbers_of_another_model():
    first, second = InteractionFactory.create_batch(2, channel=channel("web"), summary="before")
    first.channel, first.direction, first.duration_seconds = channel("phone"), Direction.OUTBOUND, 95
    second.summary, second.duration_seconds = "after, with 'quotes'", None
    bulk_write([first, second], ["channel", "direction", "summary", "duration_seconds"])
    got = Interaction.objects.in_bulk([first.pk, second.pk])
    assert (got[first.pk].channel.code, got[first.pk].direction, got[first.pk].summary) == (
        "phone",
        Direction.OUTBOUND,
        "before",
    )
    assert got[first.pk].duration_seconds == 95
    assert (got[second.pk].channel.code, got[second.pk].summary, got[second.pk].duration_seconds) == (
        "web",
        "after, with 'quotes'",
        None,
    )
