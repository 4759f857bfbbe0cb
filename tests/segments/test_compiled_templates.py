"""Compiled rule templates: reused SQL must select what a fresh compilation would."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from segments import compiler
from segments.compiler import member_ids_sql, segment_queryset

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

RELATIVE = {
    "all": [
        {"attr": "lifecycle_stage", "op": "in", "value": ["active", "lapsed"]},
        {"events": {"type": "order_placed", "within_days": 90}, "count": {"op": "gte", "value": 2}},
        {"not": {"events": {"type": "complaint", "since": "2026-01-01"}}},
        {"survey": {"kind": "nps", "within_days": 30}, "latest_category": "detractor"},
        {"attr": "last_seen_at", "op": "within_last_days", "value": 14},
    ]
}


def rendered(sql_and_params: tuple[str, tuple]) -> str:
    with connection.cursor() as cursor:
        return cursor.mogrify(*sql_and_params)


def fresh(rules: dict, *, now, customer_ids=None) -> str:
    qs = segment_queryset(rules, now=now, customer_ids=customer_ids)
    return rendered(qs.order_by().values("id").query.sql_with_params())


def reused(rules: dict, *, now, customer_ids=None) -> str:
    return rendered(member_ids_sql(rules, parent_id=None, now=now, customer_ids=customer_ids))


@pytest.fixture(autouse=True)
def _no_templates():
    compiler._TEMPLATES.clear()
    yield
    compiler._TEMPLATES.clear()


@pytest.mark.parametrize("customer_ids", [None, [3, 1, 2]])
def test_a_template_binds_later_instants_and_other_customers_like_a_fresh_compilation(customer_ids):
    first = timezone.now()
    member_ids_sql(RELATIVE, parent_id=None, now=first, customer_ids=[7] if customer_ids else None)
    assert list(compiler._TEMPLATES.values()) != [None]

    later = first + timedelta(days=3, seconds=5)
    assert reused(RELATIVE, now=later, customer_ids=customer_ids) == fresh(
        RELATIVE, now=later, customer_ids=customer_ids
    )


def test_rules_whose_compilation_reads_the_database_are_compiled_every_time():
    rules = {"events": {"channel": "email", "within_days": 30}}
    now = timezone.now()

    assert reused(rules, now=now) == fresh(rules, now=now)
    assert list(compiler._TEMPLATES.values()) == [None]


def test_rules_that_derive_other_values_from_now_are_compiled_every_time():
    # The cutoff is compared as ISO text, not a timestamp: not "now plus an offset".
    rules = {"attr": "attributes.renewal", "op": "within_last_days", "value": 30}
    now = timezone.now()

    assert reused(rules, now=now) == fresh(rules, now=now)
    assert list(compiler._TEMPLATES.values()) == [None]
