"""Campaigns: set-based audience decisions, the reproducible holdout, bulk messages, results and lift."""

from datetime import time, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from customers.pipeline import mark_dirty, process_dirty_customers
from customers.services import record_consent
from cxhub.roles import MARKETER
from outreach import policy, selectors
from outreach.models import Campaign, CampaignRecipient, Message, Suppression
from outreach.services import campaigns
from outreach.stats import two_proportion_lift
from segments.models import Refresh, Segment, SegmentKind
from segments.services import add_members
from tests.factories import CustomerFactory, InteractionFactory

pytestmark = pytest.mark.django_db


def test_two_proportion_lift_known_answer():
    # 120/1000 treated vs 80/1000 holdout: diff .04; unpooled se sqrt(.12·.88/1000 + .08·.92/1000) = .0133866;
    # pooled p .1, se .0134164, z 2.98142, two-sided p .002869.
    lift = two_proportion_lift(120, 1000, 80, 1000)
    assert lift.absolute == pytest.approx(0.04)
    assert lift.relative == pytest.approx(0.5)
    assert lift.ci95[0] == pytest.approx(0.04 - 1.959964 * 0.0133866, abs=1e-6)
    assert lift.ci95[1] == pytest.approx(0.04 + 1.959964 * 0.0133866, abs=1e-6)
    assert lift.p_value == pytest.approx(0.002869, abs=2e-6)
    empty = two_proportion_lift(3, 10, 0, 0)
    assert empty.absolute is None and empty.p_value is None and empty.treated_rate == 0.3
    assert two_proportion_lift(0, 10, 0, 10).p_value == 1.0


def static_segment(slug="vip", customers=()):
    segment = Segment.objects.create(slug=slug, name=slug.title(), kind=SegmentKind.STATIC, rules={})
    add_members(segment=segment, customer_ids=[c.pk for c in customers])
    return segment


def grant(customer, channel="email", purpose="marketing"):
    record_consent(customer=customer, channel=channel, purpose=purpose, granted=True, source="test")
    return customer


def campaign_for(segment, **fields):
    defaults = {
        "name": "Spring offer",
        "segment": segment,
        "channel": "email",
        "purpose": "marketing",
        "subject": "For you, {first_name}",
        "body_text": "Dear {first_name} {last_name}, 20% off.",
        "holdout_percent": 20,
        "conversion_events": {"type": "order"},
        "conversion_within_days": 14,
    }
    defaults.update(fields)
    return campaigns.create_campaign(**defaults)


@pytest.fixture
def audience(email_cap_reached):
    """Twelve reachable customers and one of each blocked reason."""
    reachable = [grant(CustomerFactory(first_name=f"P{i}", last_name="Smith")) for i in range(12)]
    no_consent = CustomerFactory()
    bad_address = grant(CustomerFactory(email="nowhere"))
    suppressed = grant(CustomerFactory())
    Suppression.objects.create(channel="email", address=suppressed.email, reason="complaint")
    zone_now = timezone.now().astimezone(policy.customer_selectors.customer_zone(reachable[0])).time()
    sleeping = grant(
        CustomerFactory(
            quiet_hours_start=time((zone_now.hour + 23) % 24), quiet_hours_end=time((zone_now.hour + 2) % 24)
        )
    )
    capped = email_cap_reached(grant(CustomerFactory()))
    blocked = {
        "consent": no_consent,
        "unreachable": bad_address,
        "suppressed": suppressed,
        "quiet_hours": sleeping,
        "frequency_cap": capped,
    }
    return reachable, blocked


def test_send_decides_every_member_draws_the_holdout_and_creates_messages_once(audience):
    reachable, blocked = audience
    segment = static_segment(customers=[*reachable, *blocked.values()])
    campaign = campaign_for(segment)
    counts = campaigns.send_campaign(campaign=campaign)
    assert counts["decided"] == 17
    groups = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "group"))
    reasons = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "reason"))
    assert reasons[blocked["consent"].pk] == "consent"
    assert reasons[blocked["unreachable"].pk] == reasons[blocked["suppressed"].pk] == "unreachable"
    assert reasons[blocked["quiet_hours"].pk] == "quiet_hours"
    assert reasons[blocked["frequency_cap"].pk] == "frequency_cap"
    for customer in reachable:  # the same draw in SQL and Python: md5("<campaign>:<customer>")
        expected = "holdout" if policy.is_held_out(campaign.pk, customer.pk, 20) else "treated"
        assert groups[customer.pk] == expected
    treated = [c for c in reachable if groups[c.pk] == "treated"]
    messages = Message.objects.filter(campaign=campaign)
    assert counts["messages"] == messages.count() == len(treated)
    first = messages.get(customer=treated[0])
    assert first.subject == f"For you, {treated[0].first_name}"
    assert first.body_text == f"Dear {treated[0].first_name} Smith, 20% off."
    assert first.to_address == treated[0].email and first.status == "queued"
    assert list(first.events.values_list("status", flat=True)) == ["queued"]
    # Sending again (or a second click) sends nothing twice.
    campaign.status = "draft"
    campaign.save()
    assert campaigns.send_campaign(campaign=campaign) == {"decided": 0, "messages": 0}
    assert Message.objects.filter(campaign=campaign).count() == len(treated)


def test_results_count_groups_delivery_conversions_and_lift(
    audience, django_capture_on_commit_callbacks, celery_eager
):
    reachable, blocked = audience
    segment = static_segment(customers=[*reachable, *blocked.values()])
    campaign = campaign_for(segment, holdout_percent=50)
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.send_campaign(campaign=campaign)
    groups = dict(CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", "group"))
    treated = [c for c in reachable if groups[c.pk] == "treated"]
    holdout = [c for c in reachable if groups[c.pk] == "holdout"]
    assert treated and holdout
    later = timezone.now() + timedelta(days=1)
    InteractionFactory(customer=treated[0], type="order", occurred_at=later)
    InteractionFactory(
        customer=holdout[0], type="order", occurred_at=timezone.now() - timedelta(days=3)
    )  # before
    InteractionFactory(customer=holdout[-1], type="order", occurred_at=later + timedelta(days=20))  # too late
    InteractionFactory(customer=holdout[0], type="page_view", occurred_at=later)  # not a conversion
    campaigns.refresh_conversions(campaign=campaign)
    results = selectors.campaign_results(campaign=campaign)
    assert results["audience"] == 17 and results["reachable"] == 12
    assert (results["treated"], results["holdout"]) == (len(treated), len(holdout))
    assert results["sent"] == len(treated)  # delivered eagerly to Django's test outbox
    assert results["sent"] + results["holdout"] == results["reachable"]
    assert results["blocked"] == {"consent": 1, "unreachable": 2, "quiet_hours": 1, "frequency_cap": 1}
    assert results["conversions"] == {"treated": 1, "holdout": 0}
    expected = two_proportion_lift(1, len(treated), 0, len(holdout)).as_dict()
    assert (
        results["lift"]["absolute"] == expected["absolute"]
        and results["lift"]["p_value"] == expected["p_value"]
    )
    rates = selectors.campaign_response_rates(segment_ids=[segment.pk])
    assert rates == [
        {
            "segment_id": segment.pk,
            "channel": "email",
            "campaigns": 1,
            "treated": len(treated),
            "treated_conversions": 1,
            "holdout": len(holdout),
            "holdout_conversions": 0,
            "treated_rate": expected["treated_rate"],
            "holdout_rate": expected["holdout_rate"],
            "lift": {k: expected[k] for k in ("absolute", "relative", "ci95", "p_value")},
        }
    ]


def test_customers_entering_the_segment_are_treated_through_the_dirty_pipeline():
    segment = Segment.objects.create(
        slug="gold",
        name="Gold",
        kind=SegmentKind.DYNAMIC,
        refresh=Refresh.REALTIME,
        rules={"attr": "attributes.tier", "op": "eq", "value": "gold"},
    )
    campaign = campaign_for(segment, schedule="on_entry", holdout_percent=0)
    campaigns.send_campaign(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "active"
    customer = grant(CustomerFactory(attributes={"tier": "gold"}))
    mark_dirty([customer.pk], reason="test")
    process_dirty_customers()  # segments refresh (entry written), then outreach treats the entry
    recipient = CampaignRecipient.objects.get(campaign=campaign)
    assert (recipient.customer_id, recipient.group) == (customer.pk, "treated")
    assert Message.objects.get(campaign=campaign).customer_id == customer.pk
    mark_dirty([customer.pk], reason="test")
    process_dirty_customers()
    assert Message.objects.filter(campaign=campaign).count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "owl"}, "channel"),
        ({"body_text": "Hi {nickname}"}, "body"),
        ({"conversion_events": {"type": "order", "colour": "red"}}, "conversion.events"),
        ({"conversion_events": {"channel": "owl"}}, "conversion.events.channel"),
        ({"schedule": "at"}, "send_at"),
    ],
)
def test_invalid_campaigns_are_refused_naming_the_field(change, field):
    from cxhub.errors import DomainError

    with pytest.raises(DomainError) as refused:
        campaign_for(static_segment(), **change)
    assert refused.value.field.startswith(field)
    assert not Campaign.objects.exists()


@pytest.mark.postgres
def test_send_costs_the_same_statements_for_5_and_60_members(django_assert_num_queries):
    if connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's")
    small = static_segment("small", [grant(CustomerFactory()) for _ in range(5)])
    large = static_segment("large", [grant(CustomerFactory()) for _ in range(60)])
    first, second = campaign_for(small), campaign_for(large)
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        campaigns.send_campaign(campaign=first)
    with CaptureQueriesContext(connection) as many:
        campaigns.send_campaign(campaign=second)
    assert len(few.captured_queries) == len(many.captured_queries)
    assert (
        Message.objects.filter(campaign=second).count()
        == CampaignRecipient.objects.filter(campaign=second, group="treated").count()
    )


def test_the_embedded_path_decides_5_and_60_members_in_the_same_statements():
    if connection.vendor == "postgresql":
        pytest.skip("the embedded (SQLite) path; PostgreSQL decides in SQL")
    from django.test.utils import CaptureQueriesContext

    small = static_segment("small", [grant(CustomerFactory()) for _ in range(5)])
    large = static_segment("large", [grant(CustomerFactory()) for _ in range(60)])
    first, second = campaign_for(small), campaign_for(large)
    now = timezone.now()

    with CaptureQueriesContext(connection) as few:
        assert campaigns._decide_python(first, now, None) == 5
    with CaptureQueriesContext(connection) as many:
        assert campaigns._decide_python(second, now, None) == 60
    assert len(few.captured_queries) == len(many.captured_queries)
    recipients = CampaignRecipient.objects.filter(campaign=second)
    assert recipients.count() == 60 and not recipients.filter(group="blocked").exists()


def test_entering_a_segment_starts_the_journey_that_starts_from_it():
    from journeys.models import Journey, JourneyInstance, Stage
    from outreach.triggers import run_entry_handlers

    segment = Segment.objects.create(
        slug="at-risk",
        name="At risk",
        kind=SegmentKind.DYNAMIC,
        refresh=Refresh.REALTIME,
        rules={"attr": "attributes.risk", "op": "eq", "value": "high"},
    )
    journey = Journey.objects.create(slug="save-them", name="Save them")
    Stage.objects.create(
        journey=journey,
        position=0,
        slug="entered",
        name="Entered at-risk",
        interaction_type="segment_entered",
        property_matches={"segment": "at-risk"},
    )
    Stage.objects.create(journey=journey, position=1, slug="called", name="Called", interaction_type="call")
    customer = CustomerFactory(attributes={"risk": "high"})
    bystander = CustomerFactory(attributes={"risk": "low"})
    mark_dirty([customer.pk, bystander.pk], reason="test")
    process_dirty_customers()  # segment entry → segment_entered interaction → (next batch) journey start
    instance = JourneyInstance.objects.get(journey=journey)
    assert (instance.customer_id, instance.current_stage.slug) == (customer.pk, "entered")
    assert segment.memberships.count() == 1
    # The sweep sees the same movement again and changes nothing.
    assert run_entry_handlers(customer_ids=None) == 0
    process_dirty_customers()
    assert JourneyInstance.objects.filter(journey=journey).count() == 1


def test_each_send_of_a_campaign_is_appended_to_the_audit_log(audience, make_user):
    from audit.models import AuditEvent

    reachable, _ = audience
    marketer = make_user(MARKETER)
    campaign = campaign_for(static_segment(customers=reachable))
    counts = campaigns.send_campaign(campaign=campaign, user=marketer)
    campaign.status = "draft"
    campaign.save()
    campaigns.send_campaign(campaign=campaign, user=marketer)
    events = list(AuditEvent.objects.filter(action="campaign.send").order_by("pk"))
    assert [(e.object_type, e.object_id, e.actor_user_id) for e in events] == [
        ("campaign", str(campaign.pk), marketer.pk)
    ] * 2
    assert [e.row_count for e in events] == [counts["messages"], 0]
    assert events[0].detail == {"decided": 12, "messages": counts["messages"]}
