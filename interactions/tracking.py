"""The common tracking spec (track / identify / alias / page / screen / group) mapped onto CX Hub.

- ``userId`` is an ``external_id`` in the write key's client namespace
  (``ApiClient.tracking_namespace``); ``anonymousId`` is an ``anonymous_id`` identity.
- ``track`` / ``page`` / ``screen`` become interactions with ``source = "tracking:<namespace>"``
  and ``external_id = messageId``, so a re-sent message is a duplicate, never a second row.
- ``identify`` resolves the customer (email / phone traits become identities) and applies
  traits (names and preferences to fields, the rest to ``attributes``); ``alias`` resolves
  ``previousId`` and ``userId`` together, merging profiles when the merge rules allow;
  ``group`` stores ``group_id`` (and the group traits) on the customer. They are
  idempotent by nature, so re-sending them changes nothing.
- Times: ``timestamp`` is corrected for the client's clock skew, ``receivedAt - sentAt``.
"""

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from customers.identities import InvalidIdentity, normalize_identity
from customers.models import IdentityKind
from customers.pipeline import mark_dirty
from cxhub.errors import DomainError

from . import services
from .models import Direction
from .validation import ItemError, json_object, parse_currency, parse_occurred_at, parse_value

logger = logging.getLogger("cxhub.tracking")

MAX_EVENT_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_MESSAGE_ID_LENGTH = 100
MAX_BATCH_MESSAGES = 2500
EVENT_TYPES = ("track", "page", "screen")
MESSAGE_TYPES = (*EVENT_TYPES, "identify", "alias", "group")
MOBILE_LIBRARIES = ("ios", "android", "react-native", "flutter", "kotlin", "swift")


class TrackingError(DomainError):
    """The request breaks the spec: the whole request is a 400 (nothing is stored)."""


@dataclass
class Message:
    type: str
    message_id: str
    identities: list[tuple[str, str, str]]
    occurred_at: datetime
    raw: dict
    context: dict = field(default_factory=dict)


@dataclass
class TrackingResult:
    events: int = 0
    created: int = 0
    duplicates: int = 0
    identified: int = 0


def tracking_namespace(client) -> str:
    return (client.tracking_namespace or client.name)[:50]


def tracking_source(client) -> str:
    return f"tracking:{tracking_namespace(client)}"[:100]


def _id_value(raw, path: str) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise TrackingError(f"{path}: must be a string.", field=path)
    return str(raw)


def _identity(kind: str, value: str, namespace: str, path: str) -> tuple[str, str, str]:
    try:
        return normalize_identity(kind, value, namespace)
    except InvalidIdentity as exc:
        raise TrackingError(f"{path}: {exc.message}", field=path) from None


def _parse_time(raw, path: str, *, now: datetime) -> datetime | None:
    if raw in (None, ""):
        return None
    try:
        # A client clock may be far off: sentAt corrects it, so only absurd times are refused.
        return parse_occurred_at(raw, name=path, now=now + timedelta(days=366))
    except ItemError as exc:
        raise TrackingError(exc.message, field=path) from None


def _occurred_at(msg: dict, path: str, *, now: datetime, batch_sent_at: datetime | None) -> datetime:
    """The event time on the server clock: timestamp + (receivedAt - sentAt) when both are known."""
    stamp = _parse_time(msg.get("timestamp") or msg.get("originalTimestamp"), f"{path}.timestamp", now=now)
    if stamp is None:
        return now
    sent_at = _parse_time(msg.get("sentAt"), f"{path}.sentAt", now=now) or batch_sent_at
    if sent_at is not None:
        stamp = stamp + (now - sent_at)
    return min(stamp, now)


def parse_message(msg, path: str, *, client, now: datetime, batch_sent_at, batch_context: dict) -> Message:
    """Validate one spec message; any problem is a TrackingError naming ``path``."""
    if not isinstance(msg, dict):
        raise TrackingError(f"{path}: each message must be an object.", field=path)
    try:
        encoded = json.dumps(msg, allow_nan=False)
    except (TypeError, ValueError):
        raise TrackingError(f"{path}: not plain JSON.", field=path) from None
    size = len(encoded.encode())
    if size > MAX_EVENT_BYTES:
        raise TrackingError(f"{path}: a message may be at most 32 KB.", field=path, code="message_too_large")
    if "\\u0000" in encoded:
        raise TrackingError(f"{path}: must not contain NUL characters.", field=path)
    kind = msg.get("type")
    if kind not in MESSAGE_TYPES:
        raise TrackingError(f"{path}.type: must be one of {', '.join(MESSAGE_TYPES)}.", field=f"{path}.type")
    message_id = _id_value(msg.get("messageId"), f"{path}.messageId") or str(uuid.uuid4())
    if len(message_id) > MAX_MESSAGE_ID_LENGTH:
        raise TrackingError(f"{path}.messageId: at most 100 characters.", field=f"{path}.messageId")
    if "\x00" in message_id:
        raise TrackingError(f"{path}.messageId: must not contain NUL characters.", field=f"{path}.messageId")
    namespace = tracking_namespace(client)
    identities = []
    user_id = _id_value(msg.get("userId"), f"{path}.userId")
    anonymous_id = _id_value(msg.get("anonymousId"), f"{path}.anonymousId")
    if user_id is not None:
        identities.append(_identity(IdentityKind.EXTERNAL_ID, user_id, namespace, f"{path}.userId"))
    if anonymous_id is not None:
        identities.append(_identity(IdentityKind.ANONYMOUS_ID, anonymous_id, "", f"{path}.anonymousId"))
    if kind == "alias":
        previous_id = _id_value(msg.get("previousId"), f"{path}.previousId")
        if previous_id is None or user_id is None:
            raise TrackingError(f"{path}: alias needs userId and previousId.", field=f"{path}.previousId")
    elif not identities:
        raise TrackingError(f"{path}: userId or anonymousId is required.", field=f"{path}.userId")
    for name in ("properties", "traits", "context"):
        try:
            json_object(msg.get(name), f"{path}.{name}", limit=MAX_EVENT_BYTES)
        except ItemError as exc:
            raise TrackingError(exc.message, field=exc.field) from None
    if kind == "track" and (not isinstance(msg.get("event"), str) or not msg["event"].strip()):
        raise TrackingError(f"{path}.event: the event name is required.", field=f"{path}.event")
    if kind == "group" and _id_value(msg.get("groupId"), f"{path}.groupId") is None:
        raise TrackingError(f"{path}.groupId: is required.", field=f"{path}.groupId")
    context = {**batch_context, **(msg.get("context") or {})}
    occurred_at = _occurred_at(msg, path, now=now, batch_sent_at=batch_sent_at)
    return Message(kind, message_id, identities, occurred_at, msg, context)


def ingest_tracking(
    *,
    messages,
    client,
    sent_at=None,
    context: dict | None = None,
    ip: str = "",
    user_agent: str = "",
) -> TrackingResult:
    """Validate every message, then apply identify/alias/group and ingest the events in one transaction."""
    if not isinstance(messages, list):
        raise TrackingError("batch: must be a list of messages.", field="batch")
    if len(messages) > MAX_BATCH_MESSAGES:
        raise TrackingError(f"batch: at most {MAX_BATCH_MESSAGES} messages.", field="batch")
    now = timezone.now()
    batch_sent_at = _parse_time(sent_at, "sentAt", now=now)
    batch_context = context if isinstance(context, dict) else {}
    try:
        json_object(batch_context, "context", limit=MAX_EVENT_BYTES)
    except ItemError as exc:
        raise TrackingError(exc.message, field=exc.field) from None
    parsed = [
        parse_message(
            msg,
            f"batch[{i}]",
            client=client,
            now=now,
            batch_sent_at=batch_sent_at,
            batch_context=batch_context,
        )
        for i, msg in enumerate(messages)
    ]
    for message in parsed:
        if ip and "ip" not in message.context:
            message.context["ip"] = ip
        if user_agent and "userAgent" not in message.context:
            message.context["userAgent"] = user_agent[:500]
    result = TrackingResult()
    with transaction.atomic():
        for message in parsed:
            if message.type not in EVENT_TYPES:
                _apply_profile_message(message, client=client)
                result.identified += 1
        events = [m for m in parsed if m.type in EVENT_TYPES]
        if events:
            result.events = len(events)
            customer_ids = services.resolve_identity_sets(
                [m.identities for m in events], source=tracking_source(client)
            )
            channels = services.active_channels()
            if "web" not in channels:
                raise TrackingError("The web channel is inactive: tracking events cannot be stored.")
            rows = []
            for message, customer_id in zip(events, customer_ids, strict=True):
                if isinstance(customer_id, ItemError):
                    logger.warning("tracking %s dropped: %s", message.message_id, customer_id.message)
                    continue
                rows.append(_event_row(message, customer_id, client=client, channels=channels, now=now))
            outcomes = services.record_interactions(rows=rows)
            result.created = sum(outcome.created for outcome in outcomes)
            result.duplicates = len(outcomes) - result.created
    return result


def _apply_profile_message(message: Message, *, client) -> None:
    from customers.services import resolve_customer, resolve_customers

    msg, source = message.raw, tracking_source(client)
    identities = list(message.identities)
    if message.type == "alias":
        previous = str(msg["previousId"])
        identities.append(_previous_identity(previous, namespace=tracking_namespace(client)))
        resolve_customers(identity_sets=[identities], source=source)
        return
    traits = dict(msg.get("traits") or {})
    if message.type == "group":
        traits = {"group_id": str(msg["groupId"]), "group_traits": traits}
    else:
        identities += _trait_identities(traits)
        traits = _spec_traits(traits)
    try:
        with transaction.atomic():
            resolution = resolve_customer(identities=identities, traits=traits, source=source)
    except DomainError as exc:
        # Bad trait values never lose the identities: resolve without them.
        logger.info("tracking %s %s: traits ignored (%s)", message.type, message.message_id, exc.message)
        resolution = resolve_customer(identities=identities, source=source)
    mark_dirty([resolution.customer_id], reason=message.type)


def _previous_identity(previous: str, *, namespace: str) -> tuple[str, str, str]:
    """``previousId`` is an earlier userId when one is known as such, else an anonymousId."""
    from customers.models import Identity

    if Identity.objects.filter(kind=IdentityKind.EXTERNAL_ID, namespace=namespace, value=previous).exists():
        return _identity(IdentityKind.EXTERNAL_ID, previous, namespace, "previousId")
    return _identity(IdentityKind.ANONYMOUS_ID, previous, "", "previousId")


def _trait_identities(traits: dict) -> list[tuple[str, str, str]]:
    found = []
    for kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
        value = traits.get(kind)
        if isinstance(value, str) and value.strip():
            try:
                found.append(normalize_identity(kind, value))
            except InvalidIdentity:
                logger.info("tracking identify: ignored invalid %s trait", kind)
    return found


SPEC_TRAIT_NAMES = {"firstName": "first_name", "lastName": "last_name"}


def _spec_traits(traits: dict) -> dict:
    """Spec trait names (camelCase) to CX Hub ones; email and phone are identities, not attributes."""
    out = {}
    for name, value in traits.items():
        if name in ("email", "phone"):
            continue
        out[SPEC_TRAIT_NAMES.get(name, name)] = value
    return out


def _snake(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")[:64] or "event"


def _channel_code(message: Message) -> str:
    if message.type == "screen":
        return "mobile_app"
    library = str((message.context.get("library") or {}).get("name", "")).lower()
    if message.context.get("channel") == "mobile" or any(m in library for m in MOBILE_LIBRARIES):
        return "mobile_app"
    return "web"


def _event_row(
    message: Message, customer_id: int, *, client, channels: dict[str, int], now: datetime
) -> dict:
    msg = message.raw
    properties = msg.get("properties") or {}
    if message.type == "track":
        event_type, subject = _snake(msg["event"]), msg["event"]
        touchpoint = str((message.context.get("page") or {}).get("path", ""))
    else:
        event_type = "page_view" if message.type == "page" else "screen_view"
        subject = msg.get("name") or properties.get("title") or ""
        touchpoint = str(properties.get("path") or msg.get("name") or "")
    value, currency = _revenue(properties)
    return {
        "customer_id": customer_id,
        "channel_id": channels.get(_channel_code(message)) or channels["web"],
        "direction": Direction.INBOUND,
        "type": event_type,
        "occurred_at": message.occurred_at,
        "received_at": now,
        "source": tracking_source(client),
        "external_id": message.message_id,
        "business_unit_id": None,
        "touchpoint": touchpoint[:100],
        "agent_id": None,
        "subject": str(subject)[:255],
        "summary": "",
        "outcome": "",
        "value": value,
        "currency": currency,
        "duration_seconds": None,
        "properties": properties,
        "context": {**message.context, "messageType": message.type},
    }


def _revenue(properties: dict):
    """``revenue`` (or ``value``) and ``currency`` from event properties, when they are valid."""
    raw = properties.get("revenue", properties.get("value"))
    if raw is None:
        return None, ""
    try:
        value = parse_value({"value": raw})
        currency = parse_currency({"currency": properties.get("currency")})
    except ItemError:
        return None, ""
    return value, currency
