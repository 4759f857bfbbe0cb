"""Small builders for metrics tests."""

from datetime import UTC, datetime

from django.utils import timezone

from customers.models import Consent
from metrics.models import Survey, SurveyResponse
from metrics.services import create_survey
from tests.factories import CustomerFactory, channel


def make_survey(kind: str = "nps", **options) -> Survey:
    return create_survey(name=f"{kind.upper()} survey", kind=kind, question="How was it?", **options)


def add_response(survey: Survey, score: int, *, customer=None, when=None, channel_code=None, **fields):
    """A response row written directly (no side effects), for metric and rollup tests."""
    return SurveyResponse.objects.create(
        survey=survey,
        kind=survey.kind,
        customer=customer or CustomerFactory(),
        score=score,
        responded_at=when or datetime(2026, 10, 5, 12, tzinfo=UTC),
        channel=channel(channel_code) if channel_code else None,
        **fields,
    )


def grant(customer, channel_code: str = "email", purpose: str = "surveys", granted: bool = True):
    return Consent.objects.create(
        customer=customer, channel=channel_code, purpose=purpose, granted=granted, captured_at=timezone.now()
    )
