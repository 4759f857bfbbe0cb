"""The segment rule registry: which condition kinds exist, their JSON Schema and their compilers.

``segments`` ships the built-in conditions (attr, identity, business_unit, consent,
events, segment). Higher apps add theirs in ``AppConfig.ready`` without ``segments``
importing them::

    from segments.registry import CompileContext, register_condition

    def compile_score(condition: dict, ctx: CompileContext) -> Q:
        return Q(Exists(CustomerScore.objects.filter(customer=OuterRef("pk"), ...)))

    register_condition(
        "score",
        schema={"type": "object", "required": ["score", "op", "value"], "properties": {...}},
        compile=compile_score,
    )

``key`` is the condition's top-level JSON key; ``schema`` is the JSON Schema fragment of
the whole condition object (it joins the served schema's ``condition`` ``oneOf``);
``compile`` returns a ``Q`` over ``customers.Customer`` built from ``Exists`` /
``Subquery`` so that a whole rule stays one set-based query. A compiled ``Q`` must be
two-valued (never SQL NULL) so that ``{"not": ...}`` is exact; ``Exists`` always is.
``evaluate(condition, facts)`` is an optional pure-Python twin used by reference tests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from django.db.models import Q

SCHEMA_PATH = Path(__file__).with_name("rule_schema.json")


@dataclass(frozen=True)
class ConditionType:
    key: str
    schema: dict
    compile: Callable[[dict, CompileContext], Q]
    evaluate: Callable | None = None


_conditions: dict[str, ConditionType] = {}


def register_condition(
    key: str,
    *,
    schema: dict,
    compile: Callable[[dict, CompileContext], Q],
    evaluate: Callable | None = None,
) -> None:
    """Register (or replace) the condition whose JSON object carries the top-level ``key``."""
    if key in ("all", "any", "not"):
        raise ValueError(f"{key!r} is reserved for boolean composition")
    # The condition's key comes first in "required": validation uses it to tell conditions apart.
    required = [name for name in schema.get("required") or [] if name != key]
    schema = {**schema, "required": [key, *required]}
    _conditions[key] = ConditionType(key=key, schema=schema, compile=compile, evaluate=evaluate)


def condition_types() -> dict[str, ConditionType]:
    return dict(_conditions)


def condition_type(key: str) -> ConditionType | None:
    return _conditions.get(key)


@cache
def _base_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def rule_schema() -> dict:
    """The served JSON Schema: the file in the repo plus every registered condition."""
    schema = copy.deepcopy(_base_schema())
    defs = schema["$defs"]
    alternatives = []
    for key, condition in _conditions.items():
        def_name = f"condition_{key}"
        if def_name not in defs:
            defs[def_name] = copy.deepcopy(condition.schema)
        alternatives.append({"$ref": f"#/$defs/{def_name}"})
    defs["condition"] = {"oneOf": alternatives}
    return schema


@dataclass
class CompileContext:
    """What a condition compiler may need besides its JSON: the clock and the path for errors.

    ``now`` is fixed once per compilation so every relative window agrees; ``path``
    is the JSON path of the node being compiled (``rules.all[0]``), for error messages;
    ``segment`` is the segment being computed (None for a preview); ``customer_ids`` is set
    when only those customers are being re-evaluated.
    """

    now: datetime
    path: str = "rules"
    segment: Any = None
    cache: dict = field(default_factory=dict)
    # Set for an incremental refresh: the final query is restricted to these customers, so a
    # condition that aggregates a whole table (GROUP BY … HAVING) should restrict its subquery too.
    customer_ids: list[int] | None = None

    def at(self, suffix: str) -> CompileContext:
        path = f"{self.path}{suffix}" if suffix.startswith("[") else f"{self.path}.{suffix}"
        return CompileContext(
            now=self.now, path=path, segment=self.segment, cache=self.cache, customer_ids=self.customer_ids
        )

    def compile(self, rule: dict) -> Q:
        """Compile a nested rule at this context's path (for conditions that embed rules)."""
        from .compiler import compile_node

        return compile_node(rule, self)


# --- KPI providers -------------------------------------------------------------------------------
#
# Higher apps add figures to a segment's KPIs (``GET …/segments/<id>/kpis/`` and the segment
# page) the same way they add conditions, without ``segments`` importing them::
#
#     from segments.registry import KpiProvider, KpiWindow, register_kpi_provider
#
#     def segment_nps(window: KpiWindow) -> dict:
#         rows = SurveyResponse.objects.filter(customer_id__in=window.members, ...)
#         ...
#
#     register_kpi_provider(
#         KpiProvider(key="nps", title="NPS", compute=segment_nps, serializer=NpsFigureSerializer)
#     )
#
# ``compute`` must stay a constant number of queries whatever the segment's size: use
# ``window.members`` as a subquery (``customer_id__in=window.members``), never a list of ids.


@dataclass(frozen=True)
class KpiWindow:
    """What a KPI provider computes over.

    ``members`` is a queryset of the current members' customer ids (``values("customer_id")``),
    to be used as a subquery; ``since`` is inclusive and ``until`` exclusive (both UTC).
    """

    segment: Any
    members: Any
    since: datetime
    until: datetime


@dataclass(frozen=True)
class KpiProvider:
    """One figure (or group of figures) under ``key`` in a segment's KPIs.

    ``compute(window)`` returns a JSON-friendly dict shaped like ``serializer`` (a DRF
    serializer class; it renders the figure and documents it in the OpenAPI schema);
    ``figures(result)`` returns ``[(label, text), …]`` for the segment page.
    """

    key: str
    title: str
    compute: Callable[[KpiWindow], dict]
    serializer: Any
    figures: Callable[[dict], list[tuple[str, str]]] | None = None


# Keys of the figures segments computes itself; a provider may not shadow them.
RESERVED_KPI_KEYS = frozenset(
    {
        "segment",
        "days",
        "period",
        "since",
        "until",
        "last_computed_at",
        "size",
        "size_at_start",
        "entered",
        "exited",
        "net_change",
        "retained",
        "retention_rate",
        "per_day",
        "per_period",
        "economics",
    }
)

_kpi_providers: dict[str, KpiProvider] = {}


def register_kpi_provider(provider: KpiProvider) -> None:
    """Register (or replace) the provider of the figures under ``provider.key``."""
    if provider.key in RESERVED_KPI_KEYS:
        raise ValueError(f"{provider.key!r} is a built-in segment KPI")
    _kpi_providers[provider.key] = provider


def kpi_providers() -> list[KpiProvider]:
    return list(_kpi_providers.values())
