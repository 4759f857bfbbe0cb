"""The gateway's rules: who may be sent what, where, and when (one place, Python and SQL agree).

Checks, in this order (the first that fails is the recorded reason): consent for the
channel and purpose in the ledger (``customers.selectors.contactable``), reachability (a
valid address for the channel that has not hard-bounced or complained), quiet hours in the
customer's zone, and — for marketing — the frequency cap per customer and channel. Each rule
is written once (``_RULES``): ``decide`` is the one-customer, one-channel case of ``decide_batch``.
``outreach.campaigns`` decides the same rules for a whole audience in one SQL statement.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from customers import selectors as customer_selectors
from customers.models import Customer

from .models import CAPPED_STATUSES, BlockReason, FrequencyCap, Message, Suppression

MARKETING = "marketing"
# Which customer field holds the address on the channels CX Hub delivers itself; the others (a phone
# call, a letter, the store) are carried out by people and need no address here.
ADDRESS_FIELDS = {"email": "email", "sms": "phone", "whatsapp": "phone"}
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"
# The same patterns as PostgreSQL regular expressions (POSIX classes instead of \s).
SQL_PATTERNS = {
    "email": r"^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$",
    "phone": PHONE_PATTERN,
}
_PATTERNS = {"email": re.compile(EMAIL_PATTERN), "phone": re.compile(PHONE_PATTERN)}


@dataclass(frozen=True)
class Cap:
    max_messages: int
    window_days: int


@dataclass(frozen=True)
class Decision:
    address: str
    reason: str = ""
    detail: str = ""

    @property
    def allowed(self) -> bool:
        return not self.reason


def default_cap() -> Cap:
    max_messages, _, days = str(settings.MARKETING_FREQUENCY_CAP).partition("/")
    return Cap(int(max_messages), int(days or 7))


def frequency_caps(channels) -> dict[str, Cap]:
    """The marketing cap on each of ``channels`` that has one: its own row in the admin, else the
    global default; a cap of 0 messages means none, and the channel is left out."""
    rows = {row.channel: row for row in FrequencyCap.objects.filter(channel__in=channels)}
    caps = {}
    for channel in channels:
        row = rows.get(channel)
        cap = Cap(row.max_messages, row.window_days) if row else default_cap()
        if cap.max_messages > 0:
            caps[channel] = cap
    return caps


def frequency_cap(channel: str) -> Cap | None:
    """The marketing cap on ``channel``: its own row in the admin, else the global default (0 = none)."""
    return frequency_caps([channel]).get(channel)


def address_for(customer: Customer, channel: str) -> tuple[str, bool]:
    """(address, valid) of ``customer`` on ``channel``; channels without addresses are always valid."""
    field = ADDRESS_FIELDS.get(channel)
    if field is None:
        return "", True
    value = (getattr(customer, field) or "").strip()
    return value, bool(value and _PATTERNS[field].match(value))


def holdout_bucket(campaign_id: int, customer_id: int) -> int:
    """A reproducible draw in [0, 10000): the first 32 bits of md5("<campaign>:<customer>") mod 10000."""
    digest = hashlib.md5(f"{campaign_id}:{customer_id}".encode(), usedforsecurity=False).hexdigest()
    return int(digest[:8], 16) % 10000


def is_held_out(campaign_id: int, customer_id: int, percent) -> bool:
    return holdout_bucket(campaign_id, customer_id) < int(round(float(percent) * 100))


def decide(*, customer: Customer, channel: str, purpose: str, now: datetime) -> Decision:
    """Whether a message to ``customer`` on ``channel`` for ``purpose`` may go now, and if not why."""
    decided = decide_batch(customers=[customer], channels=[channel], purpose=purpose, now=now)
    return decided[customer.pk][channel]


def decide_batch(
    *, customers: list[Customer], channels: list[str], purpose: str, now: datetime
) -> dict[int, dict[str, Decision]]:
    """``decide`` for a batch of customers on several channels: {customer id: {channel: decision}}.

    At most four queries whatever the batch (the consent ledger, suppressed addresses, the caps and
    the recent marketing messages; more only to follow merged profiles). A rule's query is skipped
    when earlier rules blocked every pair, so one send costs only what the rules it reaches need.
    """
    pending = [
        _Send(customer, channel, *address_for(customer, channel))
        for customer in customers
        for channel in channels
    ]
    decided: dict[tuple[int, str], Decision] = {}
    for rule in _RULES:
        if not pending:
            break
        decided.update(rule(pending, purpose=purpose, now=now))
        pending = [send for send in pending if send.key not in decided]
    decided.update((send.key, Decision(send.address)) for send in pending)
    return {
        customer.pk: {channel: decided[(customer.pk, channel)] for channel in channels}
        for customer in customers
    }


@dataclass(frozen=True)
class _Send:
    """One (customer, channel) pair that no rule has blocked yet."""

    customer: Customer
    channel: str
    address: str
    valid: bool

    @property
    def key(self) -> tuple[int, str]:
        return (self.customer.pk, self.channel)


_Blocked = dict[tuple[int, str], Decision]


def _without_consent(sends: list[_Send], *, purpose: str, now: datetime) -> _Blocked:
    customers = list({send.customer.pk: send.customer for send in sends}.values())
    channels = list(dict.fromkeys(send.channel for send in sends))
    allowed = customer_selectors.contactable(customers=customers, channels=channels, purpose=purpose, at=now)
    return {
        send.key: Decision(send.address, BlockReason.CONSENT, f"No {purpose} consent on {send.channel}.")
        for send in sends
        if not allowed[send.key]
    }


def _without_valid_address(sends: list[_Send], *, purpose: str, now: datetime) -> _Blocked:
    return {
        send.key: Decision(
            send.address,
            BlockReason.UNREACHABLE,
            f"No valid {ADDRESS_FIELDS[send.channel]} for {send.channel}.",
        )
        for send in sends
        if not send.valid
    }


def _suppressed(sends: list[_Send], *, purpose: str, now: datetime) -> _Blocked:
    wanted = {(send.channel, send.address) for send in sends if send.address}
    if not wanted:
        return {}
    labels = dict(Suppression._meta.get_field("reason").choices)
    rows = Suppression.objects.filter(
        channel__in={channel for channel, _ in wanted}, address__in={address for _, address in wanted}
    ).values_list("channel", "address", "reason")
    why = {(channel, address): labels.get(reason, reason) for channel, address, reason in rows}
    return {
        send.key: Decision(
            send.address,
            BlockReason.UNREACHABLE,
            f"{send.address} is suppressed ({why[(send.channel, send.address)]}).",
        )
        for send in sends
        if (send.channel, send.address) in why
    }


def _in_quiet_hours(sends: list[_Send], *, purpose: str, now: datetime) -> _Blocked:
    quiet: dict[int, bool] = {}
    for send in sends:
        if send.customer.pk not in quiet:
            quiet[send.customer.pk] = customer_selectors.in_quiet_hours(customer=send.customer, at=now)
    return {
        send.key: Decision(send.address, BlockReason.QUIET_HOURS, "Inside the customer's quiet hours.")
        for send in sends
        if quiet[send.customer.pk]
    }


def _over_frequency_cap(sends: list[_Send], *, purpose: str, now: datetime) -> _Blocked:
    if purpose != MARKETING:
        return {}
    caps = frequency_caps(list(dict.fromkeys(send.channel for send in sends)))
    capped = [send for send in sends if send.channel in caps]
    if not capped:
        return {}
    windows = Q()
    for channel, cap in caps.items():
        windows |= Q(channel=channel, created_at__gte=now - timedelta(days=cap.window_days))
    counted = (
        Message.objects.filter(
            windows,
            customer_id__in={send.customer.pk for send in capped},
            purpose=MARKETING,
            status__in=CAPPED_STATUSES,
        )
        .values_list("customer_id", "channel")
        .annotate(n=Count("id"))
        .order_by()
    )
    recent = {(customer_id, channel): n for customer_id, channel, n in counted}
    blocked = {}
    for send in capped:
        cap, n = caps[send.channel], recent.get(send.key, 0)
        if n >= cap.max_messages:
            blocked[send.key] = Decision(
                send.address,
                BlockReason.FREQUENCY_CAP,
                f"Already {n} marketing messages on {send.channel} in {cap.window_days} days.",
            )
    return blocked


# In the order they are checked: the first that blocks a pair is its recorded reason.
_RULES = (_without_consent, _without_valid_address, _suppressed, _in_quiet_hours, _over_frequency_cap)
