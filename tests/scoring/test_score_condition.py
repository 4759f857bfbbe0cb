"""The segment ``score`` condition: compiled SQL on known scores, validation errors, preview."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from customers.models import Customer
from scoring.models import CustomerScore
from segments.compiler import segment_queryset
from segments.errors import InvalidRule
from segments.validation import validate_rules

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def _scored(name, **fields):
    customer = Customer.objects.create(first_name=name)
    defaults = {"as_of": NOW, "scored_at": NOW}
    CustomerScore.objects.create(customer=customer, **{**defaults, **fields})
    return customer


@pytest.fixture
def people():
    return {
        "ann": _scored(
            "Ann",
            clv=Decimal("250.00"),
            p_alive=0.9,
            churn_risk=0.1,
            rfm_code="555",
            rfm_label="champion",
            cost_to_serve=Decimal("12.00"),
            profitability=Decimal("60.00"),
            detractor_risk=0.15,
        ),
        "bob": _scored(
            "Bob",
            clv=Decimal("20.00"),
            p_alive=0.2,
            churn_risk=0.8,
            rfm_code="131",
            rfm_label="at_risk",
            cost_to_serve=Decimal("40.00"),
            profitability=Decimal("-15.50"),
            detractor_risk=0.7,
        ),
        "cat": _scored("Cat", cost_to_serve=Decimal("3.00"), profitability=Decimal("-3.00")),  # never bought
        "dan": Customer.objects.create(first_name="Dan"),  # never scored
    }


def _names(rule):
    validate_rules(rule)
    return set(segment_queryset(rule, now=NOW).values_list("first_name", flat=True))


def test_numeric_comparisons(people):
    assert _names({"score": "clv", "op": "gt", "value": 100}) == {"Ann"}
    assert _names({"score": "churn_risk", "op": "gte", "value": 0.5}) == {"Bob"}
    assert _names({"score": "p_alive", "op": "lt", "value": 0.5}) == {"Bob"}
    assert _names({"score": "profitability", "op": "lt", "value": 0}) == {"Bob", "Cat"}
    assert _names({"score": "cost_to_serve", "op": "eq", "value": 12}) == {"Ann"}
    assert _names({"score": "detractor_risk", "op": "gt", "value": 0.5}) == {"Bob"}


def test_missing_scores_match_only_ne_and_is_not_set(people):
    assert _names({"score": "clv", "op": "ne", "value": 250}) == {"Bob", "Cat", "Dan"}
    assert _names({"score": "clv", "op": "is_not_set"}) == {"Cat", "Dan"}
    assert _names({"score": "clv", "op": "is_set"}) == {"Ann", "Bob"}
    assert _names({"not": {"score": "clv", "op": "gt", "value": 100}}) == {"Bob", "Cat", "Dan"}


def test_rfm_by_code_or_named_cell(people):
    assert _names({"score": "rfm", "op": "eq", "value": "555"}) == {"Ann"}
    assert _names({"score": "rfm", "op": "in", "value": ["at_risk", "555"]}) == {"Ann", "Bob"}
    assert _names({"score": "rfm", "op": "not_in", "value": ["champion"]}) == {"Bob", "Cat", "Dan"}


def test_invalid_score_conditions_name_the_path():
    bad = [
        ({"score": "wealth", "op": "gt", "value": 1}, "rules.score"),
        ({"score": "clv", "op": "in", "value": [1]}, "rules"),
        ({"score": "clv", "op": "gt", "value": "lots"}, "rules.value"),
        ({"score": "rfm", "op": "eq", "value": "champions!"}, "rules.value"),
        ({"score": "rfm", "op": "gt", "value": "555"}, "rules"),
    ]
    for rule, path in bad:
        with pytest.raises(InvalidRule) as error:
            validate_rules(rule)
        assert error.value.field.startswith(path), (rule, error.value.field)


def test_preview_api_counts_score_segments(api_client_with, people):
    client = api_client_with("segments:write", "segments:read")
    response = client.post(
        "/api/v1/segments/preview/",
        {"rules": {"score": "churn_risk", "op": "gt", "value": 0.5}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["count"] == 1
    bad = client.post("/api/v1/segments/preview/", {"rules": {"score": "clv", "op": "gt"}}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["field"].startswith("rules")
