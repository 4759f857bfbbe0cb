"""The ``score`` condition of the segment rules language, registered through the segments registry.

``{"score": "clv|churn_risk|p_alive|cost_to_serve|profitability|detractor_risk", "op": "gt", "value": 100}``
``{"score": "rfm", "op": "in", "value": ["champion", "loyal", "555"]}``

Numeric scores take ``eq ne gt gte lt lte`` with a number, or ``is_set`` / ``is_not_set``. A
customer without that score (never scored, or a score that does not apply, e.g. the CLV of someone
who never bought) matches none of the comparisons except ``ne`` and ``is_not_set`` — as attributes
do. ``rfm`` takes ``eq ne in not_in`` with a three-digit code (``"534"``) or a named cell
(``"champion"``, ``"at_risk"``, …). Every form compiles to one ``Exists`` over the score row, so
``not`` is exact and a rule stays one query.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q

from .compute import RFM_LABELS
from .models import CustomerScore

NUMERIC_SCORES = ("clv", "churn_risk", "p_alive", "cost_to_serve", "profitability", "detractor_risk")
SCORES = (*NUMERIC_SCORES, "rfm")
NUMERIC_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "is_set", "is_not_set")
RFM_OPS = ("eq", "ne", "in", "not_in")
RFM_CODE = re.compile(r"^[1-5]{3}$")
RFM_VALUE = {"type": "string", "anyOf": [{"pattern": "^[1-5]{3}$"}, {"enum": list(RFM_LABELS)}]}

SCHEMA = {
    "type": "object",
    "required": ["score", "op"],
    "additionalProperties": False,
    "properties": {
        "score": {"enum": list(SCORES)},
        "op": {"enum": sorted(set(NUMERIC_OPS) | set(RFM_OPS))},
        "value": {},
    },
    "allOf": [
        {
            "if": {"properties": {"score": {"const": "rfm"}}},
            "then": {
                "properties": {
                    "op": {"enum": list(RFM_OPS)},
                    "value": {"oneOf": [RFM_VALUE, {"type": "array", "minItems": 1, "items": RFM_VALUE}]},
                },
                "required": ["value"],
            },
            "else": {"properties": {"op": {"enum": list(NUMERIC_OPS)}}},
        },
        {
            "if": {
                "properties": {
                    "score": {"enum": list(NUMERIC_SCORES)},
                    "op": {"enum": ["is_set", "is_not_set"]},
                }
            },
            "then": {"not": {"required": ["value"]}},
            "else": {
                "if": {"properties": {"score": {"enum": list(NUMERIC_SCORES)}}},
                "then": {"properties": {"value": {"type": "number"}}, "required": ["value"]},
            },
        },
    ],
}

LOOKUPS = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}
MONEY = ("clv", "cost_to_serve", "profitability")


def _exists(q: Q) -> Q:
    return Q(Exists(CustomerScore.objects.filter(q, customer=OuterRef("pk"))))


def _rfm_match(values) -> Q:
    codes = [v for v in values if RFM_CODE.match(v)]
    labels = [v for v in values if not RFM_CODE.match(v)]
    q = Q(pk__in=[])
    if codes:
        q |= Q(rfm_code__in=codes)
    if labels:
        q |= Q(rfm_label__in=labels)
    return q


def compile_score(condition: dict, ctx) -> Q:
    name, op = condition["score"], condition["op"]
    if name == "rfm":
        values = condition["value"] if isinstance(condition["value"], list) else [condition["value"]]
        matched = _exists(_rfm_match(values))
        return ~matched if op in ("ne", "not_in") else matched
    if op in ("is_set", "is_not_set"):
        present = _exists(Q(**{f"{name}__isnull": False}))
        return present if op == "is_set" else ~present
    value = condition["value"]
    if name in MONEY:
        value = Decimal(str(value))
    if op == "ne":
        return ~_exists(Q(**{name: value}))
    return _exists(Q(**{f"{name}__{LOOKUPS[op]}": value}))


def evaluate_score(condition: dict, facts: dict) -> bool:
    """Pure twin: ``facts["scores"]`` is None (never scored) or a dict of the score fields."""
    scores = facts.get("scores")
    name, op = condition["score"], condition["op"]
    if name == "rfm":
        values = condition["value"] if isinstance(condition["value"], list) else [condition["value"]]
        matched = bool(scores) and any(scores["rfm_code"] == v or scores["rfm_label"] == v for v in values)
        return not matched if op in ("ne", "not_in") else matched
    current = None if scores is None else scores.get(name)
    if op == "is_set":
        return current is not None
    if op == "is_not_set":
        return current is None
    if op == "ne":
        return current is None or float(current) != float(condition["value"])
    if current is None:
        return False
    left, right = float(current), float(condition["value"])
    return {
        "eq": left == right,
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]
