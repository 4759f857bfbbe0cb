"""A small pure-Python evaluator of segment rules: the oracle the compiled SQL is checked against."""

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal


def _day(value: str) -> datetime:
    return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time.min, tzinfo=UTC)


def _cmp(left, op, right) -> bool:
    return {
        "eq": left == right,
        "gt": left > right,
        "gte": left >= right,
        "lt": left < right,
        "lte": left <= right,
    }[op]


def _attr_column(value, op, arg, now) -> bool:
    text = value or ""
    if op == "eq":
        return text == str(arg)
    if op == "ne":
        return text != str(arg)
    if op == "in":
        return text in [str(a) for a in arg]
    if op == "not_in":
        return text not in [str(a) for a in arg]
    if op == "contains":
        return arg.lower() in text.lower()
    if op == "is_set":
        return text != ""
    if op == "is_not_set":
        return text == ""
    return _cmp(text, op, str(arg))


def _datetime_op(value, op, arg, now) -> bool:
    if op == "is_set":
        return value is not None
    if op == "is_not_set":
        return value is None
    if op == "ne":
        return not _datetime_op(value, "eq", arg, now)
    if value is None:
        return False
    if op == "within_last_days":
        return value >= now - timedelta(days=arg)
    if op == "before_last_days":
        return value < now - timedelta(days=arg)
    start = _day(arg)
    end = start + timedelta(days=1)
    return {
        "eq": start <= value < end,
        "gt": value >= end,
        "gte": value >= start,
        "lt": value < start,
        "lte": value < end,
    }[op]


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _attr_json(attrs: dict, key: str, op, arg, now) -> bool:
    present = key in attrs and attrs[key] is not None
    value = attrs.get(key)
    if op == "is_set":
        return present
    if op == "is_not_set":
        return not present
    if op == "ne":
        return not _attr_json(attrs, key, "eq", arg, now)
    if op == "not_in":
        return not _attr_json(attrs, key, "in", arg, now)
    if not present:
        return False
    if op == "eq":
        return (
            type(value) is type(arg)
            and value == arg
            or (_is_number(value) and _is_number(arg) and value == arg)
        )
    if op == "in":
        return any(_attr_json(attrs, key, "eq", a, now) for a in arg)
    if op == "contains":
        return isinstance(value, str) and arg.lower() in value.lower()
    if op in ("within_last_days", "before_last_days"):
        cutoff = (now - timedelta(days=arg)).strftime("%Y-%m-%dT%H:%M:%S")
        return isinstance(value, str) and (value >= cutoff if op == "within_last_days" else value < cutoff)
    if _is_number(arg):
        return _is_number(value) and _cmp(float(value), op, float(arg))
    return isinstance(value, str) and _cmp(value, op, arg)


def _as_list(value):
    return value if isinstance(value, list) else [value]


def _events(customer: dict, spec: dict, now) -> list[dict]:
    matching = []
    for event in customer["events"]:
        if "type" in spec and event["type"] not in _as_list(spec["type"]):
            continue
        if "channel" in spec and event["channel"] not in _as_list(spec["channel"]):
            continue
        if "direction" in spec and event["direction"] != spec["direction"]:
            continue
        props = spec.get("properties") or {}
        if any(k not in event["properties"] or event["properties"][k] != v for k, v in props.items()):
            continue
        if "within_days" in spec and event["occurred_at"] < now - timedelta(days=spec["within_days"]):
            continue
        if "since" in spec and event["occurred_at"] < _day(spec["since"]):
            continue
        if "until" in spec and event["occurred_at"] >= _day(spec["until"]) + timedelta(days=1):
            continue
        matching.append(event)
    return matching


def evaluate(rule: dict, customer: dict, now: datetime) -> bool:
    """Does ``customer`` (a dict of plain facts, see the property test) satisfy ``rule``?"""
    if "all" in rule:
        return all(evaluate(r, customer, now) for r in rule["all"])
    if "any" in rule:
        return any(evaluate(r, customer, now) for r in rule["any"])
    if "not" in rule:
        return not evaluate(rule["not"], customer, now)
    if "attr" in rule:
        name = rule["attr"]
        if name.startswith("attributes."):
            return _attr_json(
                customer["attributes"], name.split(".", 1)[1], rule["op"], rule.get("value"), now
            )
        if name in ("created_at", "updated_at", "last_seen_at"):
            return _datetime_op(customer[name], rule["op"], rule.get("value"), now)
        return _attr_column(customer[name], rule["op"], rule.get("value"), now)
    if "identity" in rule:
        found = any(
            kind == rule["identity"] and ("namespace" not in rule or namespace == rule["namespace"])
            for kind, namespace in customer["identities"]
        )
        return found if rule["op"] == "exists" else not found
    if "business_unit" in rule:
        return rule["business_unit"] in customer["business_units"]
    if "consent" in rule:
        rows = [
            c
            for c in customer["consents"]
            if c["channel"] == rule["consent"]["channel"] and c["purpose"] == rule["consent"]["purpose"]
        ]
        if not rows:
            return rule["is"] == "unknown"
        latest = max(rows, key=lambda c: (c["captured_at"], c["order"]))
        return rule["is"] == ("granted" if latest["granted"] else "withdrawn")
    if "events" in rule:
        events = _events(customer, rule["events"], now)
        ok = True
        if "count" in rule:
            ok &= _cmp(len(events), rule["count"]["op"], rule["count"]["value"])
        if "sum" in rule:
            total = sum((e["value"] for e in events if e["value"] is not None), Decimal(0))
            ok &= _cmp(float(total), rule["sum"]["op"], float(rule["sum"]["value"]))
        if "last" in rule:
            cutoff = now - timedelta(days=rule["last"]["value"])
            recent = any(e["occurred_at"] >= cutoff for e in events)
            ok &= recent if rule["last"]["op"] == "within_last_days" else (bool(events) and not recent)
        if not any(k in rule for k in ("count", "sum", "last")):
            ok = bool(events)
        return ok
    if "segment" in rule:
        member = rule["segment"] in customer["segments"]
        return member if rule["is"] == "member" else not member
    if "score" in rule:
        return _score(rule, customer.get("scores"))
    raise ValueError(f"reference evaluator does not know {rule!r}")


def _score(rule: dict, scores: dict | None) -> bool:
    """``scores`` is None for a customer never scored; a score that does not apply is None."""
    op = rule["op"]
    if rule["score"] == "rfm":
        wanted = _as_list(rule["value"])
        hit = (
            scores is not None
            and bool(scores["rfm_code"])
            and (scores["rfm_code"] in wanted or scores["rfm_label"] in wanted)
        )
        return hit if op in ("eq", "in") else not hit
    value = None if scores is None else scores[rule["score"]]
    if op in ("is_set", "is_not_set"):
        return (value is not None) == (op == "is_set")
    if op == "ne":
        return value is None or float(value) != float(rule["value"])
    return value is not None and _cmp(float(value), op, float(rule["value"]))
