"""Parsing one raw interaction item (API.md shape) into column values, or a clear per-item error.

Hand-written rather than a DRF serializer: a 1,000-item batch is validated in a few
milliseconds, and every error names the field it is about. Unknown fields are ignored.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.conf import settings
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from customers.identities import InvalidIdentity, normalize_identity
from cxhub.jsonguard import MAX_DATA_DEPTH, JsonProblem, check_json

from .models import SUMMARY_MAX_LENGTH, Direction

# How far ahead of the server clock an occurred_at may be (client clock skew).
MAX_FUTURE_SKEW = timedelta(hours=1)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_VALUE = Decimal("999999999999.99")  # max_digits=14, decimal_places=2
MAX_BIGINT = 2**63 - 1
MAX_DURATION = 2**31 - 1
MAX_NAMESPACE_LENGTH = 50  # Identity.namespace
# Identity kinds an item may name in its "customer" object; external_id also needs "namespace".
CUSTOMER_KEYS = ("email", "phone", "external_id", "anonymous_id", "device_id")
DIRECTIONS = frozenset(Direction.values)  # Enum.values rebuilds a list per call: too slow per item
TEXT_LIMITS = {
    "source": 100,
    "external_id": 200,
    "type": 64,
    "touchpoint": 100,
    "subject": 255,
    "summary": SUMMARY_MAX_LENGTH,
    "outcome": 50,
}


class ItemError(Exception):
    """One item is invalid: reported in its result, the rest of the batch goes on."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid"):
        super().__init__(message)
        self.message, self.field, self.code = message, field, code

    def as_dict(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        return error


@dataclass
class ParsedItem:
    """An item's column values plus how it names its customer (an id, or identities to resolve)."""

    row: dict
    customer_id: int | None = None
    identities: list[tuple[str, str, str]] = field(default_factory=list)


def _text(item: dict, name: str, *, required: bool = False, default: str = "") -> str:
    value = item.get(name)
    if type(value) is str and value and len(value) <= TEXT_LIMITS[name] and "\x00" not in value:
        return value  # the common case, decided without the checks below
    if value is None or value == "":
        if required:
            raise ItemError(f"{name}: this field is required.", field=name, code="required")
        return default
    if isinstance(value, int) and not isinstance(value, bool) and name == "external_id":
        value = str(value)
    if not isinstance(value, str):
        raise ItemError(f"{name}: must be a string.", field=name)
    if "\x00" in value:
        raise ItemError(f"{name}: must not contain NUL characters.", field=name)
    limit = TEXT_LIMITS[name]
    if len(value) > limit:
        raise ItemError(f"{name}: at most {limit} characters.", field=name)
    return value


def parse_occurred_at(value, *, name: str = "occurred_at", now: datetime | None = None) -> datetime:
    """An ISO 8601 time; naive times are UTC; not before 1970 nor more than an hour ahead."""
    if value is None or value == "":
        raise ItemError(f"{name}: this field is required.", field=name, code="required")
    if not isinstance(value, str):
        raise ItemError(f"{name}: not a valid datetime.", field=name)
    try:
        parsed = parse_datetime(value.strip())
    except (ValueError, OverflowError):
        parsed = None
    if parsed is None:
        raise ItemError(f"{name}: not a valid datetime.", field=name)
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ItemError(f"{name}: not a valid datetime.", field=name) from None
    problem = event_time_problem(parsed, now=now)
    if problem is not None:
        message, code = problem
        raise ItemError(f"{name}: {message}", field=name, code=code)
    return parsed


def event_time_problem(value: datetime, *, now: datetime | None = None) -> tuple[str, str] | None:
    """The time rule for anything that happened (interactions, survey responses): not before
    1970 and not more than ``MAX_FUTURE_SKEW`` ahead of the server clock. (message, code) or None."""
    now = now or timezone.now()
    if value > now + MAX_FUTURE_SKEW:
        return "is in the future.", "future_timestamp"
    if value < EARLIEST:
        return "is before 1970.", "invalid"
    return None


def parse_value(item: dict) -> Decimal | None:
    raw = item.get("value")
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ItemError("value: must be a decimal number.", field="value")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ItemError("value: must be a decimal number.", field="value") from None
    if not value.is_finite():
        raise ItemError("value: must be a finite number.", field="value")
    if abs(value) > MAX_VALUE:
        raise ItemError(f"value: at most {MAX_VALUE}.", field="value")
    if value != value.quantize(Decimal("0.01")):
        raise ItemError("value: at most 2 decimal places.", field="value")
    return value.quantize(Decimal("0.01"))


def parse_currency(item: dict) -> str:
    raw = item.get("currency")
    if raw is None or raw == "":
        return ""
    if not isinstance(raw, str) or len(raw) != 3 or not raw.isascii() or not raw.isalpha():
        raise ItemError("currency: must be a 3-letter ISO 4217 code.", field="currency")
    return raw.upper()


def _duration(item: dict) -> int | None:
    raw = item.get("duration_seconds")
    if raw is None:
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_DURATION:
        raise ItemError(
            "duration_seconds: must be a whole number of seconds, 0 or more.", field="duration_seconds"
        )
    return raw


def json_object(raw, name: str, *, limit: int = MAX_PROPERTIES_BYTES) -> dict:
    """A JSON object of bounded size holding no NUL characters (PostgreSQL jsonb refuses them)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ItemError(f"{name}: must be a JSON object.", field=name)
    if not raw:
        return raw
    try:  # depth first: encoding a very deep value would fail on recursion
        check_json(raw, path=name, max_depth=MAX_DATA_DEPTH, allow_nul=True)
    except JsonProblem as problem:
        raise ItemError(f"{problem.path}: {problem.message}", field=name) from None
    try:
        encoded = json.dumps(raw, allow_nan=False)
    except (TypeError, ValueError):
        raise ItemError(f"{name}: must be plain JSON.", field=name) from None
    if len(encoded) > limit:
        raise ItemError(f"{name}: at most {limit} bytes of JSON.", field=name)
    if "\\u0000" in encoded:
        raise ItemError(f"{name}: must not contain NUL characters.", field=name)
    return raw


@lru_cache(maxsize=100_000)
def _normalized(kind: str, value, namespace: str, region: str) -> tuple[str, str, str]:
    # Busy senders repeat the same identities batch after batch; the region is part of the key
    # because phone numbers without a country code depend on it.
    return normalize_identity(kind, value, namespace)


def normalized_identity(kind: str, value, namespace: str = "") -> tuple[str, str, str]:
    """``normalize_identity`` with a cache (raises InvalidIdentity the same way)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        return normalize_identity(kind, value, namespace)
    return _normalized(kind, value, namespace, settings.PHONE_DEFAULT_REGION)


def customer_identities(raw, *, name: str = "customer") -> list[tuple[str, str, str]]:
    """Normalised (kind, namespace, value) tuples from {"email": ..., "external_id": ..., "namespace"}."""
    if not isinstance(raw, dict):
        raise ItemError(f"{name}: must be an object of identities.", field=name)
    namespace = raw.get("namespace") or ""
    if not isinstance(namespace, str) or "\x00" in namespace:
        raise ItemError(f"{name}.namespace: must be a string.", field=f"{name}.namespace")
    if len(namespace.strip()) > MAX_NAMESPACE_LENGTH:
        raise ItemError(
            f"{name}.namespace: at most {MAX_NAMESPACE_LENGTH} characters.", field=f"{name}.namespace"
        )
    identities = []
    for kind in CUSTOMER_KEYS:
        value = raw.get(kind)
        if value is None or value == "":
            continue
        if isinstance(value, str) and "\x00" in value:
            raise ItemError(f"{name}.{kind}: must not contain NUL characters.", field=f"{name}.{kind}")
        try:
            identities.append(normalized_identity(kind, value, namespace if kind == "external_id" else ""))
        except InvalidIdentity as exc:
            sub = exc.field if exc.field in ("namespace",) else kind
            raise ItemError(exc.message, field=f"{name}.{sub}", code=exc.code) from None
    if not identities:
        kinds = ", ".join(CUSTOMER_KEYS)
        raise ItemError(f"{name}: name at least one identity ({kinds}).", field=name, code="required")
    return identities


def _customer_id(raw) -> int:
    if isinstance(raw, str) and raw.isascii() and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 < raw <= MAX_BIGINT:
        raise ItemError("customer_id: must be a positive integer.", field="customer_id")
    return raw


def parse_item(
    item,
    *,
    channels: dict[str, int],
    business_units: dict[str, int],
    default_source: str = "",
    now: datetime | None = None,
) -> ParsedItem:
    """Validate one raw item; ``channels`` and ``business_units`` map active codes to ids."""
    if not isinstance(item, dict):
        raise ItemError("Each item must be a JSON object.")

    channel_code = item.get("channel")
    if channel_code is None or channel_code == "":
        raise ItemError("channel: this field is required.", field="channel", code="required")
    if not isinstance(channel_code, str) or channel_code not in channels:
        valid = ", ".join(sorted(channels))
        raise ItemError(f"channel: unknown channel; valid codes: {valid}.", field="channel")

    direction = item.get("direction") or Direction.INBOUND
    if direction not in DIRECTIONS:
        raise ItemError("direction: must be inbound or outbound.", field="direction")

    business_unit_id = None
    unit_code = item.get("business_unit")
    if unit_code not in (None, ""):
        if not isinstance(unit_code, str) or unit_code not in business_units:
            raise ItemError("business_unit: unknown business unit code.", field="business_unit")
        business_unit_id = business_units[unit_code]

    value = parse_value(item)
    row = {
        "channel_id": channels[channel_code],
        "direction": direction,
        "type": _text(item, "type", required=True),
        "occurred_at": parse_occurred_at(item.get("occurred_at"), now=now),
        "source": _text(item, "source", default=default_source[: TEXT_LIMITS["source"]]),
        "external_id": _text(item, "external_id") or None,
        "business_unit_id": business_unit_id,
        "touchpoint": _text(item, "touchpoint"),
        "subject": _text(item, "subject"),
        "summary": _text(item, "summary"),
        "outcome": _text(item, "outcome"),
        "value": value,
        "currency": parse_currency(item),
        "duration_seconds": _duration(item),
        "properties": json_object(item.get("properties"), "properties"),
        "context": json_object(item.get("context"), "context"),
    }

    has_id = item.get("customer_id") not in (None, "")
    has_identities = item.get("customer") not in (None, "", {})
    if has_id and has_identities:
        raise ItemError("Give either customer_id or customer identities, not both.", field="customer")
    if has_id:
        return ParsedItem(row=row, customer_id=_customer_id(item["customer_id"]))
    if has_identities:
        return ParsedItem(row=row, identities=customer_identities(item["customer"]))
    raise ItemError(
        "customer: name the customer with customer_id or customer identities.",
        field="customer",
        code="required",
    )
