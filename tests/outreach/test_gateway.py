"""The one outbound gateway: consent, reachability, quiet hours, caps, rendering, timeline, idempotency."""

from datetime import UTC, datetime, time, timedelta

import pytest

from customers.services import record_consent
from interactions.models import Interaction
from outreach.models import FrequencyCap, Message, MessageStatus, Suppression
from outreach.services import send_message
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

# Tomorrow noon UTC: after every consent the test records, at a known local time.
NOON = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(12), tzinfo=UTC)


def send(customer, **kw):
    args = {
        "channel": "email",
        "purpose": "marketing",
        "body": "Hello {first_name}",
        "subject": "Hi",
        "now": NOON,
    }
    args.update(kw)
    return send_message(customer=customer, **args)


def test_marketing_without_consent_is_blocked_with_reason_and_no_interaction():
    customer = CustomerFactory()
    message = send(customer)
    assert (message.status, message.reason) == (MessageStatus.BLOCKED, "consent")
    assert list(message.events.values_list("status", flat=True)) == ["blocked"]
    assert message.interaction_id is None
    assert not Interaction.objects.filter(customer=customer).exists()


def test_allowed_message_is_queued_rendered_and_written_to_the_timeline(consenting):
    customer = consenting(CustomerFactory(first_name="Ada"), "email")
    message = send(customer, body="Hello {first_name}, {unknown}!")
    assert message.status == MessageStatus.QUEUED
    assert message.body_text == "Hello Ada, !"
    assert message.to_address == customer.email
    assert "<p>Hello Ada, !</p>" in message.body_html
    interaction = Interaction.objects.get(pk=message.interaction_id)
    assert (interaction.direction, interaction.type, interaction.channel.code, interaction.source) == (
        "outbound",
        "message",
        "email",
        "outreach",
    )
    assert interaction.properties["message_id"] == message.pk


def test_service_messages_need_no_grant_but_respect_a_withdrawal():
    customer = CustomerFactory()
    assert send(customer, purpose="service").status == MessageStatus.QUEUED
    record_consent(customer=customer, channel="all", purpose="service", granted=False, source="test")
    assert send(customer, purpose="service").reason == "consent"


def test_quiet_hours_block_in_the_customer_zone(consenting):
    customer = consenting(
        CustomerFactory(timezone="Asia/Tokyo", quiet_hours_start=time(20), quiet_hours_end=time(8)), "email"
    )
    assert send(customer, now=NOON).reason == "quiet_hours"  # 21:00 in Tokyo
    assert send(customer, now=NOON - timedelta(hours=9)).status == MessageStatus.QUEUED  # 12:00 in Tokyo


def test_invalid_or_suppressed_address_is_unreachable(consenting):
    no_email = consenting(CustomerFactory(email="not-an-address"), "email")
    assert send(no_email).reason == "unreachable"
    bounced = consenting(CustomerFactory(), "email")
    Suppression.objects.create(channel="email", address=bounced.email, reason="hard_bounce")
    blocked = send(bounced)
    assert blocked.reason == "unreachable" and "Hard bounce" in blocked.detail
    no_phone = consenting(CustomerFactory(phone=""), "sms")
    assert send(no_phone, channel="sms").reason == "unreachable"


def test_marketing_frequency_cap_is_per_channel_and_counts_only_what_went_out(consenting):
    customer = consenting(consenting(CustomerFactory(phone="+447700900123"), "email"), "sms")
    FrequencyCap.objects.create(channel="email", max_messages=2, window_days=7)
    statuses = [send(customer, now=NOON + timedelta(minutes=i)).status for i in range(3)]
    assert statuses == ["queued", "queued", "blocked"]
    assert Message.objects.filter(customer=customer, reason="frequency_cap").count() == 1
    # Another channel has the global default (3 / 7 days), service messages are never capped.
    assert send(customer, channel="sms").status == "queued"
    assert send(customer, purpose="service").status == "queued"
    # Eight days later the window has moved on.
    assert send(customer, now=NOON + timedelta(days=8)).status == "queued"


def test_idempotency_key_returns_the_first_message(consenting):
    customer = consenting(CustomerFactory(), "email")
    first = send(customer, idempotency_key="k-1")
    again = send(customer, idempotency_key="k-1", body="Different")
    assert again.pk == first.pk
    assert Message.objects.count() == 1 and Interaction.objects.filter(customer=customer).count() == 1


def test_merged_customer_is_messaged_through_the_survivor(consenting):
    from customers.merging import merge_customers

    survivor, merged = CustomerFactory(), CustomerFactory()
    merge_customers(survivor=survivor, merged=merged, actor=None, rule="manual", reason="test")
    consenting(survivor, "email")
    assert send(merged.pk).customer_id == survivor.pk


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"channel": "owl"}, "channel"), ({"purpose": "spam"}, "purpose"), ({"body": " "}, "body")],
)
def test_bad_input_names_the_field(kwargs, field):
    from cxhub.errors import DomainError

    with pytest.raises(DomainError) as error:
        send(CustomerFactory(), **kwargs)
    assert error.value.field == field
