"""The next best channel to reach a customer for a purpose, with its reasons and the
alternatives that were ruled out.

For each outbound channel (``CANDIDATES``):

1. **Ruled out** (``blocked_by``) when there is no address for it (``unreachable``), the
   address bounced (``bounced``: from the registered bounce sources), the consent ledger
   says no for the purpose (``no_consent``, the same ``can_contact`` every outbound path
   calls) or, for a channel that interrupts (phone, SMS, WhatsApp, app push), it is now the
   customer's quiet hours (``quiet_hours``). A blocked channel is never recommended.
2. **Scored** 0–1 from the evidence, each weighed as in ``WEIGHTS`` and renormalised over
   the evidence present:
   - *behaviour*: the customer's own inbound contacts on the channel in the last year (share
     of all their inbound contacts) and how often they answered our outbound messages on it
     (an inbound contact from them within 3 days), over their latest 500 interactions;
   - *campaign response*: measured response rates of past campaigns per channel for the
     customer's segments, from the registered response-rate sources (campaign holdout
     results); without a source, this factor is left out and the reasons say so;
   - *preference*: the channel the customer prefers;
   - *cost*: cheaper is better (the channel's cost per interaction against the dearest
     candidate).

A constant number of queries whatever the customer's history.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from cxhub.errors import DomainError

BEHAVIOUR_DAYS = 365
BEHAVIOUR_SAMPLE = 500
ANSWER_WINDOW = timedelta(days=3)
# channel → what makes it reachable
CANDIDATES = {
    "email": "email",
    "sms": "phone",
    "whatsapp": "phone",
    "phone": "phone",
    "mobile_app": "device",
    "letter": "postal",
}
INTERRUPTING = frozenset({"phone", "sms", "whatsapp", "mobile_app"})
# What the customer does and says they prefer outweighs what a channel costs us.
WEIGHTS = {"behaviour": 0.35, "campaign_response": 0.25, "preference": 0.25, "cost": 0.15}

# Sources plugged in by the apps that hold the evidence (campaigns with holdouts, message
# delivery). ``response_rates(customer_id, purpose) -> {channel: score 0–1}``;
# ``bounced(customer_id) -> {channel: reason}``.
_response_rate_sources: list[Callable[[int, str], dict[str, float]]] = []
_bounce_sources: list[Callable[[int], dict[str, str]]] = []


def register_response_rates(source: Callable[[int, str], dict[str, float]]) -> None:
    if source not in _response_rate_sources:
        _response_rate_sources.append(source)


def register_bounces(source: Callable[[int], dict[str, str]]) -> None:
    if source not in _bounce_sources:
        _bounce_sources.append(source)


@dataclass
class Option:
    channel: str
    score: float | None = None
    blocked_by: str | None = None
    why_blocked: str = ""
    evidence: dict = field(default_factory=dict)


@dataclass
class Recommendation:
    channel: str | None
    score: float | None
    reasons: list[str]
    alternatives: list[Option]

    def as_dict(self) -> dict:
        return {
            "channel": self.channel,
            "score": self.score,
            "reasons": self.reasons,
            "alternatives": [
                {"channel": o.channel, "score": o.score}
                | ({"blocked_by": o.blocked_by, "why": o.why_blocked} if o.blocked_by else {})
                for o in self.alternatives
            ],
        }


def _addresses(customer) -> dict[str, bool]:
    from customers.models import Identity

    kinds = set(Identity.objects.filter(customer=customer).values_list("kind", flat=True).distinct())
    attributes = customer.attributes or {}
    return {
        "email": bool(customer.email) or "email" in kinds,
        "phone": bool(customer.phone) or "phone" in kinds,
        "device": "device_id" in kinds,
        "postal": bool(attributes.get("address") or attributes.get("postcode")),
    }


def _consents(customer, purposes: list[str]) -> dict[str, dict[str, bool]]:
    """Per purpose, may we contact on each candidate: as ``can_contact`` decides, the ledger's
    newest row for the channel or for ``all``; without one, only service messages are allowed."""
    from customers.models import Consent
    from customers.selectors import ALL_CHANNELS, OPT_OUT_PURPOSES

    latest: dict[tuple[str, str], tuple] = {}
    rows = Consent.objects.filter(customer=customer, purpose__in=purposes).order_by("captured_at", "id")
    for purpose, channel, granted, captured_at, pk in rows.values_list(
        "purpose", "channel", "granted", "captured_at", "id"
    ):
        latest[(purpose, channel)] = (captured_at, pk, granted)
    decided: dict[str, dict[str, bool]] = {}
    for purpose in purposes:
        decided[purpose] = {}
        for channel in CANDIDATES:
            found = [latest[(purpose, c)] for c in (channel, ALL_CHANNELS) if (purpose, c) in latest]
            decided[purpose][channel] = max(found)[2] if found else purpose in OPT_OUT_PURPOSES
    return decided


def _behaviour(customer) -> dict[str, dict]:
    """Per channel: the customer's inbound contacts, our outbound messages and those answered,
    over their latest ``BEHAVIOUR_SAMPLE`` interactions of the last year (one indexed read of
    the timeline, bounded whatever the history: the 360 page shows this)."""
    from interactions.models import Interaction

    since = timezone.now() - timedelta(days=BEHAVIOUR_DAYS)
    latest = list(
        Interaction.objects.filter(customer=customer, occurred_at__gte=since)
        .order_by("-occurred_at", "-id")
        .values_list("channel__code", "direction", "occurred_at")[:BEHAVIOUR_SAMPLE]
    )
    inbound_times = sorted(at for _, direction, at in latest if direction == "inbound")
    found: dict[str, dict] = {}
    for code, direction, at in latest:
        seen = found.setdefault(code, {"inbound": 0, "outbound": 0, "answered": 0})
        if direction == "inbound":
            seen["inbound"] += 1
            continue
        seen["outbound"] += 1
        after = bisect_right(inbound_times, at)
        if after < len(inbound_times) and inbound_times[after] <= at + ANSWER_WINDOW:
            seen["answered"] += 1
    return found


def _costs() -> dict[str, float]:
    from interactions.models import Channel

    return {
        code: float(cost)
        for code, cost in Channel.objects.filter(code__in=CANDIDATES).values_list(
            "code", "cost_per_interaction"
        )
    }


def _collect(sources, *args) -> dict:
    merged: dict = {}
    for source in sources:
        merged.update(source(*args))
    return merged


def next_best_channel(*, customer, purpose: str, at: datetime | None = None) -> Recommendation:
    """The channel to use for ``customer`` and ``purpose`` now (or at ``at``)."""
    return next_best_channels(customer=customer, purposes=[purpose], at=at)[purpose]


def next_best_channels(
    *, customer, purposes: list[str], at: datetime | None = None
) -> dict[str, Recommendation]:
    """``next_best_channel`` for several purposes, sharing the reads (5 queries + 2 per purpose)."""
    from customers.models import ConsentPurpose

    for purpose in purposes:
        if purpose not in ConsentPurpose.values:
            raise DomainError(f"purpose must be one of {', '.join(ConsentPurpose.values)}.", field="purpose")
    evidence = {
        "addresses": _addresses(customer),
        "consents": _consents(customer, purposes),
        "behaviour": _behaviour(customer),
        "costs": _costs(),
        "bounced": _collect(_bounce_sources, customer.pk),
        "rates": {purpose: _collect(_response_rate_sources, customer.pk, purpose) for purpose in purposes},
    }
    return {purpose: _recommend(customer, purpose, evidence, at) for purpose in purposes}


def _recommend(customer, purpose: str, evidence: dict, at) -> Recommendation:
    from customers.selectors import in_quiet_hours

    addresses, behaviour, costs = evidence["addresses"], evidence["behaviour"], evidence["costs"]
    consents, bounced = evidence["consents"][purpose], evidence["bounced"]
    rates = evidence["rates"][purpose]
    quiet = in_quiet_hours(customer=customer, at=at)
    options = []
    for channel, needs in CANDIDATES.items():
        option = Option(channel=channel)
        if not addresses[needs]:
            option.blocked_by, option.why_blocked = "unreachable", f"no {needs} address on file"
        elif channel in bounced:
            option.blocked_by, option.why_blocked = "bounced", bounced[channel]
        elif not consents[channel]:
            option.blocked_by, option.why_blocked = "no_consent", f"no consent for {purpose} on {channel}"
        elif quiet and channel in INTERRUPTING:
            option.blocked_by, option.why_blocked = "quiet_hours", "inside the customer's quiet hours now"
        options.append(option)
    total_inbound = sum(b["inbound"] for b in behaviour.values())
    dearest = max([costs.get(o.channel, 0.0) for o in options] + [0.01])
    for option in options:
        if option.blocked_by:
            continue
        seen = behaviour.get(option.channel, {"inbound": 0, "outbound": 0, "answered": 0})
        use = seen["inbound"] / total_inbound if total_inbound else 0.0
        answer = seen["answered"] / seen["outbound"] if seen["outbound"] else None
        factors = {
            "behaviour": max(use, answer) if answer is not None else use,
            "preference": 1.0 if customer.preferred_channel == option.channel else 0.0,
            "cost": 1.0 - costs.get(option.channel, 0.0) / dearest,
        }
        if option.channel in rates:
            factors["campaign_response"] = max(0.0, min(1.0, rates[option.channel]))
        weight = sum(WEIGHTS[k] for k in factors)
        option.score = round(sum(WEIGHTS[k] * v for k, v in factors.items()) / weight, 3)
        option.evidence = {
            **seen,
            "use": use,
            "answer": answer,
            "cost": costs.get(option.channel, 0.0),
            "campaign_response": factors.get("campaign_response"),
        }
    allowed = sorted(
        (o for o in options if not o.blocked_by), key=lambda o: (-o.score, costs.get(o.channel, 0))
    )
    blocked = [o for o in options if o.blocked_by]
    if not allowed:
        return Recommendation(
            channel=None,
            score=None,
            reasons=[f"No channel has an address, consent for {purpose} and no quiet-hours block now."],
            alternatives=blocked,
        )
    best = allowed[0]
    return Recommendation(
        channel=best.channel,
        score=best.score,
        reasons=_reasons(best, customer, purpose, bool(rates), quiet),
        alternatives=allowed[1:] + blocked,
    )


def _reasons(best: Option, customer, purpose: str, have_rates: bool, quiet: bool) -> list[str]:
    e = best.evidence
    reasons = [f"Allowed: an address on file and consent for {purpose} on {best.channel}."]
    if have_rates and e.get("campaign_response") is not None:
        reasons.append(
            f"Past campaigns to the customer's segments on {best.channel}: response above the holdout "
            f"scores {e['campaign_response']:.2f} of the best channel's."
        )
    if e["inbound"]:
        reasons.append(f"The customer contacted us {e['inbound']} times on {best.channel} in the last year.")
    if e["outbound"]:
        reasons.append(
            f"They answered {e['answered']} of our {e['outbound']} {best.channel} messages within 3 days."
        )
    if customer.preferred_channel == best.channel:
        reasons.append(f"{best.channel} is the customer's preferred channel.")
    reasons.append(f"Cost per contact: {e['cost']:.2f}.")
    if not have_rates:
        reasons.append(
            "No campaign results for the customer's segments on these channels yet: that factor is left out."
        )
    if quiet:
        reasons.append("Quiet hours now: channels that interrupt are held back.")
    return reasons
