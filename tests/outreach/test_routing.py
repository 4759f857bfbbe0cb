"""Every outbound path goes through the gateway: survey invitations, follow-up replies, journey actions."""

import pytest

from customers.services import record_consent
from metrics.services import cases, invitations
from metrics.services.responses import record_response
from outreach.models import Message
from tests.factories import CustomerFactory
from tests.metrics.helpers import grant, make_survey

pytestmark = pytest.mark.django_db


def test_survey_invitation_is_a_gateway_message_with_the_signed_link(
    smtp_sink, django_capture_on_commit_callbacks, celery_eager
):
    customer = CustomerFactory(preferred_channel="email")
    grant(customer)
    survey = make_survey()
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invitations.invite_customer(survey=survey, customer=customer)
    message = Message.objects.get(customer=customer)
    assert (message.origin, message.purpose, message.status) == ("survey", "surveys", "sent")
    assert invitation.outbound_interaction_id == message.interaction_id
    assert invitation.outbound_interaction.type == "survey_invitation"
    mail = smtp_sink.received[0]["mail"]
    assert invitations.survey_path(invitation) in mail.get_body(("plain",)).get_content()


def test_invitation_the_gateway_refuses_is_recorded_as_not_sent():
    customer = CustomerFactory(preferred_channel="email", email="broken")
    grant(customer)
    invitation = invitations.invite_customer(survey=make_survey(), customer=customer)
    assert invitation.status == "no_channel" and "No valid email" in invitation.reason
    assert Message.objects.get(customer=customer).reason == "unreachable"


def test_closing_a_case_sends_the_reply_to_the_customer(
    agent_user, smtp_sink, django_capture_on_commit_callbacks, celery_eager
):
    customer = CustomerFactory()
    response = record_response(survey=make_survey(), score=1, customer_id=customer.pk).response
    with django_capture_on_commit_callbacks(execute=True):
        cases.close_case(
            case=response.follow_up_case,
            user=agent_user,
            outcome="Refund",
            message="We refunded you.",
            channel="email",
        )
    message = Message.objects.get(customer=customer, origin="follow_up")
    assert (message.purpose, message.status, message.body_text) == ("service", "sent", "We refunded you.")
    assert smtp_sink.received[0]["to"] == [customer.email]


def test_a_refused_channel_closes_nothing(agent_user):
    customer = CustomerFactory()
    record_consent(customer=customer, channel="email", purpose="service", granted=False, source="test")
    response = record_response(survey=make_survey(), score=1, customer_id=customer.pk).response
    from cxhub.errors import DomainError

    with pytest.raises(DomainError) as refused:
        cases.close_case(
            case=response.follow_up_case, user=agent_user, outcome="x", message="y", channel="email"
        )
    assert refused.value.field == "channel" and "consent" in refused.value.message
    response.follow_up_case.refresh_from_db()
    assert response.follow_up_case.status == "open"


def test_thank_you_page_says_what_happens_next(client):
    survey = make_survey()
    detractor, promoter = CustomerFactory(), CustomerFactory()
    grant(detractor)
    grant(promoter)
    low = invitations.survey_path(invitations.invite_customer(survey=survey, customer=detractor))
    high = invitations.survey_path(invitations.invite_customer(survey=survey, customer=promoter))
    told = client.post(low, {"score": "2"}).content.decode()
    assert "Someone from our team will get in touch by" in told and "/preferences/" in told
    assert "We will not ask you about this again" in client.post(high, {"score": "10"}).content.decode()
