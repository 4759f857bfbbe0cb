"""Campaigns that ask for the next best channel: per-customer choice, real delivery, holdout, results."""

from datetime import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import selectors as customer_selectors
from customers.services import record_consent
from outreach import policy, selectors
from outreach.models import CampaignRecipient, DeliveryProvider, Message
from outreach.services import campaigns
from segments.models import Segment, SegmentKind
from segments.services import add_members
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def grant(customer, *channels, purpose="marketing"):
    for code in channels:
        record_consent(customer=customer, channel=code, purpose=purpose, granted=True, source="test")
    return customer


def person(n: int, *channels, **fields):
    """A customer with an email address and a mobile number, consenting to marketing on ``channels``."""
    fields = {"email": f"p{n}@example.org", "phone": f"+4477009{n:05d}", **fields}
    return grant(CustomerFactory(first_name=f"P{n}", last_name="Lee", **fields), *channels)


def segment_of(customers, slug="next-best"):
    segment = Segment.objects.create(slug=slug, name=slug, kind=SegmentKind.STATIC, rules={})
    add_members(segment=segment, customer_ids=[c.pk for c in customers])
    return segment


def next_best_campaign(segment, **fields):
    return campaigns.create_campaign(
        **{
            "name": "Autumn offer",
            "segment": segment,
            "channel": "next_best",
            "purpose": "marketing",
            "subject": "For you, {first_name}",
            "body_text": "Dear {first_name}, 20% off.",
            "holdout_percent": 0,
            "conversion_events": {"type": "order"},
        }
        | fields
    )


@pytest.fixture
def sms_provider(http_sink):
    DeliveryProvider.objects.create(code="textco", kind="http", channels="sms", url=http_sink.url, secret="s")
    return http_sink


def test_each_customer_gets_a_channel_they_consented_to_and_it_is_delivered(
    smtp_sink, sms_provider, celery_eager, django_capture_on_commit_callbacks
):
    email_only, sms_only, nothing = person(1, "email"), person(2, "sms"), person(3)
    campaign = next_best_campaign(segment_of([email_only, sms_only, nothing]))
    with django_capture_on_commit_callbacks(execute=True):
        counts = campaigns.send_campaign(campaign=campaign)
    assert counts == {"decided": 3, "messages": 2, "channels": {"email": 1, "sms": 1}}
    by_customer = {m.customer_id: m for m in Message.objects.filter(campaign=campaign)}
    assert set(by_customer) == {email_only.pk, sms_only.pk}
    mail, text = by_customer[email_only.pk], by_customer[sms_only.pk]
    assert (mail.channel, mail.to_address, mail.status) == ("email", "p1@example.org", "sent")
    assert (text.channel, text.to_address, text.status) == ("sms", "+447700900002", "sent")
    assert text.body_html == "" and text.body_text == "Dear P2, 20% off."
    # Really delivered: one mail to the SMTP server, one signed POST to the SMS provider.
    assert [r["to"] for r in smtp_sink.received] == [["p1@example.org"]]
    assert [r["json"]["to"] for r in sms_provider.requests] == ["+447700900002"]
    # The decision is kept on the message: the channel, its score, why, and what was ruled out.
    record = mail.context["next_best"]
    assert record["channel"] == "email" and record["score"] is not None
    assert any("consent for marketing on email" in r for r in record["reasons"])
    assert {"channel": "sms", "blocked_by": "no_consent", "why": "no consent for marketing on sms"} in record[
        "ruled_out"
    ]
    assert "on email (next best channel)" in mail.events.first().detail
    # Never a channel without consent.
    for message in by_customer.values():
        assert customer_selectors.can_contact(
            customer=message.customer, channel=message.channel, purpose="marketing"
        )
    blocked = CampaignRecipient.objects.get(campaign=campaign, customer=nothing)
    assert (blocked.group, blocked.reason, blocked.channel) == ("blocked", "consent", "")
    # Sending again sends nothing twice.
    campaign.status = "draft"
    campaign.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert campaigns.send_campaign(campaign=campaign) == {"decided": 0, "messages": 0, "channels": {}}
    assert Message.objects.filter(campaign=campaign).count() == 2
    assert len(smtp_sink.received) == 1 and len(sms_provider.requests) == 1


def test_blocked_customers_carry_the_reason_of_the_channel_that_got_furthest(email_cap_reached):
    zone_now = timezone.now().astimezone(customer_selectors.customer_zone(CustomerFactory.build())).time()
    asleep = person(
        1,
        "email",
        "sms",
        quiet_hours_start=time((zone_now.hour + 23) % 24),
        quiet_hours_end=time((zone_now.hour + 2) % 24),
    )
    no_phone = person(2, "sms", email="", phone="")  # consent for texts, but nowhere to send them
    withdrawn = person(3)
    capped = email_cap_reached(person(4, "email"))
    campaign = next_best_campaign(segment_of([asleep, no_phone, withdrawn, capped]))
    assert campaigns.send_campaign(campaign=campaign)["messages"] == 0
    reasons = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "reason"))
    assert reasons == {
        asleep.pk: "quiet_hours",
        no_phone.pk: "unreachable",
        withdrawn.pk: "consent",
        capped.pk: "frequency_cap",
    }
    results = selectors.campaign_results(campaign=campaign)
    assert results["blocked"] == {"consent": 1, "unreachable": 1, "quiet_hours": 1, "frequency_cap": 1}
    assert results["channels"] == []


def test_a_capped_best_channel_gives_way_to_the_next_allowed_one(email_cap_reached):
    both = email_cap_reached(person(1, "email", "sms", preferred_channel="email"))
    campaign = next_best_campaign(segment_of([both]))
    campaigns.send_campaign(campaign=campaign)
    message = Message.objects.get(campaign=campaign)
    assert message.channel == "sms"
    record = message.context["next_best"]
    assert record["reasons"][0].startswith("email held back: Already 1 marketing messages on email")
    assert {"channel": "email", "blocked_by": "frequency_cap"}.items() <= record["ruled_out"][-1].items()


def test_the_holdout_is_drawn_among_the_reachable_and_results_break_down_by_channel():
    customers = [person(i, "email" if i % 2 else "sms") for i in range(1, 25)] + [person(99)]
    campaign = next_best_campaign(segment_of(customers), holdout_percent=40)
    campaigns.send_campaign(campaign=campaign)
    rows = list(
        CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "group", "channel")
    )
    for customer_id, group, code in rows:
        if customer_id == customers[-1].pk:
            assert (group, code) == ("blocked", "")
            continue
        expected = "holdout" if policy.is_held_out(campaign.pk, customer_id, 40) else "treated"
        assert group == expected and code == (
            "email" if customer_id in {c.pk for c in customers[::2]} else "sms"
        )
    results = selectors.campaign_results(campaign=campaign)
    assert results["reachable"] == 24 and results["blocked"]["consent"] == 1
    assert results["treated"] + results["holdout"] == results["reachable"]
    by_channel = {row["channel"]: row for row in results["channels"]}
    assert set(by_channel) == {"email", "sms"}
    assert sum(row["treated"] + row["holdout"] for row in by_channel.values()) == 24
    assert by_channel["email"]["treated"] + by_channel["email"]["holdout"] == 12
    assert (
        by_channel["email"]["treated"] == Message.objects.filter(campaign=campaign, channel="email").count()
    )
    # The response rates that feed the selector count each recipient on the channel chosen for them.
    rates = {r["channel"]: r for r in selectors.campaign_response_rates(segment_ids=[campaign.segment_id])}
    assert set(rates) == {"email", "sms"} and rates["sms"]["treated"] == by_channel["sms"]["treated"]


def test_queries_stay_constant_per_batch_of_customers(monkeypatch):
    monkeypatch.setattr(campaigns, "NEXT_BEST_BATCH", 10)

    def statements(n: int, slug: str) -> int:
        members = [person(1000 * len(slug) + i, "email" if i % 3 else "sms") for i in range(n)]
        campaign = next_best_campaign(segment_of(members, slug=slug))
        with CaptureQueriesContext(connection) as captured:
            campaigns.send_campaign(campaign=campaign)
        assert Message.objects.filter(campaign=campaign).count() == n
        return len(captured.captured_queries)

    one, also_one = statements(3, "a"), statements(10, "bb")
    two, three = statements(20, "ccc"), statements(30, "dddd")
    # A batch: customers, the selector (identities, consents, behaviour, channels, bounces, segments,
    # campaign results), the gateway (consents, suppressions, caps, recent messages) and three inserts.
    assert one == also_one
    assert two - one == three - two == 15


def test_the_admin_form_offers_next_best_and_the_results_page_breaks_it_down(admin_web_client):
    segment = segment_of([person(1, "email"), person(2, "sms")])
    form = {
        "name": "Admin next best",
        "segment": segment.pk,
        "channel": "next_best",
        "purpose": "marketing",
        "subject": "Hi",
        "body_text": "Hi {first_name}",
        "body_html": "",
        "schedule": "now",
        "holdout_percent": "0",
        "conversion_events": "{}",
        "conversion_within_days": "14",
    }
    page = admin_web_client.get("/admin/outreach/campaign/add/")
    assert 'value="next_best"' in page.content.decode()
    refused = admin_web_client.post("/admin/outreach/campaign/add/", dict(form, channel="owl"))
    assert (
        refused.status_code == 200 and "owl is not one of the available choices" in refused.content.decode()
    )
    created = admin_web_client.post("/admin/outreach/campaign/add/", form)
    assert created.status_code == 302
    campaign = segment.campaigns.get()
    assert campaign.channel == "next_best"
    admin_web_client.post(f"/admin/outreach/campaign/{campaign.pk}/send/")
    html = admin_web_client.get(f"/admin/outreach/campaign/{campaign.pk}/results/").content.decode()
    assert 'id="result-channels"' in html and '<th scope="row">sms</th>' in html
