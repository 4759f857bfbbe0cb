import pytest

from segments.compiler import segment_queryset
from tests.factories import CustomerFactory


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rules", "matches"),
    [
        ({"all": []}, True),
        ({"any": []}, False),
        ({"not": {"all": []}}, False),
        ({"any": [{"attr": "language", "op": "eq", "value": "xx"}, {"all": []}]}, True),
        ({"not": {"any": [{"attr": "language", "op": "eq", "value": "xx"}, {"all": []}]}}, False),
        ({"not": {"attr": "attributes.plan", "op": "eq", "value": "gold"}}, True),  # missing key: not gold
        ({"attr": "attributes.plan", "op": "ne", "value": "gold"}, True),
        ({"attr": "last_seen_at", "op": "ne", "value": "2026-01-01"}, True),  # never seen: not that day
        ({"not": {"attr": "last_seen_at", "op": "within_last_days", "value": 5}}, True),
    ],
)
def test_boolean_edge_cases_are_exact(rules, matches):
    customer = CustomerFactory(attributes={}, language="en", last_seen_at=None)
    assert segment_queryset(rules).filter(pk=customer.pk).exists() is matches
