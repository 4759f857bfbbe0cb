from datetime import timedelta

import pytest
from django.core import signing
from django.utils import timezone

from cxhub.errors import DomainError
from interactions.models import Interaction
from metrics.models import InvitationStatus, SurveyInvitation, SurveyResponse
from metrics.services import invitations
from tests.factories import CustomerFactory, InteractionFactory
from tests.metrics.helpers import grant, make_survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer():
    customer = CustomerFactory(preferred_channel="email")
    grant(customer, "email")
    return customer


def test_invitation_sent_with_consent_records_the_outbound_interaction(customer):
    survey = make_survey()
    invitation = invitations.invite_customer(survey=survey, customer=customer)
    assert invitation.status == InvitationStatus.SENT
    assert invitation.channel == "email"
    outbound = invitation.outbound_interaction
    assert (outbound.direction, outbound.type, outbound.customer_id) == (
        "outbound",
        "survey_invitation",
        customer.pk,
    )
    assert outbound.properties["url"] == invitations.survey_path(invitation)


def test_no_consent_blocks_and_the_decision_is_recorded():
    survey = make_survey()
    silent = CustomerFactory(preferred_channel="sms")
    invitation = invitations.invite_customer(survey=survey, customer=silent)
    assert invitation.status == InvitationStatus.BLOCKED
    assert invitation.outbound_interaction is None
    withdrawn = CustomerFactory(preferred_channel="email")
    grant(withdrawn, "email", granted=False)
    assert invitations.invite_customer(survey=survey, customer=withdrawn).status == InvitationStatus.BLOCKED
    assert not Interaction.objects.filter(type="survey_invitation").exists()
    assert SurveyInvitation.objects.count() == 2


def test_frequency_cap_spans_surveys(customer):
    first, second = make_survey("nps"), make_survey("csat", frequency_cap_days=10)
    assert invitations.invite_customer(survey=first, customer=customer).status == "sent"
    capped = invitations.invite_customer(survey=second, customer=customer)
    assert capped.status == InvitationStatus.CAPPED
    later = timezone.now() + timedelta(days=11)
    assert invitations.invite_customer(survey=second, customer=customer, now=later).status == "sent"


def test_invitations_api_for_a_customer_returns_links(api_client_with, customer):
    survey = make_survey()
    api = api_client_with("metrics:write")
    response = api.post(
        f"/api/v1/surveys/{survey.pk}/invitations/", {"customer_id": customer.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["sent"], body["capped"], body["blocked"]) == (1, 0, 0)
    assert "/s/" in body["results"][0]["url"]
    again = api.post(f"/api/v1/surveys/{survey.pk}/invitations/", {"customer_id": customer.pk}, format="json")
    assert again.json()["results"][0]["status"] == "capped"
    assert again.json()["results"][0]["url"] is None
    both = api.post(
        f"/api/v1/surveys/{survey.pk}/invitations/",
        {"customer_id": customer.pk, "segment": "x"},
        format="json",
    )
    assert both.status_code == 400


def test_invitations_api_for_a_segment_honours_consent(api_client_with, customer):
    from segments.models import Segment, SegmentMembership

    segment = Segment.objects.create(slug="vip", name="VIP")
    silent = CustomerFactory()
    for member in (customer, silent):
        SegmentMembership.objects.create(segment=segment, customer=member, since=timezone.now())
    survey = make_survey()
    body = (
        api_client_with("metrics:write")
        .post(f"/api/v1/surveys/{survey.pk}/invitations/", {"segment": "vip"}, format="json")
        .json()
    )
    assert (body["sent"], body["blocked"]) == (1, 1)
    missing = api_client_with("metrics:write").post(
        f"/api/v1/surveys/{survey.pk}/invitations/", {"segment": "nope"}, format="json"
    )
    assert missing.status_code == 404


def test_hosted_page_takes_one_answer_per_link_without_login(client, customer):
    survey = make_survey()
    invitation = invitations.invite_customer(survey=survey, customer=customer)
    url = invitations.survey_path(invitation)
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="viewport"' in page.content and b'name="score"' in page.content
    answered = client.post(url, {"score": "4", "comment": "The app kept crashing"})
    assert answered.status_code == 200 and b"Thank you" in answered.content
    response = SurveyResponse.objects.get()
    assert (response.customer_id, response.score, response.source) == (customer.pk, 4, "hosted")
    assert response.invitation_id == invitation.pk
    assert set(response.themes.values_list("code", flat=True)) == {"app_website"}
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.RESPONDED
    client.post(url, {"score": "10"})
    assert SurveyResponse.objects.count() == 1
    assert b"Thank you" in client.get(url).content


def test_hosted_page_rejects_tampered_expired_and_bad_scores(client, customer):
    survey = make_survey()
    invitation = invitations.invite_customer(survey=survey, customer=customer)
    url = invitations.survey_path(invitation)
    assert client.get(url.replace("/s/", "/s/x")).status_code == 410
    forged = signing.dumps({"i": invitation.pk, "e": 0}, salt="another-salt", compress=True)
    assert client.get(f"/s/{forged}/").status_code == 410
    assert client.post(url, {"score": "11"}).status_code == 400
    assert client.post(url, {"score": ""}).status_code == 400
    SurveyInvitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))
    invitation.refresh_from_db()
    expired_url = invitations.survey_path(invitation)
    assert client.get(expired_url).status_code == 410
    assert not SurveyResponse.objects.exists()


def test_reminder_sent_once_after_the_delay(customer):
    survey = make_survey(reminder_after_days=3)
    invitation = invitations.invite_customer(survey=survey, customer=customer)
    assert invitations.send_reminders() == 0
    later = timezone.now() + timedelta(days=4)
    assert invitations.send_reminders(now=later) == 1
    assert invitations.send_reminders(now=later) == 0
    invitation.refresh_from_db()
    assert invitation.reminder_sent_at is not None
    assert Interaction.objects.filter(type="survey_reminder", customer=customer).count() == 1


def test_interaction_trigger_invites_once_through_the_dirty_pipeline(customer, celery_eager):
    from customers import pipeline

    survey = make_survey(trigger_interaction_type="query_closed", trigger_outcome="resolved")
    InteractionFactory(
        customer=customer, type="query_closed", outcome="unresolved", occurred_at=timezone.now()
    )
    resolved = InteractionFactory(
        customer=customer, type="query_closed", outcome="resolved", occurred_at=timezone.now()
    )
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers()
    decisions = SurveyInvitation.objects.filter(survey=survey)
    assert [(d.trigger, d.trigger_interaction_id, d.status) for d in decisions] == [
        ("interaction", resolved.pk, "sent")
    ]
    pipeline.mark_dirty([customer.pk], schedule=False)
    pipeline.process_dirty_customers()
    assert decisions.count() == 1


def test_journey_stage_trigger_invites_when_a_customer_reaches_the_stage(customer):
    from journeys.models import Journey, JourneyInstance, JourneyTransition, Stage

    survey = make_survey("csat", journey_stage="order-to-cash:delivered")
    now = timezone.now()
    journey = Journey.objects.create(slug="order-to-cash", name="Order to cash")
    placed = Stage.objects.create(
        journey=journey, position=1, slug="placed", name="Placed", interaction_type="order"
    )
    delivered = Stage.objects.create(
        journey=journey, position=2, slug="delivered", name="Delivered", interaction_type="order_delivered"
    )
    order = InteractionFactory(customer=customer, type="order", occurred_at=now)
    delivery = InteractionFactory(customer=customer, type="order_delivered", occurred_at=now)
    instance = JourneyInstance.objects.create(
        journey=journey,
        customer=customer,
        current_stage=delivered,
        started_at=now,
        last_event_at=now,
        stage_entered_at=now,
    )
    JourneyTransition.objects.create(instance=instance, to_stage=placed, interaction=order, at=now)
    JourneyTransition.objects.create(
        instance=instance, from_stage=placed, to_stage=delivered, interaction=delivery, at=now
    )
    assert invitations.trigger_invitations_for_customers([customer.pk]) == 1
    decision = SurveyInvitation.objects.get(survey=survey)
    assert (decision.trigger, decision.trigger_interaction_id, decision.status) == (
        "journey",
        delivery.pk,
        "sent",
    )
    assert invitations.trigger_invitations_for_customers([customer.pk]) == 0


def test_unusable_preferred_channel_is_recorded_not_fatal():
    survey = make_survey()
    customer = CustomerFactory(preferred_channel="carrier_pigeon")
    decision = invitations.invite_customer(survey=survey, customer=customer)
    assert decision.status == InvitationStatus.NO_CHANNEL
    with pytest.raises(DomainError):
        invitations.invite_customer(survey=survey, customer=customer, channel="carrier_pigeon")
