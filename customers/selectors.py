"""Reads for customers: survivors of merged ids, consent state, contact checks, lists."""

from collections.abc import Callable
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from cxhub import refdata

from .models import BusinessUnit, Consent, ConsentPurpose, Customer, Identity, MergeEvent

MAX_MERGE_CHAIN = 50
# Purposes a customer may be contacted for until they say no; everything else needs a grant.
OPT_OUT_PURPOSES = frozenset({ConsentPurpose.SERVICE})
# A ledger row for this channel applies to every channel (a global opt-out or opt-in).
ALL_CHANNELS = "all"


def business_unit_ids() -> dict[str, int]:
    """Every business unit's id by code, kept between calls until one changes (cxhub.refdata).
    Shared: read it, never change it."""
    return refdata.cached(
        "customers.business_unit_ids", lambda: dict(BusinessUnit.objects.values_list("code", "id"))
    )


def survivor_ids(customer_ids) -> dict[int, int]:
    """Map many ids to their live survivors (a live id maps to itself); unknown ids are left out.

    The one place that follows merged ids: the API (``customers.api.mixins.FollowMergedMixin``),
    the 360 page, ingest and every service that takes a customer id go through it.
    """
    result: dict[int, int] = {}
    pending = {int(i): int(i) for i in customer_ids}
    for _ in range(MAX_MERGE_CHAIN):
        if not pending:
            break
        rows = dict(Customer.objects.filter(pk__in=set(pending.values())).values_list("pk", "merged_into_id"))
        next_pending = {}
        for original, current in pending.items():
            if current not in rows:
                continue
            if rows[current] is None:
                result[original] = current
            else:
                next_pending[original] = rows[current]
        pending = next_pending
    return result


def erased_ids(customer_ids) -> set[int]:
    """Which of these customers were erased (tombstones)."""
    ids = {int(i) for i in customer_ids}
    if not ids:
        return set()
    return set(Customer.objects.filter(pk__in=ids, erased_at__isnull=False).values_list("pk", flat=True))


def survivor_id(customer_id: int) -> int | None:
    """The id of the live profile ``customer_id`` was merged into (itself if live); None if unknown."""
    customer_id = int(customer_id)
    return survivor_ids([customer_id]).get(customer_id)


def consent_state(*, customer_id: int, at: datetime | None = None) -> dict[tuple[str, str], Consent]:
    """The latest ledger row per (channel, purpose), optionally as it stood at ``at``."""
    rows = Consent.objects.filter(customer_id=customer_id)
    if at is not None:
        rows = rows.filter(captured_at__lte=at)
    state: dict[tuple[str, str], Consent] = {}
    for row in rows.order_by("channel", "purpose", "-captured_at", "-id"):
        state.setdefault((row.channel, row.purpose), row)
    return state


def can_contact(*, customer, channel: str, purpose: str, at: datetime | None = None) -> bool:
    """May we reach ``customer`` on ``channel`` for ``purpose``? The check every outbound action calls.

    The newest ledger row for (channel, purpose) or (``all``, purpose) decides. Without any row,
    service messages are allowed (opt-out) and every other purpose is refused (opt-in).
    A merged profile is checked through its survivor.
    """
    customer_id = customer.pk if isinstance(customer, Customer) else int(customer)
    return contactable(customers=[customer], channels=[channel], purpose=purpose, at=at)[
        (customer_id, channel)
    ]


def contactable(
    *, customers, channels, purpose: str, at: datetime | None = None
) -> dict[tuple[int, str], bool]:
    """``can_contact`` for many customers (objects or ids) on many channels, in one query (more
    only to follow merged profiles to their survivors): {(customer id, channel): allowed}."""
    checked: dict[int, int] = {}  # the id asked about → the id whose ledger decides
    merged = []
    for customer in customers:
        customer_id = customer.pk if isinstance(customer, Customer) else int(customer)
        checked[customer_id] = customer_id
        if isinstance(customer, Customer) and customer.merged_into_id is not None:
            merged.append(customer_id)
    if merged:
        checked.update(survivor_ids(merged))
    rows = Consent.objects.filter(
        customer_id__in=set(checked.values()), purpose=purpose, channel__in=[*channels, ALL_CHANNELS]
    )
    if at is not None:
        rows = rows.filter(captured_at__lte=at)
    newest: dict[tuple[int, str], tuple] = {}  # (customer, channel or ``all``) → (captured_at, id, granted)
    for customer_id, channel, captured_at, pk, granted in rows.values_list(
        "customer_id", "channel", "captured_at", "id", "granted"
    ):
        key = (customer_id, channel)
        if key not in newest or (captured_at, pk) > newest[key][:2]:
            newest[key] = (captured_at, pk, granted)
    allowed = {}
    for customer_id, ledger_id in checked.items():
        for channel in channels:
            found = [newest[k] for k in ((ledger_id, channel), (ledger_id, ALL_CHANNELS)) if k in newest]
            allowed[(customer_id, channel)] = bool(max(found)[2]) if found else purpose in OPT_OUT_PURPOSES
    return allowed


def customer_zone(customer: Customer) -> ZoneInfo:
    try:
        return ZoneInfo(customer.timezone or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.TIME_ZONE)


def in_quiet_hours(*, customer: Customer, at: datetime | None = None) -> bool:
    """Is ``at`` (default now) inside the customer's quiet hours, in the customer's time zone?"""
    start, end = customer.quiet_hours_start, customer.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    local: time = (at or timezone.now()).astimezone(customer_zone(customer)).time()
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


def customers_by_identity(*, kind: str, value: str, namespace: str = "") -> QuerySet[Customer]:
    return Customer.objects.filter(
        identities__kind=kind, identities__namespace=namespace, identities__value=value
    )


def customer_list(
    *,
    email: str = "",
    phone: str = "",
    external_id: str = "",
    namespace: str = "",
    q: str = "",
    business_unit: str = "",
    include_merged: bool = False,
    extra: dict[str, str] | None = None,
) -> QuerySet[Customer]:
    """Customers matching the given (already normalised) filters, for lists and the API.

    ``extra`` holds filters registered by higher apps (``segment``) with ``register_list_filter``.
    """
    qs = Customer.objects.filter(erased_at__isnull=True)  # tombstones hold no one
    if not include_merged:
        qs = qs.filter(merged_into__isnull=True)
    if email:
        qs = qs.filter(Q(email=email) | Q(pk__in=_owners("email", email)))
    if phone:
        qs = qs.filter(Q(phone=phone) | Q(pk__in=_owners("phone", phone)))
    if external_id:
        ids = Identity.objects.filter(kind="external_id", value=external_id)
        if namespace:
            ids = ids.filter(namespace=namespace)
        qs = qs.filter(pk__in=ids.values("customer_id"))
    if business_unit:
        through = Customer.business_units.through
        qs = qs.filter(pk__in=through.objects.filter(businessunit__code=business_unit).values("customer_id"))
    if q:
        qs = qs.filter(_text_query(q))
    for name, value in (extra or {}).items():
        qs = _list_filters[name](qs, value)
    return qs.prefetch_related("business_units")


ListFilter = Callable[[QuerySet, str], QuerySet]
_list_filters: dict[str, ListFilter] = {}


def register_list_filter(name: str, apply: ListFilter) -> None:
    """Let a higher app add a customer list filter, e.g. ``register_list_filter("segment", in_segment)``.

    ``apply(queryset, raw_value)`` returns the filtered queryset; raise a DomainError for a bad value.
    """
    _list_filters[name] = apply


def list_filter_names() -> list[str]:
    return list(_list_filters)


def _owners(kind: str, value: str):
    return Identity.objects.filter(kind=kind, namespace="", value=value).values("customer_id")


def _text_query(q: str) -> Q:
    condition = Q()
    for term in q.split()[:5]:
        term_q = (
            Q(first_name__icontains=term)
            | Q(last_name__icontains=term)
            | Q(email__icontains=term)
            | Q(phone__icontains=term)
            | Q(pk__in=Identity.objects.filter(value__iexact=term).values("customer_id"))
        )
        if term.isdigit():
            term_q |= Q(pk=int(term))
        condition &= term_q
    return condition


def identities_of(*, customer_id: int) -> QuerySet[Identity]:
    return Identity.objects.filter(customer_id=customer_id).order_by("kind", "namespace", "created_at", "id")


def merge_history(*, customer_id: int) -> QuerySet[MergeEvent]:
    """Merges into and out of this customer, newest first (the 360 page and the API read it)."""
    return (
        MergeEvent.objects.filter(Q(survivor_id=customer_id) | Q(merged_id=customer_id))
        .select_related("survivor", "merged", "actor")
        .order_by("-created_at", "-id")
    )
