"""Compile a segment rule (JSON) into one set-based query over ``customers.Customer``.

Every condition becomes a two-valued ``Q`` (``Exists``, ``IN (SELECT …)`` or a
null-guarded column comparison), so ``all``/``any``/``not`` compose exactly as
boolean logic and the whole rule runs as a single SQL statement.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet
from django.utils import timezone

from customers.models import Customer

from .errors import InvalidRule
from .registry import CompileContext, condition_type, condition_types

NOTHING = Q(pk__in=[])


class InIds(Func):
    """``column IN (ids)``; on PostgreSQL ``column = ANY(%s)``: one array parameter however many
    ids, so a batch of a thousand customers costs no more to compile, send and parse than one."""

    output_field = BooleanField()

    def __init__(self, column: str, ids: list[int]):
        super().__init__(F(column))
        self.ids = ids if isinstance(ids, _CustomerIdsSlot) else [int(pk) for pk in ids]

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        if not self.ids:
            return "1 = 0", ()
        marks = ", ".join(["%s"] * len(self.ids))
        return f"{column} IN ({marks})", (*params, *self.ids)

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        ids = self.ids if isinstance(self.ids, _CustomerIdsSlot) else id_array(self.ids)
        return f"{column} = ANY(%s::bigint[])", (*params, ids)


def id_array(ids: list[int]) -> str:
    """The PostgreSQL array literal of ``ids`` (integers), sent as one text parameter: psycopg
    would adapt a list of a thousand ints again for every place it appears (~2 ms each), and an
    incremental refresh binds the dirty customers a few times per segment."""
    return "{" + ",".join(str(int(pk)) for pk in ids) + "}"


def compile_node(rule: dict, ctx: CompileContext) -> Q:
    """Compile one node (composition or condition) at ``ctx.path``."""
    if not isinstance(rule, dict) or not rule:
        raise InvalidRule("A rule must be a non-empty object.", field=ctx.path)
    if "all" in rule:
        parts = [compile_node(child, ctx.at(f"all[{i}]")) for i, child in enumerate(rule["all"])]
        q = Q()
        for part in parts:
            q &= part
        return q
    if "any" in rule:
        parts = [compile_node(child, ctx.at(f"any[{i}]")) for i, child in enumerate(rule["any"])]
        if not parts:
            return NOTHING
        if any(not part for part in parts):  # Q() is "everything"; Django would drop it from an OR
            return Q()
        q = parts[0]
        for part in parts[1:]:
            q |= part
        return q
    if "not" in rule:
        inner = compile_node(rule["not"], ctx.at("not"))
        if not inner:  # not(everything) is nothing; ~Q() would be everything
            return NOTHING
        return ~inner
    for key in rule:
        condition = condition_type(key)
        if condition is not None:
            return condition.compile(rule, ctx)
    known = ", ".join(["all", "any", "not", *condition_types()])
    raise InvalidRule(f"Unknown condition; expected one of: {known}.", field=ctx.path)


def compile_rule(
    rules: dict,
    *,
    now=None,
    segment=None,
    customer_ids: list[int] | None = None,
    cache: dict | None = None,
) -> Q:
    """The ``Q`` for a whole rule (without the parent or merged-profile filters).

    ``cache`` holds lookups (channel and segment ids) shared by several compilations.
    """
    ctx = CompileContext(
        now=now or timezone.now(),
        segment=segment,
        customer_ids=customer_ids,
        cache=cache if cache is not None else {},
    )
    return compile_node(rules, ctx)


def segment_queryset(
    rules: dict,
    *,
    parent=None,
    now=None,
    segment=None,
    customer_ids: list[int] | None = None,
    cache: dict | None = None,
) -> QuerySet:
    """Live (unmerged) customers matching ``rules`` and, for a micro-segment, in ``parent`` (a
    segment or its id).

    With ``customer_ids`` only those customers are evaluated (incremental refresh).
    """
    from .models import SegmentMembership

    q = Q()
    if rules:
        q = compile_rule(rules, now=now, segment=segment, customer_ids=customer_ids, cache=cache)
    qs = Customer.objects.filter(merged_into__isnull=True).filter(q)
    if customer_ids is not None:
        qs = qs.filter(InIds("pk", customer_ids))
    if parent is not None:
        members = SegmentMembership.objects.filter(segment=parent)
        if customer_ids is not None:  # as conditions.only_dirty: never hash all the parent's members
            members = members.filter(InIds("customer_id", customer_ids))
        qs = qs.filter(pk__in=members.values("customer_id"))
    return qs


# --- compiled member queries ---------------------------------------------------------------
#
# Django takes ~0.5-2 ms to build a rule's SQL, longer than many rules take to run, so the SQL
# of a rule is kept as a template while the rule is unchanged. Only where that is safe: on
# PostgreSQL (one array parameter for the customer ids), for rules whose compilation read
# nothing from the database (a channel or segment looked up could change), and whose
# parameters are constants or ``now`` plus a fixed offset (a relative window), which the rule
# is compiled twice, at two far-apart instants, to tell.

_PROBE = timedelta(days=400, hours=1, minutes=1, seconds=1, microseconds=1)
_TEMPLATES: dict[tuple, _Template | None] = {}
_TEMPLATES_MAX = 1024
_UNSEEN = object()


class _CustomerIdsSlot(list):
    """Stands for the customer ids of an incremental refresh while a template is compiled."""


@dataclass(frozen=True)
class _FromNow:
    offset: timedelta


@dataclass(frozen=True)
class _Template:
    sql: str
    params: tuple  # constants, _FromNow(offset), or the _CustomerIdsSlot

    def bind(self, now: datetime, customer_ids: list[int] | None) -> tuple[str, tuple]:
        ids = id_array(customer_ids) if customer_ids is not None else None
        return self.sql, tuple(
            ids
            if isinstance(param, _CustomerIdsSlot)
            else now + param.offset
            if isinstance(param, _FromNow)
            else param
            for param in self.params
        )


def member_ids_sql(
    rules: dict,
    *,
    parent_id: int | None,
    now: datetime,
    segment=None,
    customer_ids: list[int] | None = None,
    cache: dict | None = None,
) -> tuple[str, tuple]:
    """SQL and parameters selecting the ids of ``segment_queryset(...)``, from a template
    when the rule has one."""

    def compile_(at: datetime, ids, lookups: dict | None) -> tuple[str, tuple]:
        qs = segment_queryset(
            rules, parent=parent_id, now=at, segment=segment, customer_ids=ids, cache=lookups
        )
        return qs.order_by().values("id").query.sql_with_params()

    if connection.vendor != "postgresql":  # SQLite spells out one placeholder per customer id
        return compile_(now, customer_ids, cache)
    key = (json.dumps(rules, sort_keys=True), parent_id, getattr(segment, "pk", None), customer_ids is None)
    template = _TEMPLATES.get(key, _UNSEEN)
    if template is _UNSEEN:
        if len(_TEMPLATES) >= _TEMPLATES_MAX:  # far more rules than any install has; start over
            _TEMPLATES.clear()
        template = _TEMPLATES[key] = _make_template(compile_, now, incremental=customer_ids is not None)
    if template is None:
        return compile_(now, customer_ids, cache)
    return template.bind(now, customer_ids)


def _make_template(compile_, now: datetime, *, incremental: bool) -> _Template | None:
    slot = _CustomerIdsSlot([0]) if incremental else None
    reads: list[str] = []

    def count_reads(execute, sql, params, many, context):
        reads.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count_reads):
        sql, params = compile_(now, slot, {})
        later_sql, later_params = compile_(now + _PROBE, slot, {})
    if reads or sql != later_sql or len(params) != len(later_params):
        return None
    shaped = []
    for param, later in zip(params, later_params, strict=True):
        if param is slot:
            shaped.append(slot)
        elif isinstance(param, datetime) and isinstance(later, datetime) and later - param == _PROBE:
            shaped.append(_FromNow(param - now))
        elif type(param) is type(later) and param == later and not isinstance(param, list):
            shaped.append(param)
        else:  # derived from now some other way, or a value that cannot be compared
            return None
    return _Template(sql, tuple(shaped))
