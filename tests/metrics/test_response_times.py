"""Survey responses follow the interactions' time rule: not in the future, not before 1970."""

from datetime import UTC, datetime, timedelta

import pytest

from interactions.validation import MAX_FUTURE_SKEW
from metrics.models import SurveyResponse
from tests.metrics.helpers import make_survey

pytestmark = pytest.mark.django_db


def _item(external_id, responded_at):
    return {
        "external_id": external_id,
        "score": 9,
        "responded_at": responded_at,
        "customer": {"email": "ann@example.com"},
    }


@pytest.mark.parametrize(
    ("responded_at", "code"),
    [
        ("9999-12-31T00:00:00Z", "future_timestamp"),
        ("just past the allowed skew", "future_timestamp"),
        ("1969-12-31T23:59:59Z", "invalid"),
    ],
)
def test_a_response_outside_the_time_rule_is_refused(api_client_with, responded_at, code):
    if responded_at == "just past the allowed skew":  # computed now, not when the module loaded
        responded_at = (datetime.now(UTC) + MAX_FUTURE_SKEW + timedelta(minutes=5)).isoformat()
    api = api_client_with("metrics:write")
    survey = make_survey()
    one = api.post(f"/api/v1/surveys/{survey.pk}/responses/", _item("r-1", responded_at), format="json")
    assert one.status_code == 400, one.content
    assert one.json()["error"]["field"] == "responded_at" and one.json()["error"]["code"] == code
    batch = api.post(
        f"/api/v1/surveys/{survey.pk}/responses/batch/",
        {"items": [_item("r-2", responded_at), _item("r-3", "2026-01-01T00:00:00Z")]},
        format="json",
    ).json()
    assert [r["status"] for r in batch["results"]] == ["error", "created"]
    assert batch["results"][0]["error"]["field"] == "responded_at"
    assert list(SurveyResponse.objects.values_list("external_id", flat=True)) == ["r-3"]


def test_a_response_within_the_clock_skew_is_accepted(api_client_with):
    api = api_client_with("metrics:write")
    survey = make_survey()
    soon = (datetime.now(UTC) + MAX_FUTURE_SKEW - timedelta(minutes=5)).isoformat()
    response = api.post(f"/api/v1/surveys/{survey.pk}/responses/", _item("r-1", soon), format="json")
    assert response.status_code == 201, response.content
