"""Pure row generation: a plan plus a chunk number gives the same rows every time.

No database access happens here, so chunks can be generated in worker processes.
Rows are tuples in the column order of ``TABLES`` (see ``rows.py``); timestamps are
integer seconds since the Unix epoch (UTC) and converted by the writer.

Shape of the data (see ``vocab.py`` for the fixed parts):

* customers belong to one of three business units; about 10% of people are known to
  two units. Of those, most are already one profile with an external id in each unit;
  the rest are two *unresolved* profiles of the same person (same name; one holds the
  email identity, the other the phone identity and a copy of the email in its
  profile), so an ingest item carrying both identities must merge them;
* interactions per customer are heavy-tailed (Pareto weights, capped), spread over 24
  months with weekly, seasonal and daily patterns, and come in journey shapes: orders
  (placed → shipped → delivered, sometimes late or returned), queries and complaints
  (contact → agent reply → resolution or escalation), marketing sends with opens and
  clicks, browsing and store visits;
* consents form a ledger with history (grants, withdrawals, re-grants);
* survey responses follow deliveries, resolutions and calls; complaints, escalations
  and late deliveries pull scores down; verbatims match the score.
"""

import bisect
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from . import vocab

DAY = 86400
WINDOW_DAYS = 730


@dataclass(frozen=True)
class Reference:
    """Ids of the reference rows the generated data points at."""

    unit_ids: dict[str, int]
    channel_ids: dict[str, int]
    agent_ids: tuple[int, ...]
    # (survey id, kind, trigger type) per survey; empty when surveys are not generated.
    surveys: tuple[tuple[int, str, str], ...] = ()
    # Verbatim -> (sentiment compound, label, theme ids), from the metrics analysers when present.
    verbatims: dict[str, tuple[float | None, str, tuple[int, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Spec:
    customers: int
    interactions: int
    seed: int = 2026
    responses: int = 0
    as_of: date | None = None

    def end_epoch(self) -> int:
        as_of = self.as_of or datetime.now(UTC).date()
        # The window ends at the close of the as-of day.
        return int(datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC).timestamp()) + DAY


@dataclass
class Plan:
    """Everything a worker needs to generate any chunk, independently of the others."""

    spec: Spec
    reference: Reference
    customer_id_base: int
    interaction_id_base: int
    response_id_base: int
    counts: list[int]  # interactions per customer (index = customer number)
    chunk_size: int
    chunk_interaction_offsets: list[int] = field(default_factory=list)
    chunk_response_quota: list[int] = field(default_factory=list)

    @property
    def chunk_count(self) -> int:
        return (self.spec.customers + self.chunk_size - 1) // self.chunk_size

    def chunk_bounds(self, index: int) -> tuple[int, int]:
        start = index * self.chunk_size
        return start, min(start + self.chunk_size, self.spec.customers)


def allocate_interactions(customers: int, interactions: int, rng: random.Random) -> list[int]:
    """Split ``interactions`` over customers with a heavy tail; the counts sum exactly."""
    if customers == 0:
        return []
    weights = []
    for _ in range(customers):
        # About 8% of profiles are leads with no activity yet; the rest follow a capped Pareto.
        weights.append(0.0 if rng.random() < 0.08 else min(rng.paretovariate(1.4), 400.0))
    total = sum(weights) or 1.0
    counts = [int(interactions * w / total) for w in weights]
    remainder = interactions - sum(counts)
    active = [i for i, w in enumerate(weights) if w > 0] or list(range(customers))
    for i in range(remainder):
        counts[active[(i * 7919) % len(active)]] += 1
    return counts


def make_plan(
    spec: Spec,
    reference: Reference,
    *,
    customer_id_base: int = 1,
    interaction_id_base: int = 1,
    response_id_base: int = 1,
    chunk_size: int = 5000,
) -> Plan:
    rng = random.Random(f"{spec.seed}:plan")
    counts = allocate_interactions(spec.customers, spec.interactions, rng)
    plan = Plan(
        spec=spec,
        reference=reference,
        customer_id_base=customer_id_base,
        interaction_id_base=interaction_id_base,
        response_id_base=response_id_base,
        counts=counts,
        chunk_size=chunk_size,
    )
    offset = 0
    for index in range(plan.chunk_count):
        start, end = plan.chunk_bounds(index)
        plan.chunk_interaction_offsets.append(offset)
        offset += sum(counts[start:end])
    # Responses are spread over chunks in proportion to their interactions.
    responses = spec.responses if reference.surveys else 0
    quotas, given = [], 0
    for index in range(plan.chunk_count):
        start, end = plan.chunk_bounds(index)
        cumulative = sum(counts[:end]) if spec.interactions else end
        whole = spec.interactions or spec.customers
        target = responses * cumulative // max(whole, 1)
        quotas.append(target - given)
        given = target
    if quotas:
        quotas[-1] += responses - given
    plan.chunk_response_quota = quotas
    return plan


@dataclass
class ChunkRows:
    customers: list[tuple] = field(default_factory=list)
    memberships: list[tuple] = field(default_factory=list)
    identities: list[tuple] = field(default_factory=list)
    consents: list[tuple] = field(default_factory=list)
    interactions: list[tuple] = field(default_factory=list)
    responses: list[tuple] = field(default_factory=list)
    response_themes: list[tuple] = field(default_factory=list)


class _Calendar:
    """Weighted day picking over the 24-month window (weekly + seasonal + slow growth)."""

    def __init__(self, end_epoch: int):
        self.start = end_epoch - WINDOW_DAYS * DAY
        self.end = end_epoch
        start_date = datetime.fromtimestamp(self.start, UTC).date()
        cumulative, total = [0.0], 0.0
        for d in range(WINDOW_DAYS):
            day = start_date + timedelta(days=d)
            total += (
                vocab.WEEKDAY_WEIGHTS[day.weekday()]
                * vocab.MONTH_WEIGHTS[day.month - 1]
                * (0.8 + 0.4 * d / WINDOW_DAYS)
            )
            cumulative.append(total)
        self.cumulative = cumulative
        hours, acc = [], 0
        for w in vocab.HOUR_WEIGHTS:
            acc += w
            hours.append(acc)
        self.hour_cumulative = hours

    def moment(self, rng: random.Random, lo_day: int, hi_day: int) -> int:
        """A timestamp on a day in [lo_day, hi_day) drawn by day weight, at a likely hour."""
        lo, hi = self.cumulative[lo_day], self.cumulative[hi_day]
        day = bisect.bisect_right(self.cumulative, lo + rng.random() * (hi - lo)) - 1
        day = min(max(day, lo_day), hi_day - 1)
        hour = bisect.bisect_right(self.hour_cumulative, rng.random() * self.hour_cumulative[-1])
        return self.start + day * DAY + min(hour, 23) * 3600 + _between(rng, 0, 3600)


def _weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], list[int]]:
    names, cumulative, acc = [], [], 0
    for name, weight in pairs:
        acc += weight
        names.append(name)
        cumulative.append(acc)
    return tuple(names), cumulative


class _Context:
    """Per-process caches derived from the plan (cheap to rebuild in each worker)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        spec = plan.spec
        self.calendar = _Calendar(spec.end_epoch())
        self.pools = vocab.name_pools(spec.seed)
        self.persona_cumulative = _cumulative(vocab.PERSONA_WEIGHTS)
        self.unit_cumulative = _cumulative(vocab.UNIT_WEIGHTS)
        self.tier_names, self.tier_cumulative = _weighted(vocab.TIERS)
        self.service = [_weighted(p.service_channels) for p in vocab.PERSONAS]
        self.orders = [_weighted(p.order_channels) for p in vocab.PERSONAS]
        self.episode_cumulative = [_cumulative(p.episode_weights) for p in vocab.PERSONAS]
        self.channel_ids = plan.reference.channel_ids
        self.unit_ids = plan.reference.unit_ids
        self.agents = plan.reference.agent_ids or (None,)
        self.units = {u[0]: u for u in vocab.BUSINESS_UNITS}


def _cumulative(weights) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _between(rng: random.Random, lo: int, hi: int) -> int:
    """An int in [lo, hi): ``randrange`` without its (slow, exact) rejection sampling."""
    return lo + int(rng.random() * (hi - lo))


def _choose(rng: random.Random, options):
    return options[int(rng.random() * len(options))]


def _pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])


_CONTEXTS: dict[int, _Context] = {}


def _context(plan: Plan) -> _Context:
    key = id(plan)
    if key not in _CONTEXTS:
        _CONTEXTS.clear()
        _CONTEXTS[key] = _Context(plan)
    return _CONTEXTS[key]


def _phone(country: str, customer_id: int) -> str:
    prefix, digits = vocab.PHONE_RANGES[country]
    space = 10**digits
    # A bijection of the id onto the number space: unique per customer, scattered like real numbers.
    return f"{prefix}{(customer_id * 7919 + 104729) % space:0{digits}d}"


SURVEY_MOMENTS = frozenset(("order_delivered", "query_resolved", "complaint_resolved", "call", "store_visit"))


def generate_chunk(plan: Plan, index: int) -> ChunkRows:
    """Rows for customers [start, end) of chunk ``index`` and everything that belongs to them."""
    ctx = _context(plan)
    rng = random.Random(f"{plan.spec.seed}:chunk:{index}")
    start, end = plan.chunk_bounds(index)
    rows = ChunkRows()
    next_interaction = plan.interaction_id_base + plan.chunk_interaction_offsets[index]
    survey_moments: list[tuple] = []  # (interaction row, customer experience) eligible for a survey
    pending_twin = None
    for n in range(start, end):
        customer_id = plan.customer_id_base + n
        if pending_twin is not None:
            person, units = pending_twin
            pending_twin = None
            twin = True
        else:
            person, units = _person(ctx, rng)
            twin = False
            # ~10% of people are known to two units; ~35% of those are still two profiles.
            if rng.random() < 0.10:
                other = _choose(rng, [u for u in vocab.UNIT_CODES if u != units[0]])
                if rng.random() < 0.35 and n + 1 < end:
                    pending_twin = (person, (other,))
                else:
                    units = (units[0], other)
        count = plan.counts[n]
        has_twin = pending_twin is not None
        experience = _Experience(base=vocab.PERSONAS[person.persona].base_nps)
        first_index = len(rows.interactions)
        acquired, active_until = _lifetime(ctx, rng, count)
        _interactions(
            ctx,
            rng,
            rows,
            customer_id,
            person,
            units,
            count,
            next_interaction,
            acquired,
            active_until,
            experience,
        )
        next_interaction += count
        customer_interactions = rows.interactions[first_index:]
        last_seen = max((r[5] for r in customer_interactions), default=None)
        first_seen = min((r[5] for r in customer_interactions), default=acquired)
        created = min(acquired, first_seen)
        # A twin pair is one person: the first profile holds the email identity and a copy of
        # the phone, the second holds the phone identity and a copy of the email.
        if twin:
            email_owner, phone_owner, email_identity, phone_identity = (
                customer_id - 1,
                customer_id,
                False,
                True,
            )
        elif has_twin:
            email_owner, phone_owner, email_identity, phone_identity = (
                customer_id,
                customer_id + 1,
                True,
                False,
            )
        else:
            has_phone = rng.random() < 0.85
            email_owner, phone_owner, email_identity, phone_identity = (
                customer_id,
                customer_id,
                True,
                has_phone,
            )
            if not has_phone:
                phone_owner = None
        email = _email(person, email_owner)
        phone = _phone(person.country, phone_owner) if phone_owner is not None else ""
        rows.customers.append(
            _customer_row(ctx, customer_id, person, units, email, phone, created, last_seen)
        )
        for unit in units:
            rows.memberships.append((customer_id, ctx.unit_ids[unit]))
        _identities(
            rng,
            rows,
            customer_id,
            person,
            units,
            created,
            email if email_identity else None,
            phone if phone_identity else None,
        )
        _consents(rng, rows, customer_id, created, ctx.calendar.end)
        for row in customer_interactions:
            if row[4] in SURVEY_MOMENTS:
                survey_moments.append((row, experience))
    _responses(plan, ctx, rng, rows, index, survey_moments)
    return rows


@dataclass
class _Person:
    first: str
    last: str
    country: str
    language: str
    persona: int
    email: str
    city: str


def _person(ctx: _Context, rng: random.Random) -> tuple[_Person, tuple[str, ...]]:
    unit = vocab.UNIT_CODES[_pick(rng, ctx.unit_cumulative)]
    country = ctx.units[unit][2]
    # One person in five lives in another unit's country.
    if rng.random() < 0.2:
        country = _choose(rng, ("GB", "FR", "DE"))
    first_names, last_names = ctx.pools[country]
    first, last = _choose(rng, first_names), _choose(rng, last_names)
    style = _between(rng, 0, 4)
    f, la = vocab.ascii_fold(first) or "client", vocab.ascii_fold(last) or "x"
    local = (f"{f}.{la}", f"{f[0]}{la}", f"{f}{la}", f"{la}.{f}")[style]
    persona = _pick(rng, ctx.persona_cumulative)
    person = _Person(
        first=first,
        last=last,
        country=country,
        language=vocab.LOCALES[country][1],
        persona=persona,
        email=local,  # completed with the customer id (unique) when the row is written
        city=_choose(rng, vocab.CITIES[country]),
    )
    return person, (unit,)


def _email(person: _Person, customer_id: int) -> str:
    domain = vocab.EMAIL_DOMAINS[customer_id % len(vocab.EMAIL_DOMAINS)]
    return f"{person.email}{customer_id}@{domain}"


def _lifetime(ctx: _Context, rng: random.Random, count: int) -> tuple[int, int]:
    """(acquired at, active until) as epoch seconds; some customers predate the window, some churn."""
    cal = ctx.calendar
    if count and rng.random() < 0.55:
        acquired = cal.start - _between(rng, 1, 5 * 365) * DAY + _between(rng, 8 * 3600, 20 * 3600)
        lo_day = 0
    else:
        lo_day = _between(rng, 0, WINDOW_DAYS - 30)
        acquired = cal.moment(rng, lo_day, lo_day + 1)
    hi_day = WINDOW_DAYS
    if rng.random() < 0.18 and lo_day + 60 < WINDOW_DAYS:
        hi_day = _between(rng, lo_day + 60, WINDOW_DAYS + 1)
    return acquired, cal.start + hi_day * DAY if hi_day < WINDOW_DAYS else cal.end


@dataclass
class _Experience:
    base: float
    complaints: int = 0
    escalations: int = 0
    late: int = 0
    unresolved: int = 0


def _customer_row(ctx, customer_id, person: _Person, units, email, phone, created, last_seen) -> tuple:
    persona = vocab.PERSONAS[person.persona]
    end = ctx.calendar.end
    if last_seen is None:
        stage = "lead" if customer_id % 2 else "prospect"
    else:
        days = (end - last_seen) / DAY
        stage = "active" if days < 90 else "at_risk" if days < 180 else "lapsed" if days < 365 else "churned"
    spread = (customer_id * 37 % 1000) / 1000 * ctx.tier_cumulative[-1]
    tier = ctx.tier_names[bisect.bisect_right(ctx.tier_cumulative, spread)]
    home = units[0]
    attributes = {
        "persona": persona.code,
        "tier": tier,
        "plan": vocab.PLANS[home][customer_id % 3],
        "city": person.city,
        "birth_year": 1940 + (customer_id * 13) % 66,
        "generated": True,
    }
    return (
        customer_id,
        person.first,
        person.last,
        email,
        phone,
        stage,
        attributes,
        persona.preferred_channels[customer_id % len(persona.preferred_channels)],
        person.language,
        created,
        max(created, last_seen or created),
        last_seen,
    )


def _identities(rng, rows, customer_id, person: _Person, units, created, email, phone) -> None:
    home = units[0]
    add = rows.identities.append
    for unit in units:
        value = f"{vocab.EXTERNAL_ID_PREFIX[unit]}{customer_id:09d}"
        add((customer_id, "external_id", unit, value, unit, created))
    if email:
        add((customer_id, "email", "", email, home, created))
    if phone:
        add((customer_id, "phone", "", phone, home, created))
    persona = vocab.PERSONAS[person.persona].code
    if persona in ("digital_native", "omnichannel") and rng.random() < 0.5:
        add((customer_id, "anonymous_id", "", _uuid(rng, customer_id), "web_tracker", created))
    if persona == "digital_native" and rng.random() < 0.4:
        add((customer_id, "device_id", "", _uuid(rng, customer_id), "app_tracker", created))


def _uuid(rng: random.Random, customer_id: int) -> str:
    # Random-looking, but unique per customer so re-running with the same seed cannot collide.
    h = f"{rng.getrandbits(84):021x}{customer_id % 16**11:011x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


CONSENT_DEFAULTS = (("email", "marketing", 0.7), ("sms", "marketing", 0.45), ("phone", "marketing", 0.3))


def _consents(rng, rows, customer_id, created, end) -> None:
    add = rows.consents.append
    source = ("signup_form", "store_till", "call_centre")[customer_id % 3]
    evidence = {
        "signup_form": "Sign-up form v3, tick box",
        "store_till": "Paper form scanned at the till",
        "call_centre": "Verbal consent recorded by an agent",
    }[source]
    captured = created
    for channel, purpose, p in CONSENT_DEFAULTS:
        granted = rng.random() < p
        add((customer_id, channel, purpose, granted, source, evidence, captured))
        moment = captured
        # History: some withdraw (unsubscribe), some of those come back (preference centre).
        if granted and rng.random() < 0.12:
            moment = min(moment + _between(rng, 7, 400) * DAY, end - DAY)
            add(
                (
                    customer_id,
                    channel,
                    purpose,
                    False,
                    "unsubscribe_link",
                    "Unsubscribed from a message",
                    moment,
                )
            )
            if rng.random() < 0.25:
                moment = min(moment + _between(rng, 7, 200) * DAY, end - 1)
                add((customer_id, channel, purpose, True, "preference_centre", "Opted back in", moment))
        elif not granted and rng.random() < 0.1:
            moment = min(moment + _between(rng, 7, 400) * DAY, end - 1)
            add((customer_id, channel, purpose, True, "preference_centre", "Opted in later", moment))
    add((customer_id, "email", "surveys", rng.random() < 0.8, source, evidence, captured))
    add((customer_id, "email", "service", True, source, evidence, captured))


def _interactions(ctx, rng, rows, customer_id, person, units, count, first_id, acquired, until, exp) -> None:
    if count == 0:
        return
    cal = ctx.calendar
    end = cal.end
    lo_day = max(0, (acquired - cal.start) // DAY)
    hi_day = max(lo_day + 1, min(WINDOW_DAYS, (until - cal.start + DAY - 1) // DAY))
    persona_index = person.persona
    episodes = ctx.episode_cumulative[persona_index]
    events: list[tuple] = []
    serial = 0
    while len(events) < count:
        kind = vocab.EPISODES[_pick(rng, episodes)]
        at = cal.moment(rng, lo_day, hi_day)
        serial += 1
        # Later steps of a journey that would fall after the as-of date have not happened yet.
        events.extend(
            e for e in _episode(ctx, rng, kind, at, persona_index, customer_id, serial, exp) if e[0] < end
        )
    del events[count:]
    events.sort(key=lambda e: e[0])
    unit_ids = [ctx.unit_ids[u] for u in units]
    currency = ctx.units[units[0]][3]
    channel_ids = ctx.channel_ids
    ext_prefix = f"g{ctx.plan.spec.seed}-"
    add = rows.interactions.append
    for offset, (at, channel, direction, type_, agent, subject, outcome, cents, duration, props) in enumerate(
        events
    ):
        interaction_id = first_id + offset
        source = vocab.SOURCES.get(type_, vocab.DEFAULT_SOURCE)
        touchpoints = vocab.TOUCHPOINTS.get(type_, ("",))
        value = (
            None
            if cents is None
            else f"{cents // 100}.{cents % 100:02d}"
            if cents >= 0
            else f"-{-cents // 100}.{-cents % 100:02d}"
        )
        add(
            (
                interaction_id,
                customer_id,
                channel_ids[channel],
                direction,
                type_,
                at,
                at + 1 + (interaction_id % 90),
                source,
                f"{ext_prefix}{interaction_id}",
                unit_ids[interaction_id % len(unit_ids)],
                touchpoints[interaction_id % len(touchpoints)],
                agent,
                subject,
                _summary(type_, subject, outcome),
                outcome,
                value,
                currency if cents is not None else "",
                duration,
                props,
            )
        )


def _summary(type_: str, subject: str, outcome: str) -> str:
    label = type_.replace("_", " ")
    if outcome:
        return f"{subject or label.capitalize()} ({outcome})"
    return subject or label.capitalize()


def _episode(ctx, rng, kind, at, persona_index, customer_id, serial, exp) -> list[tuple]:
    """A journey shape -> rows (at, channel, direction, type, agent, subject, outcome, cents, secs, props)."""
    agents = ctx.agents
    if kind == "browse":
        channel = "mobile_app" if persona_index == 0 and rng.random() < 0.4 else "web"
        return [
            (
                at + i * _between(rng, 20, 300),
                channel,
                "inbound",
                "page_view",
                None,
                "",
                "",
                None,
                None,
                {"path": _choose(rng, vocab.PAGES)},
            )
            for i in range(1 + int(rng.random() * 4))
        ]
    if kind == "app_session":
        return [(at, "mobile_app", "inbound", "app_session", None, "", "", None, _between(rng, 20, 900), {})]
    if kind == "marketing":
        sms = rng.random() < 0.25
        channel, type_ = ("sms", "sms_sent") if sms else ("email", "email_sent")
        campaign = f"C{(at // (7 * DAY)) % 1000:03d}"
        out = [
            (
                at,
                channel,
                "outbound",
                type_,
                None,
                "Offer of the week" if not sms else "Offer",
                "",
                None,
                None,
                {"campaign": campaign},
            )
        ]
        if not sms and rng.random() < 0.35:
            out.append(
                (
                    at + _between(rng, 600, 2 * DAY),
                    "email",
                    "inbound",
                    "email_opened",
                    None,
                    "",
                    "",
                    None,
                    None,
                    {"campaign": campaign},
                )
            )
            if rng.random() < 0.3:
                out.append(
                    (
                        out[-1][0] + _between(rng, 5, 600),
                        "email",
                        "inbound",
                        "email_clicked",
                        None,
                        "",
                        "",
                        None,
                        None,
                        {"campaign": campaign},
                    )
                )
        return out
    if kind in ("order", "store_visit"):
        out = []
        if kind == "store_visit":
            out.append(
                (at, "store", "inbound", "store_visit", None, "", "", None, _between(rng, 300, 3600), {})
            )
            if rng.random() > 0.3:
                return out
            channel = "store"
            at += _between(rng, 120, 1800)
        else:
            names, cumulative = ctx.orders[persona_index]
            channel = names[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
        cents = max(199, int(rng.lognormvariate(8.3, 0.8)))  # median about 40.00
        order_id = f"O{customer_id}-{serial}"
        props = {"order_id": order_id, "items": 1 + int(rng.expovariate(0.7))}
        out.append(
            (at, channel, "inbound", "order_placed", None, f"Order {order_id}", "", cents, None, props)
        )
        if channel != "store":
            shipped = at + _between(rng, 3600, 2 * DAY)
            out.append(
                (
                    shipped,
                    "email",
                    "outbound",
                    "order_shipped",
                    None,
                    f"Order {order_id} shipped",
                    "",
                    None,
                    None,
                    {"order_id": order_id},
                )
            )
            late = rng.random() < 0.08
            exp.late += late
            delivered = shipped + (_between(rng, 6, 12) if late else _between(rng, 1, 4)) * DAY
            out.append(
                (
                    delivered,
                    "sms",
                    "outbound",
                    "order_delivered",
                    None,
                    f"Order {order_id} delivered",
                    "late" if late else "on_time",
                    None,
                    None,
                    {"order_id": order_id, "late": late},
                )
            )
            at = delivered
        if rng.random() < 0.06:
            out.append(
                (
                    at + _between(rng, 3, 20) * DAY,
                    "store" if channel == "store" else "web",
                    "inbound",
                    "order_returned",
                    None,
                    f"Return of {order_id}",
                    "refunded",
                    -cents,
                    None,
                    {"order_id": order_id},
                )
            )
        return out
    if kind == "call":
        topic = _choose(rng, vocab.QUERY_TOPICS)
        outcome = _choose(rng, ("resolved", "resolved", "resolved", "callback", "escalated"))
        exp.escalations += outcome == "escalated"
        return [
            (
                at,
                "phone",
                "inbound",
                "call",
                _choose(rng, agents),
                f"Call about {topic}",
                outcome,
                None,
                _between(rng, 60, 1800),
                {"topic": topic},
            )
        ]
    names, cumulative = ctx.service[persona_index]
    channel = names[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]
    agent = _choose(rng, agents)
    if kind == "query":
        topic = _choose(rng, vocab.QUERY_TOPICS)
        outcome = rng.choices(("resolved", "escalated", "pending"), (85, 10, 5))[0]
        exp.escalations += outcome == "escalated"
        exp.unresolved += outcome == "pending"
        subject = f"Question about {topic}"
        out = [(at, channel, "inbound", "query", None, subject, "", None, None, {"topic": topic})]
        reply = at + _between(rng, 120, DAY)
        out.append((reply, channel, "outbound", "reply", agent, subject, "", None, None, {"topic": topic}))
        if outcome != "pending":
            out.append(
                (
                    reply + _between(rng, 60, 3 * DAY),
                    channel,
                    "outbound",
                    "query_resolved",
                    agent,
                    subject,
                    outcome,
                    None,
                    None,
                    {"topic": topic},
                )
            )
        return out
    # complaint
    channel = _choose(rng, (channel, "phone", "letter", "social"))
    theme = _choose(rng, vocab.COMPLAINT_THEMES)
    outcome = rng.choices(("resolved", "escalated", "pending"), (70, 20, 10))[0]
    exp.complaints += 1
    exp.escalations += outcome == "escalated"
    exp.unresolved += outcome == "pending"
    subject = f"Complaint about {theme}"
    out = [(at, channel, "inbound", "complaint", None, subject, "", None, None, {"theme": theme})]
    ack = at + _between(rng, 600, DAY)
    out.append(
        (ack, "email", "outbound", "complaint_acknowledged", agent, subject, "", None, None, {"theme": theme})
    )
    if outcome != "pending":
        out.append(
            (
                ack + _between(rng, 1, 20) * DAY,
                "phone",
                "outbound",
                "complaint_resolved",
                agent,
                subject,
                outcome,
                None,
                _between(rng, 120, 1500),
                {"theme": theme},
            )
        )
    return out


def _responses(plan: Plan, ctx: _Context, rng, rows: ChunkRows, index: int, moments: list[tuple]) -> None:
    quota = plan.chunk_response_quota[index] if plan.chunk_response_quota else 0
    if not quota or not moments:
        return
    surveys = plan.reference.surveys
    by_trigger = {trigger: (sid, kind) for sid, kind, trigger in surveys}
    first_id = plan.response_id_base + sum(plan.chunk_response_quota[:index])
    picks = (
        rng.sample(moments, quota) if quota <= len(moments) else [_choose(rng, moments) for _ in range(quota)]
    )
    picks.sort(key=lambda m: m[0][0])
    end = ctx.calendar.end
    analysis = plan.reference.verbatims
    for offset, (row, exp) in enumerate(picks):
        survey_id, kind = by_trigger.get(row[4]) or surveys[offset % len(surveys)][:2]
        base = exp.base - 2.2 * min(exp.complaints, 2) - 1.2 * exp.escalations - 1.0 * exp.late
        base -= 1.5 * exp.unresolved
        if row[14] == "escalated":
            base -= 2.0
        nps = max(0, min(10, round(rng.gauss(base, 1.8))))
        score = _scale(kind, nps, rng)
        band = "promoter" if nps >= 9 else "passive" if nps >= 7 else "detractor"
        comment = _choose(rng, vocab.VERBATIMS[band]) if rng.random() < 0.6 else ""
        responded = min(row[5] + _between(rng, 600, 3 * DAY), end - 1)
        response_id = first_id + offset
        sentiment, label, themes = analysis.get(comment, (None, "", ()))
        for theme_id in themes:
            rows.response_themes.append((response_id, theme_id))
        rows.responses.append(
            (
                response_id,
                survey_id,
                kind,
                row[1],
                score,
                comment,
                responded,
                responded + 5,
                f"g{plan.spec.seed}-r{response_id}",
                "import",
                row[2],
                row[10],
                row[9],
                row[0],
                sentiment,
                label,
            )
        )


def _scale(kind: str, nps: int, rng: random.Random) -> int:
    """Map the latent 0-10 experience onto the survey's own scale."""
    if kind == "ces":  # 1 (easy) .. 7 (hard): effort rises as experience falls
        return max(1, min(7, 7 - round(nps * 0.6) + _choose(rng, (-1, 0, 0, 1))))
    if kind == "csat":
        return max(1, min(5, round(nps / 2.2) + _choose(rng, (0, 0, 1))))
    return nps
