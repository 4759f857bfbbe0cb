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
from datetime import UTC, date, datetime

from . import vocab
from .draws import DAY, WINDOW_DAYS, Calendar, between, choose, cumulative, pick, weighted
from .journeys import SURVEY_MOMENTS, Experience, add_interactions, add_responses


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


class _Context:
    """Per-process caches derived from the plan (cheap to rebuild in each worker)."""

    def __init__(self, plan: Plan):
        self.plan = plan
        spec = plan.spec
        self.calendar = Calendar(spec.end_epoch())
        self.pools = vocab.name_pools(spec.seed)
        self.persona_cumulative = cumulative(vocab.PERSONA_WEIGHTS)
        self.unit_cumulative = cumulative(vocab.UNIT_WEIGHTS)
        self.tier_names, self.tier_cumulative = weighted(vocab.TIERS)
        self.service = [weighted(p.service_channels) for p in vocab.PERSONAS]
        self.orders = [weighted(p.order_channels) for p in vocab.PERSONAS]
        self.episode_cumulative = [cumulative(p.episode_weights) for p in vocab.PERSONAS]
        self.channel_ids = plan.reference.channel_ids
        self.unit_ids = plan.reference.unit_ids
        self.agents = plan.reference.agent_ids or (None,)
        self.units = {u[0]: u for u in vocab.BUSINESS_UNITS}


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
                other = choose(rng, [u for u in vocab.UNIT_CODES if u != units[0]])
                if rng.random() < 0.35 and n + 1 < end:
                    pending_twin = (person, (other,))
                else:
                    units = (units[0], other)
        count = plan.counts[n]
        has_twin = pending_twin is not None
        experience = Experience(base=vocab.PERSONAS[person.persona].base_nps)
        first_index = len(rows.interactions)
        acquired, active_until = _lifetime(ctx, rng, count)
        add_interactions(
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
        email_owner, phone_owner, email_identity, phone_identity = _contact_owners(
            rng, customer_id, twin=twin, has_twin=has_twin
        )
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
    add_responses(plan, ctx, rng, rows, index, survey_moments)
    return rows


def _contact_owners(
    rng, customer_id: int, *, twin: bool, has_twin: bool
) -> tuple[int, int | None, bool, bool]:
    """(email owner id, phone owner id, holds the email identity, holds the phone identity).

    A twin pair is one person: the first profile holds the email identity and a copy of the
    phone, the second holds the phone identity and a copy of the email. Anyone else has an
    email and, mostly, a phone.
    """
    if twin:
        return customer_id - 1, customer_id, False, True
    if has_twin:
        return customer_id, customer_id + 1, True, False
    has_phone = rng.random() < 0.85
    return customer_id, customer_id if has_phone else None, True, has_phone


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
    unit = vocab.UNIT_CODES[pick(rng, ctx.unit_cumulative)]
    country = ctx.units[unit][2]
    # One person in five lives in another unit's country.
    if rng.random() < 0.2:
        country = choose(rng, ("GB", "FR", "DE"))
    first_names, last_names = ctx.pools[country]
    first, last = choose(rng, first_names), choose(rng, last_names)
    style = between(rng, 0, 4)
    f, la = vocab.ascii_fold(first) or "client", vocab.ascii_fold(last) or "x"
    local = (f"{f}.{la}", f"{f[0]}{la}", f"{f}{la}", f"{la}.{f}")[style]
    persona = pick(rng, ctx.persona_cumulative)
    person = _Person(
        first=first,
        last=last,
        country=country,
        language=vocab.LOCALES[country][1],
        persona=persona,
        email=local,  # completed with the customer id (unique) when the row is written
        city=choose(rng, vocab.CITIES[country]),
    )
    return person, (unit,)


def _email(person: _Person, customer_id: int) -> str:
    domain = vocab.EMAIL_DOMAINS[customer_id % len(vocab.EMAIL_DOMAINS)]
    return f"{person.email}{customer_id}@{domain}"


def _lifetime(ctx: _Context, rng: random.Random, count: int) -> tuple[int, int]:
    """(acquired at, active until) as epoch seconds; some customers predate the window, some churn."""
    cal = ctx.calendar
    if count and rng.random() < 0.55:
        acquired = cal.start - between(rng, 1, 5 * 365) * DAY + between(rng, 8 * 3600, 20 * 3600)
        lo_day = 0
    else:
        lo_day = between(rng, 0, WINDOW_DAYS - 30)
        acquired = cal.moment(rng, lo_day, lo_day + 1)
    hi_day = WINDOW_DAYS
    if rng.random() < 0.18 and lo_day + 60 < WINDOW_DAYS:
        hi_day = between(rng, lo_day + 60, WINDOW_DAYS + 1)
    return acquired, cal.start + hi_day * DAY if hi_day < WINDOW_DAYS else cal.end


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
            moment = min(moment + between(rng, 7, 400) * DAY, end - DAY)
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
                moment = min(moment + between(rng, 7, 200) * DAY, end - 1)
                add((customer_id, channel, purpose, True, "preference_centre", "Opted back in", moment))
        elif not granted and rng.random() < 0.1:
            moment = min(moment + between(rng, 7, 400) * DAY, end - 1)
            add((customer_id, channel, purpose, True, "preference_centre", "Opted in later", moment))
    add((customer_id, "email", "surveys", rng.random() < 0.8, source, evidence, captured))
    add((customer_id, "email", "service", True, source, evidence, captured))
