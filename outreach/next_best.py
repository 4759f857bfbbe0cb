"""The next best channel to reach a customer for a purpose, with its reasons and the
alternatives that were ruled out — for the API, the 360 page, campaigns and journey actions
(which may ask for ``"next_best"`` instead of a fixed channel).

For each outbound channel (``CANDIDATES``):

1. **Ruled out** (``blocked_by``) when there is no address for it (``unreachable``), the
   address bounced (``bounced``: from the registered bounce sources), the consent ledger
   says no for the purpose (``no_consent``, the same rule as ``can_contact``, which every
   outbound path calls) or, for a channel that interrupts (phone, SMS, WhatsApp, app push), it
   is now the customer's quiet hours (``quiet_hours``). When the caller sends through the
   product (``active_only``), a channel switched off in the admin is ``inactive``. A blocked
   channel is never recommended.
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

A constant number of queries whatever the customer's history, and — through
``next_best_for_customers`` — whatever the number of customers in a batch.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connections
from django.utils import timezone

from cxhub.errors import DomainError

# What campaigns and journey actions store in their ``channel`` to have it chosen per customer.
NEXT_BEST = "next_best"
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

# Sources plugged in by the apps that hold the evidence (``outreach.wiring``: campaign holdout
# results and message bounces), each answering for a batch of customers in a constant number
# of queries whatever the purposes asked about (the 360 page asks for two):
# ``response_rates(customer_ids, purposes) -> {purpose: {customer_id: {channel: score 0–1}}}``;
# ``bounced(customer_ids) -> {customer_id: {channel: reason}}``.
ResponseRateSource = Callable[[list[int], list[str]], dict[str, dict[int, dict[str, float]]]]
BounceSource = Callable[[list[int]], dict[int, dict[str, str]]]
_response_rate_sources: list[ResponseRateSource] = []
_bounce_sources: list[BounceSource] = []


def register_response_rates(source: ResponseRateSource) -> None:
    if source not in _response_rate_sources:
        _response_rate_sources.append(source)


def register_bounces(source: BounceSource) -> None:
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

    @property
    def ranked(self) -> list[str]:
        """The allowed channels, best first (the recommendation, then the allowed alternatives)."""
        allowed = [o.channel for o in self.alternatives if not o.blocked_by]
        return ([self.channel] if self.channel else []) + allowed


def _addresses(customers: list) -> dict[int, dict[str, bool]]:
    from customers.models import Identity

    kinds: dict[int, set[str]] = defaultdict(set)
    rows = Identity.objects.filter(customer_id__in=[c.pk for c in customers])
    for customer_id, kind in rows.values_list("customer_id", "kind").distinct():
        kinds[customer_id].add(kind)
    found = {}
    for customer in customers:
        attributes = customer.attributes or {}
        found[customer.pk] = {
            "email": bool(customer.email) or "email" in kinds[customer.pk],
            "phone": bool(customer.phone) or "phone" in kinds[customer.pk],
            "device": "device_id" in kinds[customer.pk],
            "postal": bool(attributes.get("address") or attributes.get("postcode")),
        }
    return found


def _consents(customer_ids: list[int], purposes: list[str]) -> dict[int, dict[str, dict[str, bool]]]:
    """Per customer and purpose, may we contact on each candidate: as ``can_contact`` decides, the
    ledger's newest row for the channel or for ``all``; without one, only service messages."""
    from customers.models import Consent
    from customers.selectors import ALL_CHANNELS, OPT_OUT_PURPOSES

    latest: dict[tuple[int, str, str], tuple] = {}
    rows = Consent.objects.filter(customer_id__in=customer_ids, purpose__in=purposes)
    rows = rows.order_by("captured_at", "id")
    for customer_id, purpose, channel, granted, captured_at, pk in rows.values_list(
        "customer_id", "purpose", "channel", "granted", "captured_at", "id"
    ):
        latest[(customer_id, purpose, channel)] = (captured_at, pk, granted)
    decided: dict[int, dict[str, dict[str, bool]]] = {}
    for customer_id in customer_ids:
        decided[customer_id] = {}
        for purpose in purposes:
            per_channel = decided[customer_id][purpose] = {}
            for channel in CANDIDATES:
                keys = [(customer_id, purpose, c) for c in (channel, ALL_CHANNELS)]
                found = [latest[k] for k in keys if k in latest]
                per_channel[channel] = max(found)[2] if found else purpose in OPT_OUT_PURPOSES
    return decided


def _behaviour(customer_ids: list[int]) -> dict[int, dict[str, dict]]:
    """Per customer and channel: their inbound contacts, our outbound messages and those answered,
    over their latest ``BEHAVIOUR_SAMPLE`` interactions of the last year (one indexed read of the
    timeline, bounded whatever the history; for a batch, one windowed read)."""
    from django.db.models import F, Window
    from django.db.models.functions import RowNumber

    from interactions.models import Interaction

    since = timezone.now() - timedelta(days=BEHAVIOUR_DAYS)
    recent = Interaction.objects.filter(customer_id__in=customer_ids, occurred_at__gte=since)
    fields = ("customer_id", "channel__code", "direction", "occurred_at")
    if len(customer_ids) == 1:
        rows = recent.order_by("-occurred_at", "-id").values_list(*fields)[:BEHAVIOUR_SAMPLE]
        if connections[rows.db].vendor == "postgresql":
            return {customer_ids[0]: _answers_in_database(rows.values_list(*fields[1:]))}
    else:
        rows = (
            recent.annotate(
                newest=Window(
                    RowNumber(),
                    partition_by=[F("customer_id")],
                    order_by=[F("occurred_at").desc(), F("id").desc()],
                )
            )
            .filter(newest__lte=BEHAVIOUR_SAMPLE)
            .values_list(*fields)
        )
    timelines: dict[int, list] = defaultdict(list)
    for customer_id, code, direction, at in rows:
        timelines[customer_id].append((code, direction, at))
    return {customer_id: _answers(timelines[customer_id]) for customer_id in customer_ids}


# ``_answers`` counted by PostgreSQL over one customer's sample (the 360 page asks for one):
# parsing its 500 timestamps in Python cost the page ~2 ms. For each of our messages, the first
# inbound contact strictly after it (not at the same moment, as ``bisect_right``) must come within
# the answer window, counted in seconds so that no calendar arithmetic is involved. The running
# minimum goes newest first with a fixed frame head, so PostgreSQL keeps it in one pass.
_ANSWERS_SQL = """
WITH sample (code, direction, occurred_at) AS ({sample}),
moments AS (
    SELECT occurred_at, MIN(inbound_at) OVER (
               ORDER BY occurred_at DESC ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
           ) AS next_inbound
    FROM (
        SELECT occurred_at, MIN(occurred_at) FILTER (WHERE direction = 'inbound') AS inbound_at
        FROM sample GROUP BY occurred_at
    ) AS per_moment
)
SELECT sample.code, sample.direction = 'inbound', COUNT(*),
       COUNT(*) FILTER (WHERE moments.next_inbound <= sample.occurred_at + %s * INTERVAL '1 second')
FROM sample JOIN moments USING (occurred_at)
GROUP BY 1, 2
"""


def _answers_in_database(sample) -> dict[str, dict]:
    """What ``_answers`` returns for ``sample`` (rows of code, direction, occurred_at), in one query."""
    sql, params = sample.query.get_compiler(using=sample.db).as_sql()
    with connections[sample.db].cursor() as cursor:
        cursor.execute(_ANSWERS_SQL.format(sample=sql), [*params, ANSWER_WINDOW.total_seconds()])
        counts = cursor.fetchall()
    found: dict[str, dict] = {}
    for code, inbound, count, answered in counts:
        seen = found.setdefault(code, {"inbound": 0, "outbound": 0, "answered": 0})
        if inbound:
            seen["inbound"] += count
        else:
            seen["outbound"] += count
            seen["answered"] += answered
    return found


def _answers(latest: list) -> dict[str, dict]:
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


def _channels() -> dict[str, tuple[float, bool]]:
    """Candidate channels known to the product: (cost per interaction, active)."""
    from interactions.models import Channel

    return {
        code: (float(cost), active)
        for code, cost, active in Channel.objects.filter(code__in=CANDIDATES).values_list(
            "code", "cost_per_interaction", "active"
        )
    }


def _collect(sources, customer_ids: list[int], *args) -> dict[int, dict]:
    merged: dict[int, dict] = {customer_id: {} for customer_id in customer_ids}
    for source in sources:
        for customer_id, found in source(customer_ids, *args).items():
            merged.setdefault(customer_id, {}).update(found)
    return merged


def _check_purposes(purposes: Iterable[str]) -> None:
    from customers.models import ConsentPurpose

    for purpose in purposes:
        if purpose not in ConsentPurpose.values:
            raise DomainError(f"purpose must be one of {', '.join(ConsentPurpose.values)}.", field="purpose")


def _evidence(customers: list, purposes: list[str]) -> dict[int, dict]:
    """Everything the choice reads, for a batch of customers: 7 queries whatever the purposes."""
    ids = [c.pk for c in customers]
    addresses, consents, behaviour = _addresses(customers), _consents(ids, purposes), _behaviour(ids)
    channels = _channels()
    bounced = _collect(_bounce_sources, ids)
    rates: dict[str, dict[int, dict]] = {purpose: {} for purpose in purposes}
    for source in _response_rate_sources:
        for purpose, per_customer in source(ids, purposes).items():
            for customer_id, found in per_customer.items():
                rates.setdefault(purpose, {}).setdefault(customer_id, {}).update(found)
    return {
        pk: {
            "addresses": addresses[pk],
            "consents": consents[pk],
            "behaviour": behaviour[pk],
            "channels": channels,
            "bounced": bounced.get(pk, {}),
            "rates": {purpose: rates[purpose].get(pk, {}) for purpose in purposes},
        }
        for pk in ids
    }


def next_best_channel(*, customer, purpose: str, at: datetime | None = None) -> Recommendation:
    """The channel to use for ``customer`` and ``purpose`` now (or at ``at``)."""
    return next_best_channels(customer=customer, purposes=[purpose], at=at)[purpose]


def next_best_channels(
    *, customer, purposes: list[str], at: datetime | None = None
) -> dict[str, Recommendation]:
    """``next_best_channel`` for several purposes, sharing the reads (7 queries)."""
    _check_purposes(purposes)
    evidence = _evidence([customer], purposes)[customer.pk]
    return {purpose: _recommend(customer, purpose, evidence, at) for purpose in purposes}


def next_best_for_customers(
    *, customers: list, purpose: str, at: datetime | None = None, active_only: bool = False
) -> dict[int, Recommendation]:
    """``next_best_channel`` for a batch of customers (campaigns, journey actions): 7 queries
    whatever the batch size. ``active_only`` rules out channels missing or switched off in the
    admin (the product cannot send on them)."""
    _check_purposes([purpose])
    if not customers:
        return {}
    evidence = _evidence(customers, [purpose])
    return {c.pk: _recommend(c, purpose, evidence[c.pk], at, active_only=active_only) for c in customers}


def _recommend(customer, purpose: str, evidence: dict, at, *, active_only: bool = False) -> Recommendation:
    from customers.selectors import in_quiet_hours

    addresses, behaviour, channels = evidence["addresses"], evidence["behaviour"], evidence["channels"]
    costs = {code: cost for code, (cost, _) in channels.items()}
    consents, bounced = evidence["consents"][purpose], evidence["bounced"]
    rates = evidence["rates"][purpose]
    quiet = in_quiet_hours(customer=customer, at=at)
    options = []
    for channel, needs in CANDIDATES.items():
        option = Option(channel=channel)
        if active_only and not channels.get(channel, (0.0, False))[1]:
            option.blocked_by, option.why_blocked = "inactive", f"{channel} is not an active channel"
        elif not addresses[needs]:
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


# --- choosing for a send (campaigns, journey actions) ------------------------------------------------

# How far a blocked channel got through the gateway's checks: a customer with no allowed channel is
# blocked for the reason of the channel that got furthest (consent < unreachable < quiet hours < cap).
_REASON_RANK = {"consent": 0, "unreachable": 1, "quiet_hours": 2, "frequency_cap": 3}
_SELECTOR_REASONS = {
    "no_consent": "consent",
    "unreachable": "unreachable",
    "bounced": "unreachable",
    "quiet_hours": "quiet_hours",
}


@dataclass
class Choice:
    """The channel a send will use for one customer (``None``: blocked, ``reason`` says why)."""

    channel: str | None
    address: str
    reason: str
    detail: str
    score: float | None
    reasons: list[str]
    ruled_out: list[dict]

    def record(self) -> dict:
        """What the message keeps of the decision (its ``context["next_best"]``)."""
        return {
            "channel": self.channel,
            "score": self.score,
            "reasons": self.reasons,
            "ruled_out": self.ruled_out,
        }


def choose_for_sending(*, customers: list, purpose: str, now: datetime) -> dict[int, Choice]:
    """Per customer, the best channel that the gateway's rules (``outreach.policy``: consent, a valid
    unsuppressed address, quiet hours, the marketing cap) let through now; the selector ranks, the
    gateway decides. A constant number of queries for the batch (7 + 4)."""
    from . import policy

    recommendations = next_best_for_customers(customers=customers, purpose=purpose, at=now, active_only=True)
    if not recommendations:
        return {}
    sample = next(iter(recommendations.values()))  # every customer sees the same channel table
    listed = {o.channel for o in sample.alternatives if o.blocked_by != "inactive"} | {sample.channel}
    active = [channel for channel in CANDIDATES if channel in listed]
    gateway = policy.decide_batch(customers=customers, channels=active, purpose=purpose, now=now)
    return {c.pk: _choose(recommendations[c.pk], gateway[c.pk], active, purpose) for c in customers}


def _choose(rec: Recommendation, decisions: dict, active: list[str], purpose: str) -> Choice:
    options = {o.channel: o for o in rec.alternatives}
    ruled_out = [
        {"channel": o.channel, "blocked_by": o.blocked_by, "why": o.why_blocked}
        for o in rec.alternatives
        if o.blocked_by and o.blocked_by != "inactive"
    ]
    held_back = []
    for channel in rec.ranked:
        decision = decisions[channel]
        if decision.allowed:
            score = rec.score if channel == rec.channel else options[channel].score
            reasons = (
                rec.reasons
                if channel == rec.channel
                else [*held_back, f"{channel} is the best channel left."]
            )
            return Choice(channel, decision.address, "", "", score, reasons, ruled_out)
        held_back.append(f"{channel} held back: {decision.detail}")
        ruled_out.append({"channel": channel, "blocked_by": decision.reason, "why": decision.detail})
    blocked = []
    for channel in active:
        decision = decisions[channel]
        if not decision.allowed:
            blocked.append((decision.reason, decision.detail))
        elif channel in options and options[channel].blocked_by in _SELECTOR_REASONS:
            option = options[channel]
            blocked.append((_SELECTOR_REASONS[option.blocked_by], f"{channel}: {option.why_blocked}."))
    reason, detail = max(blocked, key=lambda b: _REASON_RANK[b[0]], default=("unreachable", "No channel."))
    reasons = [f"No channel has an address, consent for {purpose} and passes the sending rules now."]
    return Choice(None, "", reason, detail, None, reasons, ruled_out)
