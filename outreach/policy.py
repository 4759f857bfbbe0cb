"""The gateway's rules: who may be sent what, where, and when (one place, Python and SQL agree).

Checks, in this order (the first that fails is the recorded reason): consent for the
channel and purpose in the ledger (``customers.selectors.can_contact``), reachability (a
valid address for the channel that has not hard-bounced or complained), quiet hours in the
customer's zone, and — for marketing — the frequency cap per customer and channel.
``outreach.campaigns`` decides the same rules for a whole audience in one SQL statement.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings

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


def frequency_cap(channel: str) -> Cap | None:
    """The marketing cap on ``channel``: its own row in the admin, else the global default (0 = none)."""
    row = FrequencyCap.objects.filter(channel=channel).first()
    cap = Cap(row.max_messages, row.window_days) if row else default_cap()
    return cap if cap.max_messages > 0 else None


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
    address, valid = address_for(customer, channel)
    if not customer_selectors.can_contact(customer=customer, channel=channel, purpose=purpose, at=now):
        return Decision(address, BlockReason.CONSENT, f"No {purpose} consent on {channel}.")
    if not valid:
        what = ADDRESS_FIELDS[channel]
        return Decision(address, BlockReason.UNREACHABLE, f"No valid {what} for {channel}.")
    if address:
        suppressed = Suppression.objects.filter(channel=channel, address=address).first()
        if suppressed is not None:
            return Decision(
                address,
                BlockReason.UNREACHABLE,
                f"{address} is suppressed ({suppressed.get_reason_display()}).",
            )
    if customer_selectors.in_quiet_hours(customer=customer, at=now):
        return Decision(address, BlockReason.QUIET_HOURS, "Inside the customer's quiet hours.")
    if purpose == MARKETING:
        cap = frequency_cap(channel)
        if cap is not None:
            recent = Message.objects.filter(
                customer_id=customer.pk,
                channel=channel,
                purpose=MARKETING,
                status__in=CAPPED_STATUSES,
                created_at__gte=now - timedelta(days=cap.window_days),
            ).count()
            if recent >= cap.max_messages:
                return Decision(
                    address,
                    BlockReason.FREQUENCY_CAP,
                    f"Already {recent} marketing messages on {channel} in {cap.window_days} days.",
                )
    return Decision(address)


def decide_batch(
    *, customers: list[Customer], channels: list[str], purpose: str, now: datetime
) -> dict[int, dict[str, Decision]]:
    """``decide`` for a batch of customers on several channels, in four queries whatever the
    batch: the consent ledger, suppressed addresses, the caps and the recent marketing messages."""
    from collections import Counter

    from django.db.models import Count, Q

    ids = [c.pk for c in customers]
    consent = customer_selectors.contactable(customers=customers, channels=channels, purpose=purpose, at=now)
    addresses = {(c.pk, channel): address_for(c, channel) for c in customers for channel in channels}
    wanted = {address for address, _ in addresses.values() if address}
    suppressed = {
        (channel, address): reason
        for channel, address, reason in Suppression.objects.filter(address__in=wanted).values_list(
            "channel", "address", "reason"
        )
    }
    caps: dict[str, Cap] = {}
    if purpose == MARKETING:
        rows = {row.channel: row for row in FrequencyCap.objects.filter(channel__in=channels)}
        for channel in channels:
            row = rows.get(channel)
            cap = Cap(row.max_messages, row.window_days) if row else default_cap()
            if cap.max_messages > 0:
                caps[channel] = cap
    recent: Counter = Counter()
    if caps:
        windows = Q()
        for channel, cap in caps.items():
            windows |= Q(channel=channel, created_at__gte=now - timedelta(days=cap.window_days))
        counted = (
            Message.objects.filter(
                windows, customer_id__in=ids, purpose=MARKETING, status__in=CAPPED_STATUSES
            )
            .values_list("customer_id", "channel")
            .annotate(n=Count("id"))
            .order_by()
        )
        recent.update({(customer_id, channel): n for customer_id, channel, n in counted})
    labels = dict(Suppression._meta.get_field("reason").choices)
    decided: dict[int, dict[str, Decision]] = {}
    for customer in customers:
        quiet = customer_selectors.in_quiet_hours(customer=customer, at=now)
        decided[customer.pk] = per_channel = {}
        for channel in channels:
            address, valid = addresses[(customer.pk, channel)]
            if not consent[(customer.pk, channel)]:
                per_channel[channel] = Decision(
                    address, BlockReason.CONSENT, f"No {purpose} consent on {channel}."
                )
            elif not valid:
                what = ADDRESS_FIELDS[channel]
                per_channel[channel] = Decision(
                    address, BlockReason.UNREACHABLE, f"No valid {what} for {channel}."
                )
            elif address and (channel, address) in suppressed:
                why = labels.get(suppressed[(channel, address)], suppressed[(channel, address)])
                per_channel[channel] = Decision(
                    address, BlockReason.UNREACHABLE, f"{address} is suppressed ({why})."
                )
            elif quiet:
                per_channel[channel] = Decision(
                    address, BlockReason.QUIET_HOURS, "Inside the customer's quiet hours."
                )
            elif channel in caps and recent[(customer.pk, channel)] >= caps[channel].max_messages:
                cap, n = caps[channel], recent[(customer.pk, channel)]
                per_channel[channel] = Decision(
                    address,
                    BlockReason.FREQUENCY_CAP,
                    f"Already {n} marketing messages on {channel} in {cap.window_days} days.",
                )
            else:
                per_channel[channel] = Decision(address)
    return decided
