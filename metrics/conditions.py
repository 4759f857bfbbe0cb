"""The ``survey`` condition of the segment rules language (registered by ``metrics.wiring``).

``{"survey": {"kind": "nps|ces|csat", "within_days"?: N},
   "latest_category"?: "promoter|passive|detractor", "average"?: {"op": "gte", "value": 5}}``

With neither ``latest_category`` nor ``average`` it means "answered at least once". Each
part compiles to an ``Exists`` over ``SurveyResponse`` or, for the latest category, a scalar
subquery wrapped to be two-valued (never NULL), so ``not`` is exact.
"""

from datetime import timedelta

from django.db.models import Avg, Exists, OuterRef, Q, Subquery
from django.db.models.lookups import In

from . import scores
from .models import SurveyResponse

OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
CATEGORY_RANGES = {
    "promoter": (scores.PROMOTER_MIN, 10),
    "passive": (scores.DETRACTOR_MAX + 1, scores.PROMOTER_MIN - 1),
    "detractor": (0, scores.DETRACTOR_MAX),
}

SCHEMA = {
    "type": "object",
    "required": ["survey"],
    "additionalProperties": False,
    "properties": {
        "survey": {
            "type": "object",
            "required": ["kind"],
            "additionalProperties": False,
            "properties": {
                "kind": {"enum": ["nps", "ces", "csat"]},
                "within_days": {"type": "integer", "minimum": 1, "maximum": 36500},
            },
        },
        "latest_category": {"enum": list(CATEGORY_RANGES)},
        "average": {
            "type": "object",
            "required": ["op", "value"],
            "additionalProperties": False,
            "properties": {"op": {"enum": list(OPS)}, "value": {"type": "number"}},
        },
    },
}


def _responses(condition: dict, now, customer_ref: str):
    spec = condition["survey"]
    rows = SurveyResponse.objects.filter(customer=OuterRef(customer_ref), kind=spec["kind"])
    if spec.get("within_days"):
        rows = rows.filter(responded_at__gte=now - timedelta(days=int(spec["within_days"])))
    return rows


def compile_survey(condition: dict, ctx) -> Q:
    from segments.conditions import two_valued
    from segments.errors import InvalidRule

    kind = condition["survey"]["kind"]
    category = condition.get("latest_category")
    average = condition.get("average")
    if category and kind != "nps":
        raise InvalidRule("latest_category applies to NPS surveys only.", field=f"{ctx.path}.latest_category")
    parts: list[Q] = []
    if category:
        # The latest score as one correlated scalar subquery, compared once: the planner can
        # drive it from the other conditions' customers instead of joining every response.
        latest = _responses(condition, ctx.now, "pk").order_by("-responded_at", "-id").values("score")[:1]
        low, high = CATEGORY_RANGES[category]
        parts.append(two_valued(Q(In(Subquery(latest), list(range(low, high + 1))))))
    if average:
        op = average["op"]
        having = (
            ~Q(avg_score=average["value"])
            if op == "ne"
            else Q(**{f"avg_score__{'exact' if op == 'eq' else op}": average["value"]})
        )
        averaged = (
            _responses(condition, ctx.now, "pk")
            .values("customer")
            .annotate(avg_score=Avg("score"))
            .filter(having)
        )
        parts.append(Q(Exists(averaged)))
    if not parts:  # "answered at least once"; the parts above imply it
        parts.append(Q(Exists(_responses(condition, ctx.now, "pk"))))
    q = parts[0]
    for part in parts[1:]:
        q &= part
    return q


def evaluate_survey(condition: dict, facts: dict) -> bool:
    """Pure twin for reference tests: ``facts["survey_responses"]`` is a list of dicts
    with ``kind``, ``score`` and ``responded_at`` (and ``facts["now"]``)."""
    spec = condition["survey"]
    rows = [r for r in facts.get("survey_responses", []) if r["kind"] == spec["kind"]]
    if spec.get("within_days"):
        cutoff = facts["now"] - timedelta(days=int(spec["within_days"]))
        rows = [r for r in rows if r["responded_at"] >= cutoff]
    if not rows:
        return False
    if condition.get("latest_category"):
        latest = max(rows, key=lambda r: (r["responded_at"], r.get("id", 0)))
        if scores.nps_category(latest["score"]) != condition["latest_category"]:
            return False
    if condition.get("average"):
        mean = sum(r["score"] for r in rows) / len(rows)
        op, value = condition["average"]["op"], condition["average"]["value"]
        checks = {
            "eq": mean == value,
            "ne": mean != value,
            "gt": mean > value,
            "gte": mean >= value,
            "lt": mean < value,
            "lte": mean <= value,
        }
        if not checks[op]:
            return False
    return True
