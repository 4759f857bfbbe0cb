"""The ``survey`` segment condition, compiled by the segments compiler and checked against its pure twin."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import Customer
from metrics.conditions import evaluate_survey
from tests.factories import CustomerFactory
from tests.metrics.helpers import add_response, make_survey

pytestmark = pytest.mark.django_db

segments_compiler = pytest.importorskip("segments.compiler")


@pytest.fixture
def people():
    nps, ces = make_survey("nps"), make_survey("ces")
    now = timezone.now()
    promoter, detractor, effortful, silent = (CustomerFactory() for _ in range(4))
    add_response(nps, 2, customer=promoter, when=now - timedelta(days=40))
    add_response(nps, 10, customer=promoter, when=now - timedelta(days=2))
    add_response(nps, 3, customer=detractor, when=now - timedelta(days=50))
    add_response(ces, 6, customer=effortful, when=now - timedelta(days=1))
    add_response(ces, 5, customer=effortful, when=now - timedelta(days=3))
    add_response(ces, 2, customer=detractor, when=now - timedelta(days=3))
    return {
        "promoter": promoter,
        "detractor": detractor,
        "effortful": effortful,
        "silent": silent,
        "now": now,
    }


def _members(rule, now):
    q = segments_compiler.compile_rule(rule, now=now)
    return set(Customer.objects.filter(q).values_list("pk", flat=True))


def _facts(customer, now):
    rows = customer.survey_responses.values("id", "kind", "score", "responded_at")
    return {"survey_responses": list(rows), "now": now}


CASES = [
    ({"survey": {"kind": "nps"}}, {"promoter", "detractor"}),
    ({"survey": {"kind": "nps"}, "latest_category": "promoter"}, {"promoter"}),
    ({"survey": {"kind": "nps"}, "latest_category": "detractor"}, {"detractor"}),
    ({"survey": {"kind": "nps", "within_days": 30}}, {"promoter"}),
    ({"survey": {"kind": "nps", "within_days": 30}, "latest_category": "detractor"}, set()),
    ({"survey": {"kind": "ces"}, "average": {"op": "gte", "value": 5}}, {"effortful"}),
    ({"survey": {"kind": "ces"}, "average": {"op": "ne", "value": 2}}, {"effortful"}),
    (
        {"not": {"survey": {"kind": "nps"}, "latest_category": "promoter"}},
        {"detractor", "effortful", "silent"},
    ),
]


@pytest.mark.parametrize(("rule", "expected"), CASES)
def test_survey_condition_compiles_to_the_expected_members(people, rule, expected):
    names = {people[name].pk: name for name in ("promoter", "detractor", "effortful", "silent")}
    members = {names[pk] for pk in _members(rule, people["now"]) if pk in names}
    assert members == expected
    if "not" not in rule:
        twin = {
            name for pk, name in names.items() if evaluate_survey(rule, _facts(people[name], people["now"]))
        }
        assert twin == expected


def test_latest_category_is_refused_for_ces(people):
    from segments.errors import InvalidRule

    with pytest.raises(InvalidRule) as error:
        segments_compiler.compile_rule({"survey": {"kind": "ces"}, "latest_category": "promoter"})
    assert error.value.field.endswith("latest_category")


def test_survey_condition_is_in_the_published_schema():
    from segments.registry import rule_schema
    from segments.validation import validate_rules

    assert "condition_survey" in rule_schema()["$defs"]
    validate_rules({"survey": {"kind": "nps", "within_days": 90}, "latest_category": "detractor"})
    from segments.errors import InvalidRule

    with pytest.raises(InvalidRule):
        validate_rules({"survey": {"kind": "stars"}})
