"""Survey invitations: decide (consent, frequency cap), send a signed link, remind, trigger.

Every decision is a ``SurveyInvitation`` row — sent, capped, blocked by consent — so
"why did (not) this customer get a survey?" always has an answer. A sent invitation
is also an outbound interaction on the customer's timeline.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from customers.models import Customer
from cxhub.errors import DomainError, NotFound
from interactions.models import Channel, Interaction
from journeys.models import JourneyTransition
from outreach.models import BlockReason, MessageStatus
from segments.models import Segment, SegmentMembership

from ..models import InvitationStatus, Survey, SurveyInvitation
from . import linking
from .responses import Recorded, record_response

TOKEN_SALT = "metrics.survey-invitation"
CONSENT_PURPOSE = "surveys"
DEFAULT_CHANNEL = "email"
TRIGGER_LOOKBACK = timedelta(days=2)
COUNTED_STATUSES = (InvitationStatus.SENT, InvitationStatus.RESPONDED)


class InvalidInvitation(DomainError):
    code = "invalid_invitation"


def make_token(invitation: SurveyInvitation) -> str:
    """A signed token naming the invitation and its expiry (no database lookup to reject a forgery)."""
    expires = int(invitation.expires_at.timestamp()) if invitation.expires_at else 0
    # A plain Signer (no timestamp) gives the same token every time: links and reminders agree.
    return signing.Signer(salt=TOKEN_SALT).sign_object({"i": invitation.pk, "e": expires}, compress=True)


def survey_path(invitation: SurveyInvitation) -> str:
    return reverse("metrics:hosted-survey", args=[make_token(invitation)])


def survey_is_open(survey: Survey, now: datetime) -> bool:
    if not survey.is_active:
        return False
    if survey.active_from and now < survey.active_from:
        return False
    return not (survey.active_until and now > survey.active_until)


def _choose_channel(survey: Survey, customer: Customer, channel: str | None) -> str:
    return (
        channel
        or customer.preferred_channel
        or (survey.channel_id and survey.channel.code)
        or DEFAULT_CHANNEL
    )


def _capped(survey: Survey, customer_id: int, now: datetime) -> bool:
    if not survey.frequency_cap_days:
        return False
    since = now - timedelta(days=survey.frequency_cap_days)
    return SurveyInvitation.objects.filter(
        customer_id=customer_id, status__in=COUNTED_STATUSES, created_at__gte=since
    ).exists()


def invite_customer(
    *,
    survey: Survey,
    customer: Customer,
    channel: str | None = None,
    trigger: str = "manual",
    trigger_interaction: Interaction | None = None,
    user=None,
    now: datetime | None = None,
) -> SurveyInvitation:
    """Decide whether to invite ``customer`` and record the decision (and the message when sent)."""
    from django.contrib.auth import get_user_model

    now = now or timezone.now()
    if not survey_is_open(survey, now):
        raise DomainError("This survey is not active.", field="survey", code="inactive")
    explicit = bool(channel)
    channel = _choose_channel(survey, customer, channel)
    channel_row = Channel.objects.filter(code=channel, active=True).first()
    if channel_row is None and explicit:
        raise DomainError(f"Unknown channel {channel!r}.", field="channel")
    decision = SurveyInvitation(
        survey=survey,
        customer=customer,
        channel=channel,
        trigger=trigger,
        trigger_interaction=trigger_interaction,
        created_at=now,
        created_by=user if isinstance(user, get_user_model()) else None,
    )
    if channel_row is None:
        decision.status = InvitationStatus.NO_CHANNEL
        decision.reason = f"The customer's channel {channel!r} cannot carry surveys."
    elif _capped(survey, customer.pk, now):
        decision.status = InvitationStatus.CAPPED
        decision.reason = f"Already invited in the last {survey.frequency_cap_days} days."
    else:
        decision.status = InvitationStatus.SENT
        decision.expires_at = now + timedelta(days=survey.invitation_ttl_days)
    with transaction.atomic():
        decision.save()
        if decision.status == InvitationStatus.SENT:
            message = _send_invitation(decision, channel_row, now=now, user=user)
            if message.status == MessageStatus.BLOCKED:
                decision.status = (
                    InvitationStatus.BLOCKED
                    if message.reason == BlockReason.CONSENT
                    else InvitationStatus.NO_CHANNEL
                )
                decision.reason = message.detail
                decision.expires_at = None
            decision.outbound_interaction_id = message.interaction_id
            decision.save(update_fields=["status", "reason", "expires_at", "outbound_interaction"])
    return decision


def _send_invitation(invitation: SurveyInvitation, channel: Channel, *, now: datetime, user=None):
    """The invitation through the outbound gateway (purpose ``surveys``), with its signed link."""
    from outreach.links import absolute
    from outreach.models import MessageOrigin
    from outreach.services import send_message

    survey = invitation.survey
    url = absolute(survey_path(invitation))
    return send_message(
        customer=invitation.customer,
        channel=channel.code,
        purpose=CONSENT_PURPOSE,
        subject=survey.name,
        body=f"{survey.question}\n\nAnswer here (one tap): {url}",
        body_html=f'<p>{escape(survey.question)}</p><p><a href="{escape(url)}">Answer the question</a></p>',
        idempotency_key=f"survey-invitation-{invitation.pk}",
        origin=MessageOrigin.SURVEY,
        user=user,
        now=now,
        context={"survey_id": survey.pk, "invitation_id": invitation.pk},
        timeline_entry={
            "type": "survey_invitation",
            "source": linking.SOURCE,
            "external_id": f"survey-invitation-{invitation.pk}",
            "touchpoint": survey.touchpoint,
            "properties": {
                "survey_id": survey.pk,
                "invitation_id": invitation.pk,
                "url": survey_path(invitation),
            },
        },
    )


@dataclass(frozen=True)
class SegmentInvitations:
    invitations: list[SurveyInvitation]
    segment_slug: str


def invite_segment(
    *, survey: Survey, segment: str | int, channel: str | None = None, user=None
) -> SegmentInvitations:
    """Invite every current member of a segment (by id or slug), each decision recorded."""
    lookup = Q(pk=int(segment)) if str(segment).isdigit() else Q(slug=str(segment))
    target = Segment.objects.filter(lookup).first()
    if target is None:
        raise NotFound(f"Segment {segment!r} does not exist.", field="segment")
    customer_ids = SegmentMembership.objects.filter(segment=target).values_list("customer_id", flat=True)
    now = timezone.now()
    invitations = [
        invite_customer(
            survey=survey, customer=customer, channel=channel, trigger="segment", user=user, now=now
        )
        for customer in Customer.objects.filter(pk__in=customer_ids, merged_into__isnull=True).order_by("pk")
    ]
    return SegmentInvitations(invitations=invitations, segment_slug=target.slug)


def invitation_for_token(token: str, *, now: datetime | None = None) -> SurveyInvitation:
    """The invitation a hosted-survey token names; raises InvalidInvitation if forged or expired."""
    try:
        payload = signing.Signer(salt=TOKEN_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError) as exc:
        raise InvalidInvitation("This survey link is not valid.") from exc
    now = now or timezone.now()
    if payload.get("e") and now.timestamp() > payload["e"]:
        raise InvalidInvitation("This survey link has expired.", code="expired")
    invitation = (
        SurveyInvitation.objects.select_related("survey")
        .filter(pk=payload.get("i"), status__in=COUNTED_STATUSES)
        .first()
    )
    if invitation is None:
        raise InvalidInvitation("This survey link is not valid.")
    return invitation


def respond_with_token(*, token: str, score: int, comment: str = "") -> Recorded:
    """Record the answer to an invitation; one response per token."""
    invitation = invitation_for_token(token)
    if invitation.status == InvitationStatus.RESPONDED:
        raise InvalidInvitation("This survey has already been answered. Thank you!", code="answered")
    try:
        recorded = record_response(
            survey=invitation.survey,
            score=score,
            comment=comment,
            external_id=f"invitation-{invitation.pk}",
            channel=invitation.channel,
            interaction_id=invitation.trigger_interaction_id,
            invitation=invitation,
            source="hosted",
        )
    except IntegrityError as exc:  # a concurrent submit of the same token
        raise InvalidInvitation("This survey has already been answered. Thank you!", code="answered") from exc
    if not recorded.created:
        raise InvalidInvitation("This survey has already been answered. Thank you!", code="answered")
    return recorded


def send_reminders(*, now: datetime | None = None) -> int:
    """Remind customers who have not answered after the survey's reminder delay (once each)."""
    now = now or timezone.now()
    sent = 0
    for survey in Survey.objects.filter(is_active=True, reminder_after_days__isnull=False):
        due = SurveyInvitation.objects.filter(
            survey=survey,
            status=InvitationStatus.SENT,
            reminder_sent_at__isnull=True,
            expires_at__gt=now,
            created_at__lte=now - timedelta(days=survey.reminder_after_days),
        ).select_related("customer")
        for invitation in due:
            with transaction.atomic():
                invitation.reminder_sent_at = now
                message = _send_reminder(invitation, now=now)
                if message.status == MessageStatus.BLOCKED:
                    invitation.reason = f"Reminder not sent: {message.detail}"
                else:
                    invitation.reason = "Reminder sent."
                    sent += 1
                invitation.save(update_fields=["reminder_sent_at", "reason"])
    return sent


def _send_reminder(invitation: SurveyInvitation, *, now: datetime):
    from outreach.links import absolute
    from outreach.models import MessageOrigin
    from outreach.services import send_message

    survey = invitation.survey
    url = absolute(survey_path(invitation))
    return send_message(
        customer=invitation.customer,
        channel=invitation.channel,
        purpose=CONSENT_PURPOSE,
        subject=f"Reminder: {survey.name}",
        body=f"{survey.question}\n\nAnswer here (one tap): {url}",
        idempotency_key=f"survey-reminder-{invitation.pk}",
        origin=MessageOrigin.SURVEY,
        now=now,
        context={"survey_id": survey.pk, "invitation_id": invitation.pk},
        timeline_entry={
            "type": "survey_reminder",
            "source": linking.SOURCE,
            "external_id": f"survey-reminder-{invitation.pk}",
            "properties": {"survey_id": survey.pk, "invitation_id": invitation.pk},
        },
    )


def trigger_invitations_for_customers(customer_ids: list[int], *, now: datetime | None = None) -> int:
    """Invite customers whose recent interactions (or journey stages) match a survey's trigger.

    A survey triggers on ``trigger_interaction_type`` (+ ``trigger_outcome``) or on
    ``journey_stage`` written ``"<journey slug>:<stage slug>"``. Each triggering interaction
    leads to one recorded decision per survey, however often the customer is processed.
    """
    now = now or timezone.now()
    if not customer_ids:
        return 0
    decided = 0
    surveys = Survey.objects.filter(is_active=True).filter(
        ~Q(trigger_interaction_type="") | Q(journey_stage__contains=":")
    )
    for survey in surveys.select_related("channel"):
        if not survey_is_open(survey, now):
            continue
        since = max(now - TRIGGER_LOOKBACK, survey.created_at or datetime.min.replace(tzinfo=UTC))
        for interaction in _triggering_interactions(survey, customer_ids, since):
            customer = linking.customer_by_id(interaction.customer_id)
            try:
                with transaction.atomic():
                    invite_customer(
                        survey=survey,
                        customer=customer,
                        trigger="journey" if survey.journey_stage else "interaction",
                        trigger_interaction=interaction,
                        now=now,
                    )
            except IntegrityError:
                continue  # another worker decided for this interaction first
            decided += 1
    return decided


def _triggering_interactions(survey: Survey, customer_ids: list[int], since: datetime):
    matches = Interaction.objects.filter(customer_id__in=customer_ids, occurred_at__gte=since)
    if survey.trigger_interaction_type:
        matches = matches.filter(type=survey.trigger_interaction_type)
        if survey.trigger_outcome:
            matches = matches.filter(outcome=survey.trigger_outcome)
    if survey.journey_stage and ":" in survey.journey_stage:
        journey_slug, _, stage_slug = survey.journey_stage.partition(":")
        matches = matches.filter(
            pk__in=JourneyTransition.objects.filter(
                to_stage__journey__slug=journey_slug, to_stage__slug=stage_slug, interaction__isnull=False
            ).values("interaction_id")
        )
    already = SurveyInvitation.objects.filter(survey=survey, trigger_interaction__isnull=False)
    return list(
        matches.exclude(pk__in=already.values("trigger_interaction_id")).order_by("occurred_at", "pk")
    )
