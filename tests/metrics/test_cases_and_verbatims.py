from datetime import timedelta

import pytest
from django.utils import timezone

from cxhub.errors import DomainError
from metrics import verbatims
from metrics.models import CaseStatus, FollowUpCase
from metrics.services import cases, record_response
from tests.factories import CustomerFactory
from tests.metrics.helpers import grant, make_survey

pytestmark = pytest.mark.django_db


def _detractor(survey=None, **kwargs):
    survey = survey or make_survey()
    customer = CustomerFactory()
    recorded = record_response(
        survey=survey, score=2, customer_id=customer.pk, comment="Rude staff", **kwargs
    )
    return recorded.response


def test_vader_sentiment_labels_and_thresholds():
    assert verbatims.sentiment_of("Great service, very helpful agent!").label == "positive"
    assert verbatims.sentiment_of("The delivery was late and the staff were rude").label == "negative"
    assert verbatims.sentiment_of("I ordered a table").label == "neutral"
    assert verbatims.sentiment_of("   ") is None


def test_themes_match_whole_words_from_the_taxonomy():
    taxonomy = {"billing": ["bill", "direct debit"], "app_website": ["app"]}
    assert verbatims.themes_in("My BILL was wrong and the direct  debit failed", taxonomy) == ["billing"]
    assert verbatims.themes_in("Happy with the approach", taxonomy) == []


def test_taxonomy_edits_apply_to_new_responses():
    from metrics.models import Theme

    Theme.objects.create(code="parking", name="Parking", keywords="parking, car park")
    survey = make_survey()
    response = record_response(
        survey=survey, score=9, customer_id=CustomerFactory().pk, comment="No space in the car park"
    ).response
    assert list(response.themes.values_list("code", flat=True)) == ["parking"]


def test_ces_and_csat_follow_up_thresholds():
    ces, csat = make_survey("ces"), make_survey("csat")
    assert [ces.needs_follow_up(s) for s in (4, 5, 7)] == [False, True, True]
    assert [csat.needs_follow_up(s) for s in (1, 2, 3)] == [True, True, False]
    quiet = make_survey("nps", follow_up=False)
    assert not quiet.needs_follow_up(0)


def test_closing_needs_outcome_message_and_a_permitted_channel(agent_user):
    response = _detractor()
    case = response.follow_up_case
    with pytest.raises(DomainError) as no_outcome:
        cases.close_case(case=case, user=agent_user, outcome="", message="Sorry", channel="email")
    assert no_outcome.value.field == "outcome"
    with pytest.raises(DomainError) as no_message:
        cases.close_case(case=case, user=agent_user, outcome="Refunded", message=" ", channel="email")
    assert no_message.value.field == "message"
    grant(case.customer, "email", purpose="service", granted=False)
    with pytest.raises(DomainError) as refused:
        cases.close_case(case=case, user=agent_user, outcome="Refunded", message="Sorry", channel="email")
    assert refused.value.field == "channel"
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN


def test_closing_records_what_the_customer_was_told(agent_user):
    case = _detractor().follow_up_case
    closed = cases.close_case(
        case=case,
        user=agent_user,
        outcome="Refund issued",
        message="We refunded your order.",
        channel="phone",
    )
    assert closed.status == CaseStatus.CLOSED and closed.closed_by == agent_user
    told = closed.message_interaction
    assert (told.direction, told.type, told.channel.code, told.summary) == (
        "outbound",
        "survey_follow_up",
        "phone",
        "We refunded your order.",
    )
    with pytest.raises(DomainError):
        cases.close_case(case=closed, user=agent_user, outcome="x", message="y", channel="phone")


def test_overdue_cases_are_flagged_by_the_beat_task(celery_eager):
    from metrics.tasks import flag_overdue_cases

    case = _detractor().follow_up_case
    assert flag_overdue_cases.delay().get() == 0
    FollowUpCase.objects.filter(pk=case.pk).update(due_at=timezone.now() - timedelta(minutes=1))
    assert flag_overdue_cases.delay().get() == 1
    case.refresh_from_db()
    assert case.is_overdue


def test_case_api_lists_and_closes(api_client_with):
    case = _detractor().follow_up_case
    api = api_client_with("cases:read", "cases:write")
    listed = api.get("/api/v1/follow-up-cases/?status=open").json()
    assert [c["id"] for c in listed["results"]] == [case.pk]
    bad = api.post(
        f"/api/v1/follow-up-cases/{case.pk}/close/", {"outcome": "x", "message": "y", "channel": "owl"}
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "channel"
    ok = api.post(
        f"/api/v1/follow-up-cases/{case.pk}/close/", {"outcome": "x", "message": "y", "channel": "email"}
    )
    assert ok.status_code == 200 and ok.json()["status"] == "closed"
    assert (
        api.post(
            f"/api/v1/follow-up-cases/{case.pk}/close/", {"outcome": "x", "message": "y", "channel": "email"}
        ).status_code
        == 409
    )
