"""The built-in rule conditions: customer fields and attributes, identities, business units,
consent state, interaction aggregates and membership of other segments."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from functools import cache

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    Sum,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast, Coalesce
from django.db.models.lookups import Exact, In
from django.utils.dateparse import parse_date

from customers.models import (
    CONTACT_PREFERENCE_FIELDS,
    PROFILE_FIELDS,
    TIMESTAMP_FIELDS,
    Consent,
    Customer,
    Identity,
)
from cxhub.errors import DomainError
from cxhub.timeparse import parse_instant
from interactions.models import Channel, Interaction

from .compiler import InIds
from .errors import InvalidRule
from .registry import CompileContext, _base_schema, register_condition

NOTHING = Q(pk__in=[])
EVERYTHING = Q()

TEXT_FIELDS = PROFILE_FIELDS + CONTACT_PREFERENCE_FIELDS
DATETIME_FIELDS = TIMESTAMP_FIELDS
NULLABLE_FIELDS = ("last_seen_at",)
LOOKUP = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}


def _negate(q: Q) -> Q:
    return NOTHING if not q else ~q


def two_valued(q: Q) -> Q:
    """Wrap ``q`` so it is TRUE or FALSE, never NULL (``not`` must stay exact)."""
    return Q(Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField()))


class JsonTypeIs(Func):
    """True when ``attributes -> key`` holds a JSON value of the given kind (string or number)."""

    output_field = BooleanField()
    SQLITE_TYPES = {"string": ("text",), "number": ("integer", "real")}

    def __init__(self, key: str, kind: str):
        super().__init__(F("attributes"))
        self.key, self.kind = key, kind

    def as_sql(self, compiler, connection, **extra):  # pragma: no cover - other vendors
        raise NotImplementedError(f"JSON type checks are not implemented for {connection.vendor}")

    def as_postgresql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return f"(jsonb_typeof({column} -> %s) = %s)", (*params, self.key, self.kind)

    def as_sqlite(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        types = self.SQLITE_TYPES[self.kind]
        marks = ", ".join(["%s"] * len(types))
        return f"(json_type({column}, %s) IN ({marks}))", (*params, f'$."{self.key}"', *types)


# --- attr ------------------------------------------------------------------------------


def _parse_instant(value, ctx: CompileContext) -> tuple[datetime, bool]:
    """(instant, is_whole_day) for a date or datetime string in a rule."""
    try:
        return parse_instant(value, field="value"), parse_date(value) is not None
    except (DomainError, ValueError):
        raise InvalidRule("Expected an ISO 8601 date or datetime.", field=ctx.at("value").path) from None


def _column_condition(name: str, op: str, value, ctx: CompileContext) -> Q:
    is_datetime = name in DATETIME_FIELDS
    if op in ("within_last_days", "before_last_days"):
        if not is_datetime:
            raise InvalidRule(f"{op} needs a date field.", field=ctx.at("op").path)
        cutoff = ctx.now - timedelta(days=value)
        lookup = "gte" if op == "within_last_days" else "lt"
        q = Q(**{f"{name}__{lookup}": cutoff})
    elif op in ("is_set", "is_not_set"):
        q = Q(**{f"{name}__isnull": False}) if is_datetime else ~Q(**{name: ""})
        return q if op == "is_set" else _negate(q)
    elif op in ("in", "not_in"):
        if is_datetime:
            raise InvalidRule("in / not_in need a text field.", field=ctx.at("op").path)
        q = Q(**{f"{name}__in": [str(v) for v in value]})
        return q if op == "in" else _negate(q)
    elif op == "contains":
        if is_datetime:
            raise InvalidRule("contains needs a text field.", field=ctx.at("op").path)
        q = Q(**{f"{name}__icontains": value})
    elif is_datetime:
        instant, whole_day = _parse_instant(value, ctx)
        if whole_day and op in ("eq", "ne"):
            q = Q(**{f"{name}__gte": instant, f"{name}__lt": instant + timedelta(days=1)})
        elif whole_day and op in ("gt", "lte"):  # after the day / up to the end of the day
            q = Q(**{f"{name}__{'gte' if op == 'gt' else 'lt'}": instant + timedelta(days=1)})
        else:
            q = Q(**{f"{name}__{LOOKUP.get(op, 'exact')}": instant})
        if op == "ne":
            q = _negate(q)
    else:
        q = Q(**{f"{name}__{LOOKUP.get(op, 'exact')}": str(value)})
        if op == "ne":
            return _negate(q)
        return q
    if name in NULLABLE_FIELDS and op != "ne":
        q = Q(**{f"{name}__isnull": False}) & q
    return q


def _text_comparable(values: list) -> bool:
    """Whether ``attributes ->> key`` (the value as text, cheaper than comparing JSON) matches
    exactly these values: they are strings, and no number, boolean, object or array prints as
    one of them ("5" or "true" would also match 5 or true, so those compare as JSON)."""
    for value in values:
        if not isinstance(value, str):
            return False
        try:
            decoded = json.loads(value)
        except ValueError:
            continue
        if not isinstance(decoded, str):
            return False
    return True


def _attribute_condition(key: str, op: str, value, ctx: CompileContext) -> Q:
    if "__" in key:
        raise InvalidRule("Attribute keys may not contain a double underscore.", field=ctx.at("attr").path)
    path = f"attributes__{key}"
    text = KeyTextTransform(key, "attributes")
    if op in ("is_set", "is_not_set"):
        q = two_valued(Q(attributes__has_key=key) & ~Q(**{f"{path}__exact": None}))
        return q if op == "is_set" else _negate(q)
    if op in ("eq", "ne"):
        if _text_comparable([value]):
            q = two_valued(Q(Exact(text, value)))
        else:
            q = two_valued(Q(**{f"{path}__exact": value}))
        return q if op == "eq" else _negate(q)
    if op in ("in", "not_in"):
        if _text_comparable(value):
            q = two_valued(Q(In(text, value)))
        else:
            q = two_valued(Q(**{f"{path}__in": value}))
        return q if op == "in" else _negate(q)
    if op == "contains":
        return two_valued(Q(JsonTypeIs(key, "string")) & Q(**{f"{path}__icontains": value}))
    if op in ("within_last_days", "before_last_days"):
        cutoff = (ctx.now - timedelta(days=value)).strftime("%Y-%m-%dT%H:%M:%S")
        lookup = "gte" if op == "within_last_days" else "lt"
        return two_valued(Q(JsonTypeIs(key, "string")) & Q(**{f"{path}__{lookup}": cutoff}))
    # gt / gte / lt / lte: numbers compare as numbers, strings (ISO dates) as text.
    if isinstance(value, bool):
        raise InvalidRule("Range comparisons need a number or a string.", field=ctx.at("value").path)
    if isinstance(value, int | float):
        number = Case(
            When(JsonTypeIs(key, "number"), then=Cast(text, FloatField())),
            default=None,
            output_field=FloatField(),
        )
        lookup = number.get_lookup(LOOKUP[op])
        return two_valued(Q(lookup(number, float(value))))
    return two_valued(Q(JsonTypeIs(key, "string")) & Q(**{f"{path}__{LOOKUP[op]}": value}))


def compile_attr(condition: dict, ctx: CompileContext) -> Q:
    name, op, value = condition["attr"], condition["op"], condition.get("value")
    if name.startswith("attributes."):
        return _attribute_condition(name.removeprefix("attributes."), op, value, ctx)
    if name not in TEXT_FIELDS + DATETIME_FIELDS:
        raise InvalidRule(f"Unknown customer field {name!r}.", field=ctx.at("attr").path)
    return _column_condition(name, op, value, ctx)


# --- identity, business unit, consent -------------------------------------------------


def compile_identity(condition: dict, ctx: CompileContext) -> Q:
    identities = Identity.objects.filter(customer_id=OuterRef("pk"), kind=condition["identity"])
    if "namespace" in condition:
        identities = identities.filter(namespace=condition["namespace"])
    q = Q(Exists(identities))
    return q if condition["op"] == "exists" else ~q


def compile_business_unit(condition: dict, ctx: CompileContext) -> Q:
    links = Customer.business_units.through.objects.filter(
        customer_id=OuterRef("pk"), businessunit__code=condition["business_unit"]
    )
    return Q(Exists(links))


def compile_consent(condition: dict, ctx: CompileContext) -> Q:
    """State = the latest ledger row per (customer, channel, purpose); no row = unknown."""
    channel, purpose = condition["consent"]["channel"], condition["consent"]["purpose"]
    rows = Consent.objects.filter(customer_id=OuterRef("pk"), channel=channel, purpose=purpose)
    if condition["is"] == "unknown":
        return ~Q(Exists(rows))
    granted = condition["is"] == "granted"
    newer = Consent.objects.filter(
        customer_id=OuterRef("customer_id"), channel=channel, purpose=purpose
    ).filter(
        Q(captured_at__gt=OuterRef("captured_at"))
        | Q(captured_at=OuterRef("captured_at"), pk__gt=OuterRef("pk"))
    )
    latest = rows.filter(granted=granted).filter(~Exists(newer))
    return Q(Exists(latest))


# --- events ----------------------------------------------------------------------------


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _channel_ids(codes: list[str], ctx: CompileContext) -> list[int]:
    known = ctx.cache.get("channels")
    if known is None:
        known = ctx.cache["channels"] = dict(Channel.objects.values_list("code", "id"))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise InvalidRule(f"Unknown channel {unknown[0]!r}.", field=ctx.at("channel").path)
    return [known[code] for code in codes]


def _day_start(value: str) -> datetime:
    return datetime.combine(parse_date(value), time.min, tzinfo=UTC)


def event_filter(spec: dict, ctx: CompileContext) -> Q:
    """The ``Q`` over Interaction for an ``events`` filter (type, channel, window, properties)."""
    q = Q()
    if "type" in spec:
        types = _as_list(spec["type"])
        q &= Q(type=types[0]) if len(types) == 1 else Q(type__in=types)
    if "channel" in spec:
        ids = _channel_ids(_as_list(spec["channel"]), ctx)
        q &= Q(channel_id=ids[0]) if len(ids) == 1 else Q(channel_id__in=ids)
    if "direction" in spec:
        q &= Q(direction=spec["direction"])
    for key, value in (spec.get("properties") or {}).items():
        if "__" in key:
            raise InvalidRule(
                "Property keys may not contain a double underscore.", field=ctx.at("properties").path
            )
        q &= Q(**{f"properties__{key}__exact": value})
    if "within_days" in spec:
        q &= Q(occurred_at__gte=ctx.now - timedelta(days=spec["within_days"]))
    if "since" in spec:
        q &= Q(occurred_at__gte=_day_start(spec["since"]))
    if "until" in spec:
        q &= Q(occurred_at__lt=_day_start(spec["until"]) + timedelta(days=1))
    return q


def _compare(left: float, op: str, right: float) -> bool:
    return {
        "eq": left == right,
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def _count_condition(events, aggregated, op: str, n: int) -> Q:
    """Customers whose number of matching events satisfies ``op n`` (zero events count).

    ``aggregated`` is ``events`` restricted to the customers re-evaluated (incremental refresh):
    counts group those rows only; the one-event test is a correlated EXISTS over ``events``.
    """

    def at_least(k: int) -> Q:
        if k <= 0:
            return EVERYTHING
        if k == 1:
            return Q(Exists(events.filter(customer_id=OuterRef("pk"))))
        grouped = aggregated.values("customer_id").annotate(events_n=Count("id")).filter(events_n__gte=k)
        return Q(pk__in=grouped.values("customer_id"))

    if op == "gte":
        return at_least(n)
    if op == "gt":
        return at_least(n + 1)
    if op == "lte":
        return _negate(at_least(n + 1))
    if op == "lt":
        return NOTHING if n <= 0 else _negate(at_least(n))
    # eq
    if n == 0:
        return _negate(at_least(1))
    exactly = aggregated.values("customer_id").annotate(events_n=Count("id")).filter(events_n=n)
    return Q(pk__in=exactly.values("customer_id"))


def _sum_condition(events, op: str, value: float) -> Q:
    """Customers whose sum of ``value`` over matching events satisfies ``op value`` (none = 0)."""
    totals = events.values("customer_id").annotate(
        events_sum=Cast(Coalesce(Sum("value"), Value(0), output_field=FloatField()), FloatField())
    )
    lookup = {f"events_sum__{LOOKUP[op]}": float(value)}
    if _compare(0.0, op, float(value)):
        # Customers without events qualify: exclude only those whose total fails.
        return _negate(Q(pk__in=totals.exclude(**lookup).values("customer_id")))
    return Q(pk__in=totals.filter(**lookup).values("customer_id"))


def compile_events(condition: dict, ctx: CompileContext) -> Q:
    events = Interaction.objects.filter(event_filter(condition["events"], ctx.at("events")))
    aggregated = events
    if ctx.customer_ids is not None:  # incremental refresh: aggregate only the customers re-evaluated
        aggregated = events.filter(InIds("customer_id", ctx.customer_ids))
    # A correlated EXISTS reads only the customer's own rows already. The list of ids in it as
    # well would make PostgreSQL price each probe as a thousand index descents and scan the
    # whole window of a type instead (``last`` and the one-event test below).
    parts: list[Q] = []
    if "count" in condition:
        parts.append(
            _count_condition(events, aggregated, condition["count"]["op"], condition["count"]["value"])
        )
    if "sum" in condition:
        parts.append(_sum_condition(aggregated, condition["sum"]["op"], condition["sum"]["value"]))
    if "last" in condition:
        cutoff = ctx.now - timedelta(days=condition["last"]["value"])
        own = events.filter(customer_id=OuterRef("pk"))
        recent = Q(Exists(own.filter(occurred_at__gte=cutoff)))
        if condition["last"]["op"] == "within_last_days":
            parts.append(recent)
        else:
            parts.append(Q(Exists(own)) & ~recent)
    if not parts:
        parts.append(Q(Exists(events.filter(customer_id=OuterRef("pk")))))
    q = parts[0]
    for part in parts[1:]:
        q &= part
    return q


# --- segment membership -------------------------------------------------------------------


def compile_segment(condition: dict, ctx: CompileContext) -> Q:
    from .models import SegmentMembership

    segment_id = resolve_segment_id(condition["segment"], ctx)
    q = Q(Exists(SegmentMembership.objects.filter(segment_id=segment_id, customer_id=OuterRef("pk"))))
    return q if condition["is"] == "member" else ~q


def resolve_segment_id(slug: str, ctx: CompileContext) -> int:
    from .models import Segment

    known = ctx.cache.setdefault("segments", {})
    if slug not in known:
        segment_id = Segment.objects.filter(slug=slug).values_list("id", flat=True).first()
        if segment_id is None:
            raise InvalidRule(f"Unknown segment {slug!r}.", field=ctx.at("segment").path)
        known[slug] = segment_id
    if ctx.segment is not None and known[slug] == ctx.segment.pk:
        raise InvalidRule("A segment cannot refer to itself.", field=ctx.at("segment").path)
    return known[slug]


@cache
def _schema(key: str) -> dict:
    return _base_schema()["$defs"][f"condition_{key}"]


def register_builtin_conditions() -> None:
    for key, compile_ in (
        ("attr", compile_attr),
        ("identity", compile_identity),
        ("business_unit", compile_business_unit),
        ("consent", compile_consent),
        ("events", compile_events),
        ("segment", compile_segment),
    ):
        register_condition(key, schema=_schema(key), compile=compile_)
