"""Writes for customers: resolution (find-or-create-or-merge), consents, preferences.

``resolve_customers`` resolves many identity sets at once with a constant number of
queries when no merge is needed (engine: the ``customers.resolution`` package); merges live in
``customers.merging``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from audit.services import record_audit
from cxhub.db import array_literal
from cxhub.errors import Conflict, DomainError

from . import pipeline
from .errors import InvalidConsent
from .models import (
    CONTACT_PREFERENCE_FIELDS,
    PROFILE_FIELDS,
    QUIET_HOURS_FIELDS,
    Consent,
    ConsentPurpose,
    Customer,
    Identity,
)
from .resolution import (
    IdentityKey,
    Resolution,
    as_identity_key,
    denormalise_contact_fields,
    resolve,
    split_traits,
)

__all__ = [
    "Resolution",
    "record_last_seen",
    "resolve_customer",
    "resolve_customers",
]


def resolve_customer(*, identities, traits: dict | None = None, source: str = "", actor=None) -> Resolution:
    """Find, create or merge the customer owning ``identities`` and apply ``traits``.

    ``identities`` holds normalised (kind, namespace, value) tuples or raw
    ``{"kind", "value", "namespace"?}`` dicts (normalised here, InvalidIdentity on bad input).
    Known traits (names, lifecycle stage, preferences) set fields; the rest go to ``attributes``.
    """
    keys = [as_identity_key(item) for item in identities]
    updates, attributes = split_traits(traits or {})
    return resolve([keys], source=source, actor=actor, traits=[(updates, attributes)], schedule=True)[0]


def resolve_customers(
    *,
    identity_sets: Sequence[Sequence[IdentityKey]],
    source: str = "",
    actor=None,
    traits: Sequence[dict | None] | None = None,
    schedule_dirty: bool = True,
) -> list[Resolution]:
    """Resolve many identity sets at once; one Resolution per set, in order.

    No known identity: a new customer. One customer: new identities attach to it.
    Several: merged when the rules allow, else the match by the most trusted kind wins.
    Costs a constant number of queries for any batch size when no merge happens.
    ``traits`` (optional, one dict per set) are applied as in ``resolve_customer``.
    ``schedule_dirty=False`` marks customers dirty without asking a worker now (bulk imports
    schedule once at the end; the periodic sweep is the safety net).
    """
    split = [split_traits(t or {}) for t in traits] if traits is not None else None
    if split is not None and len(split) != len(identity_sets):
        raise ValueError("traits needs one entry per identity set")
    return resolve(
        [list(s) for s in identity_sets], source=source, actor=actor, traits=split, schedule=schedule_dirty
    )


# --- activity -----------------------------------------------------------------------------


def record_last_seen(*, seen: Mapping[int, datetime]) -> None:
    """Move each customer's ``last_seen_at`` forward to the given time (never back), in one UPDATE.

    ``seen`` maps live customer ids to the time they were last seen. Runs in the caller's
    transaction. On PostgreSQL only the rows that actually move are locked and written, in id
    order (no deadlocks between concurrent batches), FOR NO KEY UPDATE as the UPDATE itself
    takes, so it never waits on the key-share locks other batches hold while they resolve
    identities. ``last_seen_at`` is unindexed, so the update is HOT.
    """
    if not seen:
        return
    table = Customer._meta.db_table
    if connection.vendor == "postgresql":
        ids = sorted(seen)
        with connection.cursor() as cursor:
            cursor.execute(
                "WITH m AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) AS m(customer_id, seen)), "
                f"moving AS (SELECT c.id, m.seen FROM {table} c JOIN m ON m.customer_id = c.id "
                "  WHERE c.id = ANY(%s::bigint[]) AND (c.last_seen_at IS NULL OR c.last_seen_at < m.seen) "
                "  ORDER BY c.id FOR NO KEY UPDATE OF c) "
                f"UPDATE {table} c SET last_seen_at = moving.seen FROM moving "
                "WHERE c.id = moving.id AND (c.last_seen_at IS NULL OR c.last_seen_at < moving.seen)",
                [array_literal(ids), array_literal(seen[i] for i in ids), array_literal(ids)],
            )
        return
    whens = [
        When(Q(pk=pk) & (Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=at)), then=Value(at))
        for pk, at in seen.items()
    ]
    Customer.objects.filter(pk__in=list(seen)).update(last_seen_at=Case(*whens, default=F("last_seen_at")))


# --- consents and preferences ---------------------------------------------------------


def record_consent(
    *,
    customer: Customer,
    channel: str,
    purpose: str,
    granted: bool,
    source: str = "",
    evidence: str = "",
    captured_at: datetime | None = None,
    actor=None,
) -> Consent:
    """Append a consent decision to the ledger (never edits earlier rows)."""
    channel = (channel or "").strip().lower()
    if not channel or len(channel) > 50:
        raise InvalidConsent("channel is required (at most 50 characters).", field="channel")
    if purpose not in ConsentPurpose.values:
        raise InvalidConsent(
            f"Unknown purpose {purpose!r}; use one of {', '.join(ConsentPurpose.values)}.", field="purpose"
        )
    if not isinstance(granted, bool):
        raise InvalidConsent("granted must be true or false.", field="granted")
    if len(evidence or "") > 2000:
        raise InvalidConsent("evidence is longer than 2000 characters.", field="evidence")
    if captured_at is not None and captured_at > timezone.now() + timedelta(minutes=5):
        raise InvalidConsent("captured_at is in the future.", field="captured_at")
    consent = Consent.objects.create(
        customer=customer,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=(source or "")[:100],
        evidence=evidence or "",
        captured_at=captured_at or timezone.now(),
        recorded_by=actor if getattr(actor, "pk", None) else None,
    )
    pipeline.mark_dirty([customer.pk], reason="consent")
    record_audit(
        action="consent.record",
        actor=actor,
        customer_id=customer.pk,
        object_type="consent",
        object_id=consent.pk,
        detail={"channel": channel, "purpose": purpose, "granted": granted},
    )
    return consent


def set_contact_preferences(
    *,
    customer: Customer,
    preferred_channel: str | None = None,
    language: str | None = None,
    timezone_name: str | None = None,
    quiet_hours_start=None,
    quiet_hours_end=None,
) -> Customer:
    """Update how the customer likes to be reached; None leaves a preference unchanged."""
    changed = []
    if preferred_channel is not None:
        customer.preferred_channel = preferred_channel[:50]
        changed.append("preferred_channel")
    if language is not None:
        customer.language = language[:10]
        changed.append("language")
    if timezone_name is not None:
        if timezone_name:
            try:
                ZoneInfo(timezone_name)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise DomainError(f"Unknown time zone {timezone_name!r}.", field="timezone") from exc
        customer.timezone = timezone_name
        changed.append("timezone")
    if (quiet_hours_start is None) != (quiet_hours_end is None):
        raise DomainError("Quiet hours need both a start and an end.", field="quiet_hours_start")
    if quiet_hours_start is not None:
        customer.quiet_hours_start, customer.quiet_hours_end = quiet_hours_start, quiet_hours_end
        changed += ["quiet_hours_start", "quiet_hours_end"]
    if changed:
        customer.save(update_fields=[*changed, "updated_at"])
        pipeline.mark_dirty([customer.pk], reason="preferences")
    return customer


# --- direct profile edits ---------------------------------------------------------------------

# What a direct edit may change (email and phone change through identities).
EDITABLE_FIELDS = (
    *(name for name in PROFILE_FIELDS if name not in ("email", "phone")),
    "attributes",
    *CONTACT_PREFERENCE_FIELDS,
    *QUIET_HOURS_FIELDS,
)


def _validate_profile(fields: dict) -> dict:
    clean = {name: value for name, value in fields.items() if name in EDITABLE_FIELDS}
    if clean.get("timezone"):
        try:
            ZoneInfo(clean["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise DomainError(f"Unknown time zone {clean['timezone']!r}.", field="timezone") from exc
    return clean


@transaction.atomic
def create_customer(
    *, identities: Sequence[IdentityKey] = (), fields: dict | None = None, actor=None
) -> Customer:
    """Create a profile with the given identities; Conflict when one already belongs to someone."""
    fields = _validate_profile(fields or {})
    keys = list(dict.fromkeys(as_identity_key(k) for k in identities))
    for kind, namespace, value in keys:
        owner = (
            Identity.objects.filter(kind=kind, namespace=namespace, value=value)
            .values_list("customer_id", flat=True)
            .first()
        )
        if owner is not None:
            raise Conflict(f"{kind} {value} already belongs to customer {owner}.", field="identities")
    customer = Customer(**fields)
    denormalise_contact_fields(customer, keys)
    customer.save()
    Identity.objects.bulk_create(
        [Identity(customer=customer, kind=k, namespace=ns, value=v, source="api") for k, ns, v in keys]
    )
    pipeline.mark_dirty([customer.pk], reason="created")
    return customer


@transaction.atomic
def update_customer(*, customer: Customer, fields: dict) -> Customer:
    """Update profile fields and contact preferences; ``attributes`` are merged key by key."""
    clean = _validate_profile(fields)
    if ("quiet_hours_start" in clean) != ("quiet_hours_end" in clean) or (
        (clean.get("quiet_hours_start") is None) != (clean.get("quiet_hours_end") is None)
    ):
        raise DomainError("Quiet hours need both a start and an end.", field="quiet_hours_start")
    if "attributes" in clean:
        clean["attributes"] = {**(customer.attributes or {}), **clean["attributes"]}
    for name, value in clean.items():
        setattr(customer, name, value)
    if clean:
        customer.save(update_fields=[*clean, "updated_at"])
        pipeline.mark_dirty([customer.pk], reason="profile")
    return customer
