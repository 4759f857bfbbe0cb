"""Next best channel: reachability, consent, quiet hours, behaviour, campaign response, cost."""

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from customers.models import Consent, Identity
from interactions.models import Interaction
from outreach import next_best as nbc
from tests.factories import CustomerFactory, InteractionFactory, MessageFactory, channel

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 10, 5, 12, tzinfo=UTC)


def consent(customer, channel_code, purpose, granted=True, minutes=0):
    Consent.objects.create(
        customer=customer,
        channel=channel_code,
        purpose=purpose,
        granted=granted,
        captured_at=timezone.now() - timedelta(days=1) + timedelta(minutes=minutes),
    )


@pytest.fixture
def ann():
    customer = CustomerFactory(email="ann@example.org", phone="+447700900001")
    Identity.objects.create(customer=customer, kind="email", value="ann@example.org")
    Identity.objects.create(customer=customer, kind="phone", value="+447700900001")
    return customer


def answered_texts(customer, n=2):
    """n outbound SMS, each answered by the customer an hour later."""
    start = timezone.now() - timedelta(days=30)
    for i in range(n):
        sent = start + timedelta(days=i)
        InteractionFactory(
            customer=customer, channel=channel("sms"), direction="outbound", type="message", occurred_at=sent
        )
        InteractionFactory(
            customer=customer, channel=channel("sms"), type="reply", occurred_at=sent + timedelta(hours=1)
        )


def blocked(rec) -> dict:
    return {o.channel: o.blocked_by for o in rec.alternatives if o.blocked_by}


def test_never_a_channel_without_consent(ann):
    consent(ann, "email", "marketing")
    answered_texts(ann)  # they like texts, but gave no marketing consent for them
    rec = nbc.next_best_channel(customer=ann, purpose="marketing", at=NOON)
    assert rec.channel == "email"
    assert blocked(rec) == {
        "sms": "no_consent",
        "whatsapp": "no_consent",
        "phone": "no_consent",
        "mobile_app": "unreachable",
        "letter": "unreachable",
    }
    assert any("consent for marketing on email" in r for r in rec.reasons)


def test_no_consent_anywhere_means_no_channel(ann):
    consent(ann, "email", "marketing")
    consent(ann, "all", "marketing", granted=False, minutes=5)  # later withdrawal of everything
    rec = nbc.next_best_channel(customer=ann, purpose="marketing", at=NOON)
    assert rec.channel is None and rec.score is None
    assert set(blocked(rec).values()) == {"no_consent", "unreachable"}


def test_behaviour_picks_the_channel_they_answer(ann):
    answered_texts(ann)
    rec = nbc.next_best_channel(customer=ann, purpose="service", at=NOON)  # service: opt-out
    assert rec.channel == "sms"
    # behaviour 1.0 × .35 + cost (1 − 0.05/4.50) × .15, over the weights present (.35 + .25 + .15)
    assert rec.score == round((0.35 + 0.15 * (1 - 0.05 / 4.5)) / 0.75, 3)
    assert any("answered 2 of our 2 sms" in r for r in rec.reasons)
    assert any("No campaign results" in r for r in rec.reasons)
    scores = {o.channel: o.score for o in rec.alternatives if not o.blocked_by}
    assert scores["email"] == round(0.15 * (1 - 0.35 / 4.5) / 0.75, 3)


def test_quiet_hours_hold_back_channels_that_interrupt(ann):
    answered_texts(ann)
    ann.quiet_hours_start, ann.quiet_hours_end, ann.timezone = time(21), time(8), "Europe/London"
    ann.save()
    late = datetime(2026, 10, 5, 22, 30, tzinfo=UTC)  # 23:30 in London
    rec = nbc.next_best_channel(customer=ann, purpose="service", at=late)
    assert rec.channel == "email"
    assert blocked(rec)["sms"] == "quiet_hours" and blocked(rec)["phone"] == "quiet_hours"
    assert nbc.next_best_channel(customer=ann, purpose="service", at=NOON).channel == "sms"


def test_campaign_response_rates_plug_in(ann):
    rates = {"email": 0.9, "sms": 0.0}
    source = lambda ids, purposes: {"service": dict.fromkeys(ids, rates)}  # noqa: E731
    nbc.register_response_rates(source)
    try:
        rec = nbc.next_best_channel(customer=ann, purpose="service", at=NOON)
    finally:
        nbc._response_rate_sources.remove(source)
    # email: (.35 × 0 + .25 × 0.9 + .25 × 0 + .15 × (1 − .35/4.5)) / 1.0 (every factor present)
    assert rec.channel == "email" and rec.score == round(0.225 + 0.15 * (1 - 0.35 / 4.5), 3)
    assert not any("No campaign results" in r for r in rec.reasons)


def test_bounced_addresses_are_ruled_out(ann):
    source = lambda ids: {i: {"email": "hard bounce on 2026-10-01"} for i in ids}  # noqa: E731
    nbc.register_bounces(source)
    try:
        rec = nbc.next_best_channel(customer=ann, purpose="service", at=NOON)
    finally:
        nbc._bounce_sources.remove(source)
    assert blocked(rec)["email"] == "bounced" and rec.channel != "email"


def test_preferred_channel_counts(ann):
    ann.preferred_channel = "phone"
    ann.save()
    rec = nbc.next_best_channel(customer=ann, purpose="service", at=NOON)
    assert rec.channel == "phone" and any("preferred channel" in r for r in rec.reasons)


def test_query_count_is_constant(ann, django_assert_num_queries):
    answered_texts(ann, n=6)
    member_of(ann, "loyal")
    # addresses, consents, behaviour, channels, bounces, segments, campaign results (both purposes)
    with django_assert_num_queries(7):
        nbc.next_best_channels(customer=ann, purposes=["service", "marketing"], at=NOON)
    answered_texts(ann, n=30)
    with django_assert_num_queries(7):
        nbc.next_best_channels(customer=ann, purposes=["service", "marketing"], at=NOON)


def member_of(customer, slug):
    from segments.models import Segment, SegmentMembership

    segment, _ = Segment.objects.get_or_create(slug=slug, defaults={"name": slug.title()})
    SegmentMembership.objects.create(segment=segment, customer=customer, since=timezone.now())
    return segment


def campaign(segment, channel_code, *, treated, converted, holdout, holdout_converted, purpose="marketing"):
    """A sent campaign with its treated and holdout recipients and their conversions."""
    from outreach.models import Campaign, CampaignRecipient

    sent = Campaign.objects.create(
        name=f"{channel_code} offer", segment=segment, channel=channel_code, purpose=purpose, body_text="Hi"
    )
    rows = []
    for group, size, wins in (("treated", treated, converted), ("holdout", holdout, holdout_converted)):
        for n in range(size):
            rows.append(
                CampaignRecipient(
                    campaign=sent,
                    customer=CustomerFactory(),
                    group=group,
                    segment=segment,
                    decided_at=timezone.now(),
                    converted_at=timezone.now() if n < wins else None,
                )
            )
    CampaignRecipient.objects.bulk_create(rows)


def test_campaign_holdout_results_of_the_customers_segments_count(ann):
    consent(ann, "email", "marketing")
    consent(ann, "sms", "marketing")
    segment = member_of(ann, "loyal")
    # email: 10% treated vs 8% holdout (lift .02); sms: 30% vs 10% (lift .20, the best)
    campaign(segment, "email", treated=50, converted=5, holdout=25, holdout_converted=2)
    campaign(segment, "sms", treated=20, converted=6, holdout=10, holdout_converted=1)
    rec = nbc.next_best_channel(customer=ann, purpose="marketing", at=NOON)
    assert rec.channel == "sms"
    # sms: (.25 × 1.0 + .15 × (1 − .05/4.5)) / (.35 + .25 + .25 + .15): behaviour 0, no preference
    assert rec.score == round(0.25 + 0.15 * (1 - 0.05 / 4.5), 3)
    assert any("Past campaigns to the customer's segments on sms" in r for r in rec.reasons)
    email = next(o for o in rec.alternatives if o.channel == "email")
    assert email.score == round(0.25 * 0.1 + 0.15 * (1 - 0.35 / 4.5), 3)  # lift .02 / .20 = 0.1
    other = nbc.next_best_channel(customer=ann, purpose="service", at=NOON)  # no service campaigns
    assert any("No campaign results" in r for r in other.reasons)


def test_an_address_whose_last_message_bounced_is_ruled_out(ann):
    for code, address, status, days_ago in (
        ("email", "ann@example.org", "bounced", 2),
        ("sms", "+447700900001", "bounced", 3),
        ("sms", "+447700900001", "delivered", 1),
    ):
        MessageFactory(
            customer=ann,
            channel=code,
            purpose="service",
            to_address=address,
            status=status,
            days_ago=days_ago,
        )
    rec = nbc.next_best_channel(customer=ann, purpose="service", at=NOON)
    reasons = {o.channel: (o.blocked_by, o.why_blocked) for o in rec.alternatives}
    assert reasons["email"][0] == "bounced" and "ann@example.org bounced" in reasons["email"][1]
    assert rec.channel == "sms"  # an older bounce, delivered since: the number is good again


def test_api_answers_with_reasons_and_alternatives(api_client_with, ann):
    consent(ann, "email", "marketing")
    api = api_client_with("customers:read")
    body = api.get(f"/api/v1/customers/{ann.pk}/next-best-channel/?purpose=marketing").json()
    assert body["channel"] == "email" and body["reasons"]
    sms = next(a for a in body["alternatives"] if a["channel"] == "sms")
    assert sms["blocked_by"] == "no_consent" and sms["score"] is None
    assert api.get(f"/api/v1/customers/{ann.pk}/next-best-channel/").json()["error"]["field"] == "purpose"
    assert api.get(f"/api/v1/customers/{ann.pk}/next-best-channel/?purpose=spam").status_code == 400
    assert api.get("/api/v1/customers/999999/next-best-channel/?purpose=service").status_code == 404
    assert (
        api_client_with("metrics:read")
        .get(f"/api/v1/customers/{ann.pk}/next-best-channel/?purpose=service")
        .status_code
        == 403
    )


def test_merged_id_redirects_to_the_survivor(api_client_with, ann):
    old = CustomerFactory(merged_into=ann)
    response = api_client_with("customers:read").get(
        f"/api/v1/customers/{old.pk}/next-best-channel/?purpose=service"
    )
    assert response.status_code == 308 and f"/customers/{ann.pk}/next-best-channel/" in response["Location"]


def test_the_360_page_shows_the_line(agent_client, ann):
    consent(ann, "email", "marketing")
    page = agent_client.get(f"/customers/{ann.pk}/")
    html = page.content.decode()
    assert "Next best channel" in html and "nbc-line" in html
    assert "ruled out (no consent for marketing on sms)" in html


@pytest.mark.postgres
def test_postgresql_counts_answers_as_the_python_reading_does(ann):
    # Ties (an answer at the very same time does not count), answers just inside and outside the
    # window, and more rows than the sample, so the sample's edge matters too.
    rng = random.Random(7)
    start = timezone.now() - timedelta(days=40)
    codes = ["sms", "email", "phone", "web"]
    Interaction.objects.bulk_create(
        Interaction(
            customer=ann,
            channel=channel(rng.choice(codes)),
            direction=rng.choice(["inbound", "outbound", "outbound"]),
            type="message",
            occurred_at=start
            + timedelta(hours=rng.randrange(0, 40 * 24, 6))
            + rng.choice([timedelta(0), nbc.ANSWER_WINDOW, timedelta(seconds=1)]),
            source="test",
            external_id=f"tie-{n}",
        )
        for n in range(nbc.BEHAVIOUR_SAMPLE + 150)
    )
    sample = (
        Interaction.objects.filter(customer=ann)
        .order_by("-occurred_at", "-id")
        .values_list("channel__code", "direction", "occurred_at")[: nbc.BEHAVIOUR_SAMPLE]
    )
    expected = nbc._answers(list(sample))
    assert sum(seen["answered"] for seen in expected.values()) > 0
    assert nbc._answers_in_database(sample) == expected
    assert nbc._behaviour([ann.pk]) == {ann.pk: expected}
