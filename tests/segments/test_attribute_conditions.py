"""Custom-attribute equality compares JSON values, whichever SQL form the compiler picks."""

import pytest

from customers.models import Customer
from segments.compiler import compile_rule
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

VALUES = {"number": 5, "text_number": "5", "true": True, "text_true": "true", "gold": "gold", "none": None}


@pytest.fixture
def people() -> dict[int, str]:
    people = {CustomerFactory(attributes={"code": value}).pk: name for name, value in VALUES.items()}
    people[CustomerFactory(attributes={}).pk] = "missing"
    return people


def matching(rule: dict, people: dict[int, str]) -> set[str]:
    ids = Customer.objects.filter(compile_rule(rule)).values_list("pk", flat=True)
    return {people[pk] for pk in ids if pk in people}


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "gold", {"gold"}),
        ("eq", "5", {"text_number"}),
        ("eq", 5, {"number"}),
        # SQLite's JSON functions read true and "true" alike; PostgreSQL's jsonb does not.
        pytest.param("eq", "true", {"text_true"}, marks=pytest.mark.postgres),
        pytest.param("eq", True, {"true"}, marks=pytest.mark.postgres),
        ("in", ["gold", "5"], {"gold", "text_number"}),
        ("in", ["gold", "x"], {"gold"}),
        ("not_in", ["gold"], {"number", "text_number", "true", "text_true", "none", "missing"}),
        ("ne", "gold", {"number", "text_number", "true", "text_true", "none", "missing"}),
    ],
)
def test_strings_that_print_like_other_json_values_match_only_strings(people, op, value, expected):
    assert matching({"attr": "attributes.code", "op": op, "value": value}, people) == expected
