"""The gateway's rules: one customer and a batch of customers are decided by the same rules."""

from datetime import UTC, datetime, time, timedelta

import pytest

from outreach import policy
from outreach.models import Suppression
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

# Tomorrow noon UTC: after every consent the test records; 21:00 in Tokyo.
NOON = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(12), tzinfo=UTC)
CHANNELS = ["email", "sms", "phone"]


@pytest.fixture
def mixed(consenting, email_cap_reached):
    """One customer per outcome on email (marketing), each also asked about on sms and phone."""

    def everywhere(customer):
        for channel in CHANNELS:
            consenting(customer, channel)
        return customer

    suppressed = everywhere(CustomerFactory(phone="+447700900001"))
    Suppression.objects.create(channel="email", address=suppressed.email, reason="hard_bounce")
    over_cap = email_cap_reached(everywhere(CustomerFactory(phone="+447700900002")), now=NOON)
    return {
        "consent": CustomerFactory(phone="+447700900003"),
        "unreachable": everywhere(CustomerFactory(email="", phone="not a number")),
        "suppressed": suppressed,
        "quiet_hours": everywhere(
            CustomerFactory(timezone="Asia/Tokyo", quiet_hours_start=time(20), quiet_hours_end=time(8))
        ),
        "frequency_cap": over_cap,
        "allowed": everywhere(CustomerFactory(phone="+447700900004")),
    }


def test_decide_and_decide_batch_give_the_same_decisions_and_reasons(mixed):
    customers = list(mixed.values())
    batch = policy.decide_batch(customers=customers, channels=CHANNELS, purpose="marketing", now=NOON)
    for customer in customers:
        for channel in CHANNELS:
            one = policy.decide(customer=customer, channel=channel, purpose="marketing", now=NOON)
            assert one == batch[customer.pk][channel], (customer, channel)
    on_email = {outcome: batch[c.pk]["email"] for outcome, c in mixed.items()}
    assert {outcome: d.reason for outcome, d in on_email.items()} == {
        "consent": "consent",
        "unreachable": "unreachable",
        "suppressed": "unreachable",
        "quiet_hours": "quiet_hours",
        "frequency_cap": "frequency_cap",
        "allowed": "",
    }
    assert on_email["suppressed"].detail == f"{mixed['suppressed'].email} is suppressed (Hard bounce)."
    assert on_email["frequency_cap"].detail == "Already 1 marketing messages on email in 7 days."
    # The other channels are decided on their own: the cap and the suppression are email's.
    assert batch[mixed["frequency_cap"].pk]["sms"].allowed
    assert batch[mixed["suppressed"].pk]["sms"].allowed
    assert batch[mixed["unreachable"].pk]["phone"].allowed  # calls need no address here


def test_one_send_stops_querying_at_the_rule_that_blocks_it(mixed, django_assert_num_queries):
    # consent ledger, then suppressions, then caps and recent marketing messages
    queries_until = {"consent": 1, "unreachable": 1, "suppressed": 2, "quiet_hours": 2, "allowed": 4}
    for outcome, queries in queries_until.items():
        with django_assert_num_queries(queries):
            policy.decide(customer=mixed[outcome], channel="email", purpose="marketing", now=NOON)


def test_a_batch_costs_four_queries_whatever_its_size(mixed, django_assert_num_queries):
    with django_assert_num_queries(4):
        policy.decide_batch(customers=[mixed["allowed"]], channels=CHANNELS, purpose="marketing", now=NOON)
    with django_assert_num_queries(4):
        policy.decide_batch(customers=list(mixed.values()), channels=CHANNELS, purpose="marketing", now=NOON)
