"""Recording surveys and their responses: one place, called by the API, the hosted page and imports."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import BusinessUnit
from cxhub.errors import Conflict, DomainError
from interactions.models import Channel, Interaction
from interactions.validation import event_time_problem

from .. import verbatims
from ..models import InvitationStatus, Survey, SurveyInvitation, SurveyResponse, Theme
from . import linking

TIMELINE_TYPE = "survey_response"


def create_survey(
    *,
    name: str,
    kind: str,
    question: str,
    channel: str = "",
    touchpoint: str = "",
    business_unit: str = "",
    scale_min: int | None = None,
    scale_max: int | None = None,
    **options,
) -> Survey:
    """Create a survey; NPS/CES/CSAT get their standard scale, custom surveys need one."""
    if kind == "custom" and (scale_min is None or scale_max is None or scale_min >= scale_max):
        raise DomainError("A custom survey needs scale_min < scale_max.", field="scale_min")
    survey = Survey(
        name=name,
        kind=kind,
        question=question,
        channel=linking.channel_by_code(channel),
        touchpoint=touchpoint or "",
        business_unit=_business_unit(business_unit),
        scale_min=scale_min if scale_min is not None else 0,
        scale_max=scale_max if scale_max is not None else 1,
        **options,
    )
    survey.save()
    return survey


def _business_unit(code: str | None, *, field: str = "business_unit") -> BusinessUnit | None:
    if not code:
        return None
    unit = BusinessUnit.objects.filter(code=code).first()
    if unit is None:
        raise DomainError(f"Unknown business unit {code!r}.", field=field)
    return unit


@dataclass(frozen=True)
class Recorded:
    response: SurveyResponse
    created: bool


def record_response(
    *,
    survey: Survey,
    score: int,
    responded_at=None,
    external_id: str | None = None,
    comment: str = "",
    customer: dict | None = None,
    customer_id: int | None = None,
    channel: str = "",
    touchpoint: str = "",
    business_unit: str = "",
    interaction_id: int | None = None,
    invitation: SurveyInvitation | None = None,
    source: str = "api",
) -> Recorded:
    """Store one response (idempotent on (survey, external_id)) with everything it sets off.

    The response also becomes an inbound interaction on the customer's timeline, gets
    sentiment and themes, may open a follow-up case and marks the customer dirty so the
    rollups and segments catch up.
    """
    if external_id:
        existing = SurveyResponse.objects.filter(survey=survey, external_id=external_id).first()
        if existing is not None:
            return Recorded(existing, False)
    if responded_at is not None:
        if timezone.is_naive(responded_at):
            responded_at = timezone.make_aware(responded_at, UTC)
        problem = event_time_problem(responded_at)
        if problem is not None:
            message, code = problem
            raise DomainError(f"responded_at: {message}", field="responded_at", code=code)
    if (
        not isinstance(score, int)
        or isinstance(score, bool)
        or not survey.scale_min <= score <= survey.scale_max
    ):
        raise DomainError(f"score must be between {survey.scale_min} and {survey.scale_max}.", field="score")
    prompted_by = None
    if interaction_id is not None:
        prompted_by = Interaction.objects.filter(pk=interaction_id).first()
        if prompted_by is None:
            raise DomainError(f"Interaction {interaction_id} does not exist.", field="interaction_id")
    response_channel = (
        linking.channel_by_code(channel)
        or (prompted_by.channel if prompted_by else None)
        or (Channel.objects.filter(pk=survey.channel_id).first() if survey.channel_id else None)
    )
    unit = _business_unit(business_unit)
    # Resolve last: resolution may create a customer, so everything else is checked first.
    if invitation is not None:
        target = linking.customer_by_id(invitation.customer_id)
    else:
        target = linking.resolve_customer(customer_spec=customer, customer_id=customer_id)
    response = SurveyResponse(
        survey=survey,
        kind=survey.kind,
        customer=target,
        score=score,
        comment=(comment or "")[:4000],
        responded_at=responded_at or timezone.now(),
        external_id=external_id or None,
        source=source,
        channel=response_channel,
        touchpoint=touchpoint or (prompted_by.touchpoint if prompted_by else "") or survey.touchpoint,
        business_unit_id=(
            unit.pk
            if unit
            else (prompted_by.business_unit_id if prompted_by else None) or survey.business_unit_id
        ),
        prompted_by=prompted_by,
        invitation=invitation,
    )
    sentiment = verbatims.sentiment_of(response.comment)
    if sentiment is not None:
        response.sentiment, response.sentiment_label = sentiment.compound, sentiment.label
    try:
        with transaction.atomic():
            response.save()
            _after_save(response, survey)
    except IntegrityError:
        existing = SurveyResponse.objects.filter(survey=survey, external_id=external_id).first()
        if existing is None or not external_id:
            raise Conflict("This invitation has already been answered.") from None
        return Recorded(existing, False)
    return Recorded(response, True)


def _after_save(response: SurveyResponse, survey: Survey) -> None:
    from .cases import open_case_if_needed

    codes = verbatims.themes_in(response.comment, verbatims.current_taxonomy()) if response.comment else []
    if codes:
        response.themes.set(Theme.objects.filter(code__in=codes))
    timeline_channel = response.channel or Channel.objects.get(code="web")
    response.timeline_interaction_id = linking.record_interaction(
        customer_id=response.customer_id,
        channel=timeline_channel,
        direction=linking.INBOUND,
        type=TIMELINE_TYPE,
        external_id=f"survey-response-{response.pk}",
        occurred_at=response.responded_at,
        subject=f"{survey.name}: {response.score}",
        summary=response.comment,
        touchpoint=response.touchpoint,
        business_unit_id=response.business_unit_id,
        properties={
            "survey_id": survey.pk,
            "kind": survey.kind,
            "score": response.score,
            "category": response.category,
            "response_id": response.pk,
        },
    ).id
    response.save(update_fields=["timeline_interaction"])
    if response.invitation_id:
        SurveyInvitation.objects.filter(pk=response.invitation_id).update(
            status=InvitationStatus.RESPONDED, responded_at=response.responded_at
        )
    open_case_if_needed(response)


# --- batches ------------------------------------------------------------------------------------

MAX_BATCH_ITEMS = 1000


class RejectedItem(DomainError):
    """An item the caller's parser refused; ``error`` is the error object reported for it."""

    def __init__(self, error: dict):
        super().__init__(error.get("message", "Invalid item."), field=error.get("field"))
        self.error = error


def record_responses(*, survey: Survey, items, parse: Callable[[dict], dict], source: str = "api") -> dict:
    """Record a batch of responses; one result per item, in order, plus counts (API.md shape).

    ``parse`` turns one raw item into ``record_response`` arguments or raises ``RejectedItem``
    (or any DomainError). Each item is recorded in its own savepoint: a bad item never sinks the
    good ones, and re-sending a batch only reports duplicates.
    """
    if not isinstance(items, list):
        raise DomainError("items must be a list of responses.", field="items")
    if len(items) > MAX_BATCH_ITEMS:
        raise DomainError(f"At most {MAX_BATCH_ITEMS} items per batch.", field="items")
    results, counts = [], {"created": 0, "duplicates": 0, "errors": 0}
    for index, item in enumerate(items):
        result: dict = {"index": index}
        try:
            arguments = parse(item if isinstance(item, dict) else {})
            with transaction.atomic():
                recorded = record_response(survey=survey, source=source, **arguments)
        except RejectedItem as exc:
            result.update(status="error", error=exc.error)
        except DomainError as exc:
            error = {"code": exc.code, "message": exc.message}
            if exc.field:
                error["field"] = exc.field
            result.update(status="error", error=error)
        else:
            result.update(status="created" if recorded.created else "duplicate", id=recorded.response.pk)
        counts[{"created": "created", "duplicate": "duplicates", "error": "errors"}[result["status"]]] += 1
        results.append(result)
    return {"results": results, **counts}
