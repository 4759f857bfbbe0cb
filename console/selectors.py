"""Reads for the agent pages: customer search, the Customer 360 page and the agent home.

Every function here runs a fixed number of queries whatever the size of a customer's
history: the timeline is read one keyset page at a time and nothing counts it.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.db.models import OuterRef, Prefetch, Q, Subquery, prefetch_related_objects
from django.utils import timezone

from audit.selectors import VIEW_ACTION, recently_viewed_customer_ids
from audit.services import record_audit
from customers import selectors
from customers.models import BusinessUnit, Consent, Customer, Identity, IdentityKind
from customers.selectors import consent_state
from interactions.models import Interaction
from interactions.selectors import customer_timeline

TIMELINE_PAGE_SIZE = 25
MERGE_HISTORY_LIMIT = 20
SEARCH_LIMIT = 25
RECENT_LIMIT = 10
RECENT_WINDOW = timedelta(days=90)  # "recently viewed" reads only this much of the audit log
CANDIDATES = 1000  # matches read per source before ordering; more means "type more"
MIN_QUERY_LENGTH = 3  # trigram indexes need three characters to help
_PHONE_CHARS = re.compile(r"^[\d\s()+\-./]+$")


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class TimelineFilters:
    channel: str | None = None
    type: str | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive

    def as_kwargs(self) -> dict:
        return {
            "channel": self.channel or None,
            "type": self.type or None,
            "direction": self.direction or None,
            "since": self.since,
            "until": self.until,
        }


@dataclass
class TimelinePage:
    interactions: list
    next_cursor: str | None  # pass back as ``before`` to read the next (older) page


def encode_cursor(occurred_at: datetime, pk: int) -> str:
    return f"{occurred_at.isoformat()}~{pk}"


def decode_cursor(value: str | None) -> tuple[datetime, int] | None:
    """``"<iso timestamp>~<id>"`` -> (occurred_at, id); None when absent or malformed."""
    if not value or "~" not in value:
        return None
    stamp, _, pk = value.rpartition("~")
    try:
        occurred_at = datetime.fromisoformat(stamp)
        return occurred_at, int(pk)
    except ValueError:
        return None


def timeline_page(
    *,
    customer_id: int,
    filters: TimelineFilters | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = TIMELINE_PAGE_SIZE,
) -> TimelinePage:
    """One page of a customer's timeline, newest first (one query, no COUNT)."""
    filters = filters or TimelineFilters()
    rows = list(
        customer_timeline(customer_id=customer_id, before=before, limit=limit + 1, **filters.as_kwargs())
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1].occurred_at, rows[-1].pk) if has_more and rows else None
    return TimelinePage(interactions=rows, next_cursor=cursor)


# --------------------------------------------------------------------------- consents & merges


def current_consents(*, customer_id: int) -> list[Consent]:
    """The latest ledger row per (channel, purpose), with when and where it was captured."""
    return [row for _, row in sorted(consent_state(customer_id=customer_id).items())]


# --------------------------------------------------------------------------- the 360 page


@dataclass
class Customer360:
    customer: Customer
    identities_by_kind: list[tuple[str, list[Identity]]]
    business_units: list[BusinessUnit]
    consents: list[Consent]
    merges: list
    timeline: TimelinePage
    filters: TimelineFilters
    figures: dict = field(default_factory=dict)


def _customer_relations() -> tuple[Prefetch, ...]:
    return (
        Prefetch("identities", queryset=Identity.objects.order_by("kind", "namespace", "value")),
        Prefetch("business_units", queryset=BusinessUnit.objects.order_by("name")),
    )


def _customer_with_relations(customer_id: int, customer: Customer | None = None) -> Customer | None:
    if customer is None:
        return Customer.objects.filter(pk=customer_id).prefetch_related(*_customer_relations()).first()
    prefetch_related_objects([customer], *_customer_relations())
    return customer


def _group_identities(identities) -> list[tuple[str, list[Identity]]]:
    labels = dict(IdentityKind.choices)
    grouped: dict[str, list[Identity]] = {}
    for identity in identities:
        grouped.setdefault(identity.kind, []).append(identity)
    order = [kind for kind, _ in IdentityKind.choices]
    return [
        (labels.get(kind, kind), grouped[kind])
        for kind in sorted(grouped, key=lambda k: order.index(k) if k in order else len(order))
    ]


def customer_360(
    *,
    customer_id: int,
    filters: TimelineFilters | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = TIMELINE_PAGE_SIZE,
    viewer=None,
    customer: Customer | None = None,
) -> Customer360 | None:
    """Everything the 360 page shows about one (surviving) customer, in a fixed number of queries.

    ``viewer``: when given, the view is recorded in the audit log (who, whom, when).
    ``customer``: its row, when the caller has read it already (one query fewer).
    Returns None when the customer does not exist. Merged ids are not followed here:
    callers redirect with ``customers.selectors.survivor_id`` first.
    """
    customer = _customer_with_relations(customer_id, customer)
    if customer is None:
        return None
    filters = filters or TimelineFilters()
    if viewer is not None:
        record_audit(action=VIEW_ACTION, actor=viewer, customer_id=customer.pk)
    return Customer360(
        customer=customer,
        identities_by_kind=_group_identities(customer.identities.all()),
        business_units=list(customer.business_units.all()),
        consents=current_consents(customer_id=customer.pk),
        # The page shows the other profile's id, not its row: join only who merged.
        merges=list(
            selectors.merge_history(customer_id=customer.pk)
            .select_related(None)
            .select_related("actor")[:MERGE_HISTORY_LIMIT]
        ),
        timeline=timeline_page(customer_id=customer.pk, filters=filters, before=before, limit=limit),
        filters=filters,
    )


# --------------------------------------------------------------------------- search


def _phone_variants(query: str) -> list[str]:
    """Digits to look for in stored E.164 phone numbers, from what an agent typed."""
    if not _PHONE_CHARS.match(query):
        return []
    digits = re.sub(r"\D", "", query)
    if len(digits) < 4:
        return []
    variants = {digits, digits.lstrip("0")}
    try:
        parsed = phonenumbers.parse(query, getattr(settings, "PHONE_DEFAULT_REGION", None) or None)
        variants.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+"))
    except phonenumbers.NumberParseException:
        pass
    return sorted(v for v in variants if len(v) >= 4)


def search_customers(*, query: str, limit: int = SEARCH_LIMIT) -> tuple[list[Customer], bool]:
    """Customers matching partial name, email, phone or any identity value (external ids too).

    Returns (customers, has_more). Merged profiles are left out: their identities live on
    the survivor. Case-insensitive substring matching; on PostgreSQL trigram GIN indexes
    on the same ``UPPER(column)`` expressions keep it fast (the ``customer_search_trgm`` migration).
    """
    query = " ".join(query.split())[:200]
    if len(query) < MIN_QUERY_LENGTH:
        return [], False
    phones = _phone_variants(query)

    identity_match = Q(value__icontains=query)
    for digits in phones:
        identity_match |= Q(kind=IdentityKind.PHONE, value__icontains=digits)
    name_match = Q()
    for term in query.split():
        name_match &= Q(first_name__icontains=term) | Q(last_name__icontains=term)
    match = name_match | Q(email__icontains=query)
    for digits in phones:
        match |= Q(phone__icontains=digits)
    # Candidates first, without ORDER BY/LIMIT pressure, so PostgreSQL reads the trigram
    # indexes (bitmap scans) instead of walking the primary key backwards through a filter.
    candidates = set(
        Identity.objects.filter(identity_match).order_by().values_list("customer_id", flat=True)[:CANDIDATES]
    )
    candidates.update(Customer.objects.filter(match).order_by().values_list("pk", flat=True)[:CANDIDATES])
    if not candidates:
        return [], False

    last_activity = (
        Interaction.objects.filter(customer_id=OuterRef("pk"))
        .order_by("-occurred_at")
        .values("occurred_at")[:1]
    )
    rows = list(
        Customer.objects.filter(pk__in=candidates, merged_into__isnull=True)
        .order_by("-id")
        .annotate(last_activity=Subquery(last_activity))
        .prefetch_related(
            Prefetch("identities", queryset=Identity.objects.order_by("kind", "value")),
            Prefetch("business_units", queryset=BusinessUnit.objects.order_by("name")),
        )[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


# --------------------------------------------------------------------------- agent home


def recently_viewed(*, user, limit: int = RECENT_LIMIT) -> list[tuple[Customer, datetime]]:
    """The customers this user opened most recently (latest view first), each once."""
    latest = recently_viewed_customer_ids(user_id=user.pk, since=timezone.now() - RECENT_WINDOW, limit=limit)
    customers = Customer.objects.in_bulk([customer_id for customer_id, _ in latest])
    return [
        (customers[customer_id], last_viewed)
        for customer_id, last_viewed in latest
        if customer_id in customers
    ]


def journey_log_types() -> dict[str, list[str]]:
    """Interaction types that move an active journey → the property keys its journeys correlate on.

    ``{"complaint": ["complaint_id"], "order_placed": ["order_id"], "note": []}``; one query.
    """
    from journeys.models import Stage

    keys: dict[str, set[str]] = {}
    rows = (
        Stage.objects.filter(journey__active=True)
        .values_list("interaction_type", "journey__correlation_key")
        .distinct()
    )
    for interaction_type, correlation_key in rows:
        found = keys.setdefault(interaction_type, set())
        if correlation_key.startswith("properties."):
            found.add(correlation_key.split(".", 1)[1])
    return {interaction_type: sorted(found) for interaction_type, found in keys.items()}
