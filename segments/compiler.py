"""Compile a segment rule (JSON) into one set-based query over ``customers.Customer``.

Every condition becomes a two-valued ``Q`` (``Exists``, ``IN (SELECT …)`` or a
null-guarded column comparison), so ``all``/``any``/``not`` compose exactly as
boolean logic and the whole rule runs as a single SQL statement.
"""

from __future__ import annotations

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
        self.ids = [int(pk) for pk in ids]

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        if not self.ids:
            return "1 = 0", ()
        marks = ", ".join(["%s"] * len(self.ids))
        return f"{column} IN ({marks})", (*params, *self.ids)

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return f"{column} = ANY(%s::bigint[])", (*params, self.ids)


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
        qs = qs.filter(pk__in=SegmentMembership.objects.filter(segment=parent).values("customer_id"))
    return qs
