from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from customers.errors import InvalidConsent
from customers.merging import merge_customers
from customers.models import DirtyCustomer
from customers.selectors import can_contact, consent_state, contactable, in_quiet_hours
from customers.services import record_consent, set_contact_preferences
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def at(day, hour=12):
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def test_latest_ledger_row_decides_and_history_is_kept():
    customer = CustomerFactory()
    record_consent(customer=customer, channel="email", purpose="marketing", granted=True, captured_at=at(1))
    record_consent(customer=customer, channel="email", purpose="marketing", granted=False, captured_at=at(5))
    assert not can_contact(customer=customer, channel="email", purpose="marketing")
    assert can_contact(customer=customer, channel="email", purpose="marketing", at=at(3))
    state = consent_state(customer_id=customer.pk)
    assert list(state) == [("email", "marketing")] and state[("email", "marketing")].granted is False
    assert customer.consents.count() == 2
    assert DirtyCustomer.objects.filter(customer=customer).exists()


def test_marketing_needs_a_grant_but_service_messages_need_only_no_objection():
    customer = CustomerFactory()
    assert not can_contact(customer=customer, channel="sms", purpose="marketing")
    assert can_contact(customer=customer, channel="sms", purpose="service")
    record_consent(customer=customer, channel="sms", purpose="service", granted=False)
    assert not can_contact(customer=customer, channel="sms", purpose="service")


def test_channel_all_applies_to_every_channel_until_a_newer_specific_row():
    customer = CustomerFactory()
    record_consent(customer=customer, channel="email", purpose="marketing", granted=True, captured_at=at(1))
    record_consent(customer=customer, channel="all", purpose="marketing", granted=False, captured_at=at(2))
    assert not can_contact(customer=customer, channel="email", purpose="marketing")
    record_consent(customer=customer, channel="email", purpose="marketing", granted=True, captured_at=at(3))
    assert can_contact(customer=customer, channel="email", purpose="marketing")


def test_merged_profile_is_checked_through_its_survivor():
    survivor, merged = CustomerFactory(), CustomerFactory()
    record_consent(customer=survivor, channel="email", purpose="marketing", granted=True)
    merge_customers(survivor=survivor, merged=merged)
    merged.refresh_from_db()
    assert can_contact(customer=merged, channel="email", purpose="marketing")


def test_contactable_answers_for_many_customers_and_channels_in_one_query(django_assert_num_queries):
    mixed, silent, withdrawn = CustomerFactory(), CustomerFactory(), CustomerFactory()
    record_consent(customer=mixed, channel="email", purpose="marketing", granted=True, captured_at=at(1))
    record_consent(customer=mixed, channel="all", purpose="marketing", granted=False, captured_at=at(2))
    record_consent(customer=mixed, channel="sms", purpose="marketing", granted=True, captured_at=at(3))
    record_consent(customer=withdrawn, channel="email", purpose="marketing", granted=True, captured_at=at(1))
    record_consent(customer=withdrawn, channel="email", purpose="marketing", granted=False, captured_at=at(4))
    with django_assert_num_queries(1):
        allowed = contactable(
            customers=[mixed, silent, withdrawn], channels=["email", "sms"], purpose="marketing"
        )
    assert allowed == {
        (mixed.pk, "email"): False,
        (mixed.pk, "sms"): True,
        (silent.pk, "email"): False,
        (silent.pk, "sms"): False,
        (withdrawn.pk, "email"): False,
        (withdrawn.pk, "sms"): False,
    }
    assert contactable(customers=[withdrawn.pk], channels=["email"], purpose="marketing", at=at(2)) == {
        (withdrawn.pk, "email"): True
    }
    for (customer_id, channel), expected in allowed.items():
        assert can_contact(customer=customer_id, channel=channel, purpose="marketing") is expected


def test_contactable_follows_a_merged_profile_to_its_survivor():
    survivor, merged = CustomerFactory(), CustomerFactory()
    record_consent(customer=survivor, channel="email", purpose="marketing", granted=True)
    merge_customers(survivor=survivor, merged=merged)
    merged.refresh_from_db()
    assert contactable(customers=[merged, survivor], channels=["email"], purpose="marketing") == {
        (merged.pk, "email"): True,
        (survivor.pk, "email"): True,
    }


@pytest.mark.parametrize(
    "field, kwargs",
    [
        ("purpose", {"purpose": "spam"}),
        ("channel", {"channel": " "}),
        ("granted", {"granted": "yes"}),
        ("captured_at", {"captured_at": timezone.now() + timedelta(days=1)}),
    ],
)
def test_invalid_consents_are_refused(field, kwargs):
    customer = CustomerFactory()
    values = {"channel": "email", "purpose": "marketing", "granted": True, **kwargs}
    with pytest.raises(InvalidConsent) as error:
        record_consent(customer=customer, **values)
    assert error.value.field == field
    assert not customer.consents.exists()


def test_quiet_hours_span_midnight_in_the_customers_zone():
    customer = CustomerFactory()
    set_contact_preferences(
        customer=customer, timezone_name="Europe/Paris", quiet_hours_start=time(21), quiet_hours_end=time(8)
    )
    assert in_quiet_hours(customer=customer, at=datetime(2026, 1, 10, 21, 30, tzinfo=UTC))  # 22:30 Paris
    assert in_quiet_hours(customer=customer, at=datetime(2026, 1, 10, 6, 0, tzinfo=UTC))  # 07:00 Paris
    assert not in_quiet_hours(customer=customer, at=datetime(2026, 1, 10, 7, 0, tzinfo=UTC))  # 08:00 Paris
    assert not in_quiet_hours(customer=customer, at=datetime(2026, 1, 10, 12, 0, tzinfo=UTC))


def test_daytime_quiet_hours_and_none():
    customer = CustomerFactory(quiet_hours_start=time(12), quiet_hours_end=time(14))
    assert in_quiet_hours(customer=customer, at=datetime(2026, 1, 10, 13, 0, tzinfo=UTC))
    assert not in_quiet_hours(customer=customer, at=datetime(2026, 1, 10, 14, 0, tzinfo=UTC))
    assert not in_quiet_hours(customer=CustomerFactory(), at=datetime(2026, 1, 10, 13, 0, tzinfo=UTC))
