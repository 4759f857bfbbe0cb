"""Closed loop: poor scores open a follow-up case; closing it tells the customer what was done."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cxhub.errors import Conflict, DomainError

from ..models import CaseStatus, FollowUpCase, SurveyResponse
from . import linking

CASE_PURPOSE = "service"


def open_case_if_needed(response: SurveyResponse) -> FollowUpCase | None:
    """Open a case for a detractor (or, when the survey says so, a poor CES/CSAT score)."""
    survey = response.survey
    if not survey.needs_follow_up(response.score):
        return None
    case, _ = FollowUpCase.objects.get_or_create(
        response=response,
        defaults={
            "customer_id": response.customer_id,
            "opened_at": response.received_at or timezone.now(),
            "due_at": (response.received_at or timezone.now()) + timedelta(hours=survey.follow_up_sla_hours),
        },
    )
    return case


def assign_case(*, case: FollowUpCase, user) -> FollowUpCase:
    if case.status != CaseStatus.OPEN:
        raise Conflict("Only open cases can be assigned.")
    case.assigned_to = user
    case.save(update_fields=["assigned_to"])
    return case


@transaction.atomic
def close_case(*, case: FollowUpCase, user, outcome: str, message: str, channel: str) -> FollowUpCase:
    """Close ``case`` with its outcome and the message sent to the customer on ``channel``.

    The reply goes to the customer through the outbound gateway (service purpose), which records
    it on the timeline; a channel the gateway refuses (consent, address, quiet hours) closes nothing.
    """
    from outreach.models import MessageOrigin, MessageStatus
    from outreach.services import send_message

    case = FollowUpCase.objects.select_for_update().get(pk=case.pk)
    if case.status != CaseStatus.OPEN:
        raise Conflict("This case is already closed.")
    outcome, message = (outcome or "").strip(), (message or "").strip()
    if not outcome:
        raise DomainError("Say what was done (outcome).", field="outcome")
    if not message:
        raise DomainError("Write the message the customer was sent.", field="message")
    channel_row = linking.channel_by_code(channel)
    if channel_row is None:
        raise DomainError("Choose the channel the customer was told on.", field="channel")
    message_to_customer = send_message(
        customer=case.customer,
        channel=channel_row.code,
        purpose=CASE_PURPOSE,
        subject=f"Follow-up: {outcome}",
        body=message,
        idempotency_key=f"follow-up-case-{case.pk}",
        origin=MessageOrigin.FOLLOW_UP,
        user=user,
        context={"case_id": case.pk},
        timeline_entry={
            "type": "survey_follow_up",
            "source": linking.SOURCE,
            "external_id": f"follow-up-case-{case.pk}",
            "agent_id": getattr(user, "pk", None),
            "properties": {"case_id": case.pk, "response_id": case.response_id, "outcome": outcome},
        },
    )
    if message_to_customer.status == MessageStatus.BLOCKED:
        # Nothing is closed: the agent chooses a channel the customer can be told on.
        raise DomainError(
            f"The customer cannot be told on {channel_row.code}: {message_to_customer.detail}",
            field="channel",
        )
    now = timezone.now()
    case.message_interaction_id = message_to_customer.interaction_id
    case.status = CaseStatus.CLOSED
    case.closed_at = now
    case.closed_by = user if getattr(user, "pk", None) else None
    case.outcome = outcome[:255]
    case.message_to_customer = message
    case.message_channel = channel_row.code
    case.is_overdue = False
    case.save()
    return case


def flag_overdue_cases(*, now=None) -> int:
    """Flag open cases past their due time (one UPDATE); returns how many were newly flagged."""
    now = now or timezone.now()
    return FollowUpCase.objects.filter(status=CaseStatus.OPEN, is_overdue=False, due_at__lt=now).update(
        is_overdue=True
    )
