"""Identity resolution, step 3: writing a batch's decisions in bulk.

New profiles are COPYed with ids drawn up front, identities inserted over arrays, changed
fields written with one ``UPDATE … FROM (VALUES …)``; concurrent creations of the same
identity are folded together afterwards.
"""

from __future__ import annotations

import json
import operator
from collections import defaultdict
from typing import TYPE_CHECKING

from django.db import connection
from django.db.models import DateField, F, Field, JSONField, TimeField
from django.utils import timezone

from cxhub.db import array_literal, bulk_write, draw_ids
from cxhub.errors import DomainError
from cxhub.jsonguard import check_data_json

from .. import pipeline
from ..merging import lock_customers, merge_locked
from ..models import Customer, Identity, IdentityKind, IdentityRejection, LifecycleStage
from ..selectors import business_unit_ids, survivor_ids
from .lookup import IdentityKey, identities_with_values

if TYPE_CHECKING:
    from .policy import BatchResolver, Outcome

TRAIT_FIELDS = ("first_name", "last_name", "lifecycle_stage", "preferred_channel", "language", "timezone")
TRAIT_MAX_LENGTH = {
    "first_name": 150,
    "last_name": 150,
    "preferred_channel": 50,
    "language": 10,
    "timezone": 64,
}


def split_traits(traits: dict) -> tuple[dict, dict]:
    """(field updates, custom attributes) from raw traits; DomainError on a bad known trait, a NUL
    character or nesting deeper than ``MAX_DATA_DEPTH``."""
    check_data_json(traits, path="traits")
    updates, attributes = {}, {}
    for name, value in traits.items():
        if name in TRAIT_FIELDS:
            if value in (None, ""):
                continue
            if not isinstance(value, str):
                raise DomainError(f"{name} must be a string.", field=f"traits.{name}")
            if name == "lifecycle_stage" and value not in LifecycleStage.values:
                raise DomainError(f"Unknown lifecycle stage {value!r}.", field="traits.lifecycle_stage")
            if len(value) > TRAIT_MAX_LENGTH.get(name, 20):
                raise DomainError(f"{name} is too long.", field=f"traits.{name}")
            updates[name] = value
        elif name not in ("email", "phone", "id"):
            attributes[str(name)] = value
    return updates, attributes


class Resolution:
    """The outcome for one identity set: the surviving profile, whether it is new, what merged into it."""

    def __init__(
        self,
        *,
        customer_id: int,
        created: bool,
        merged_ids: list[int],
        customer: Customer | None,
        not_attached: list[dict] | None = None,
    ):
        self.customer_id = customer_id
        self.created = created
        self.merged_ids = merged_ids  # ids merged into it by this call
        # Identities of the set that were not attached: {"kind", "namespace", "value", "reason"}.
        self.not_attached = not_attached or []
        self._customer = customer

    @property
    def customer(self) -> Customer:
        # Profiles a batch only referred to are not loaded; fetched when someone asks.
        if self._customer is None:
            self._customer = Customer.objects.get(pk=self.customer_id)
        return self._customer

    def __repr__(self) -> str:
        return (
            f"Resolution(customer_id={self.customer_id}, created={self.created}, "
            f"merged_ids={self.merged_ids})"
        )


def flush(batch: BatchResolver, outcomes: list[Outcome], *, schedule: bool = True) -> list[Resolution]:
    """Write what the batch decided: new profiles, identities, traits, units; mark them dirty."""
    now = timezone.now()
    survivors_of_new = {p: batch.find(p) for p in batch.new_customers}
    to_create = {p: c for p, c in batch.new_customers.items() if survivors_of_new[p] == p}
    identities_by_target: dict[int, list[IdentityKey]] = defaultdict(list)
    for key, target in batch.pending_identities:
        identities_by_target[batch.find(target)].append(key)

    existing_changes: dict[int, set[str]] = defaultdict(set)
    for target, traits in batch.traits:
        target = batch.find(target)
        customer = to_create.get(target) if target < 0 else batch.customers[target]
        changed = apply_traits(customer, traits)
        if target > 0 and changed:
            existing_changes[target] |= changed
    for placeholder, customer in to_create.items():
        denormalise_contact_fields(customer, identities_by_target.get(placeholder, []))
    created = create_customers(list(to_create.values()))
    real_id = {p: c.pk for p, c in zip(to_create, created, strict=True)}
    batch.customers.update({c.pk: c for c in created})

    def real(target: int) -> int:
        target = batch.find(target)
        return real_id.get(target, target)

    for target, keys in identities_by_target.items():
        if target > 0 and denormalise_contact_fields(batch.customers[target], keys):
            existing_changes[target] |= {"email", "phone"}
    if existing_changes:
        for target in existing_changes:
            batch.customers[target].updated_at = now
        bulk_write(
            [batch.customers[t] for t in existing_changes],
            sorted(set().union(*existing_changes.values()) | {"updated_at"}),
        )
        batch.changed.update(existing_changes)

    insert_identities([(real(t), *k) for k, t in batch.pending_identities], source=batch.source, at=now)
    _join_business_units(batch, real, to_create)
    raced = _absorb_concurrent_creations(batch, real, set(real_id.values()))
    if batch.to_flag:
        Identity.objects.filter(pk__in=batch.to_flag).update(is_flagged=True)
    if batch.merge_counted:
        Identity.objects.filter(pk__in=batch.merge_counted).update(merge_count=F("merge_count") + 1)

    batch.changed.update(real(t) for _, t in batch.pending_identities)
    batch.changed.update(real_id.values())
    pipeline.mark_dirty([pk for pk in batch.changed if pk > 0], reason="resolution", schedule=schedule)
    resolutions = []
    rejections = []
    for o in outcomes:
        customer_id = raced.get(real(o.target), real(o.target))
        not_attached = [
            {"kind": kind, "namespace": namespace, "value": value, "reason": reason}
            for (kind, namespace, value), reason in o.not_attached
        ]
        rejections += [
            IdentityRejection(customer_id=customer_id, source=batch.source[:100], at=now, **row)
            for row in not_attached
            if row["reason"] == "over_limit"
        ]
        resolutions.append(
            Resolution(
                customer_id=customer_id,
                created=o.created and batch.find(o.target) == o.target and real(o.target) not in raced,
                merged_ids=o.merged_ids,
                customer=batch.customers.get(customer_id),
                not_attached=not_attached,
            )
        )
    if rejections:  # only then: a clean batch keeps its constant statement count
        IdentityRejection.objects.bulk_create(rejections)
    return resolutions


def _absorb_concurrent_creations(batch: BatchResolver, real, created_ids: set[int]) -> dict[int, int]:
    """Fold our new profiles into the owners of identities a concurrent transaction inserted first.

    Both batches saw the value as unknown; the unique constraint let only one insert it.
    Returns {our new customer id: the live owner it was merged into}.
    """
    if not batch.pending_identities or not created_ids:
        return {}
    values = {key[2] for key, _ in batch.pending_identities}
    landed = {
        (row["kind"], row["namespace"], row["value"]): row["customer_id"]
        for row in identities_with_values(values, ("kind", "namespace", "value", "customer_id"))
    }
    takeovers: dict[int, int] = {}
    for key, target in batch.pending_identities:
        ours, theirs = real(target), landed.get(key)
        if ours in created_ids and theirs is not None and theirs != ours:
            takeovers.setdefault(ours, theirs)
    for ours, theirs in takeovers.items():
        owner_id = survivor_ids([theirs]).get(theirs, theirs)
        owner = lock_customers([owner_id])[owner_id]
        merge_locked(
            survivor=owner,
            merged=batch.customers[ours],
            rules=batch.rules,
            actor=batch.actor,
            rule="auto:concurrent",
            reason="Created at the same time by two resolutions of the same identity",
        )
        batch.customers[owner.pk] = owner
        takeovers[ours] = owner.pk
    return takeovers


def denormalise_contact_fields(customer: Customer, keys: list[IdentityKey]) -> bool:
    """Fill an empty ``email`` / ``phone`` from the identities; True when one changed."""
    changed = False
    for kind, _, value in keys:
        if kind == IdentityKind.EMAIL and not customer.email:
            customer.email, changed = value, True
        elif kind == IdentityKind.PHONE and not customer.phone:
            customer.phone, changed = value, True
    return changed


def apply_traits(customer: Customer, traits: tuple[dict, dict] | None) -> set[str]:
    """Set trait values on ``customer``; return the names of the fields that changed."""
    changed: set[str] = set()
    if not traits:
        return changed
    updates, attributes = traits
    for name, value in updates.items():
        if getattr(customer, name) != value:
            setattr(customer, name, value)
            changed.add(name)
    current = customer.attributes or {}
    if attributes and any(current.get(k, object()) != v for k, v in attributes.items()):
        customer.attributes = {**current, **attributes}
        changed.add("attributes")
    return changed


def _join_business_units(batch: BatchResolver, real, created: dict[int, Customer]) -> None:
    """Profiles join the business unit named by an external id's namespace or the source."""
    wanted: set[tuple[int, str]] = set()
    for (kind, namespace, _), target in batch.pending_identities:
        if kind == IdentityKind.EXTERNAL_ID:
            wanted.add((real(target), namespace))
    if batch.source:
        wanted.update((c.pk, batch.source) for c in created.values())
    if not wanted:
        return
    units = business_unit_ids()
    through = Customer.business_units.through
    rows = [through(customer_id=pk, businessunit_id=units[code]) for pk, code in wanted if code in units]
    if rows:
        through.objects.bulk_create(rows, ignore_conflicts=True)


def create_customers(customers: list[Customer]) -> list[Customer]:
    """Insert new profiles and give them their ids; return them.

    PostgreSQL: ids drawn from the sequence up front and the rows COPYed, with each field's
    own ``pre_save`` (timestamps) and JSON encoding; Django's bulk_create compiles every value
    of every row into SQL parameters, a tenth of a 1,000-item ingest batch.
    """
    if not customers or connection.vendor != "postgresql":
        return Customer.objects.bulk_create(customers)
    meta = Customer._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    columns = ", ".join(f.column for f in fields)
    # Most fields save their attribute as it is (Field.pre_save); read those with one C call
    # per row and give only the others (timestamps, JSON) their own treatment.
    plain = [i for i, f in enumerate(fields) if _plain(f)]
    special = [(i, f) for i, f in enumerate(fields) if not _plain(f)]
    read_plain = operator.attrgetter(*(fields[i].attname for i in plain))
    with connection.cursor() as cursor:
        ids = draw_ids(cursor, meta.db_table, len(customers))
        statement = f"COPY {meta.db_table} (id, {columns}) FROM STDIN"
        with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            for pk, customer in zip(ids, customers, strict=True):
                customer.pk = pk
                row = [None] * len(fields)
                for i, value in zip(plain, read_plain(customer), strict=True):
                    row[i] = value
                for i, field in special:
                    row[i] = _copy_value(field, customer)
                copy.write_row([pk, *row])
    for customer in customers:
        customer._state.adding, customer._state.db = False, connection.alias
    return customers


def _plain(field) -> bool:
    """Whether the field's ``pre_save`` only reads the attribute (dates and times do unless
    they are ``auto_now``/``auto_now_add``); JSON is encoded by ``_copy_value``."""
    if isinstance(field, JSONField):
        return False
    if isinstance(field, DateField | TimeField):
        return not (field.auto_now or field.auto_now_add)
    return type(field).pre_save is Field.pre_save


def _copy_value(field, customer: Customer):
    value = field.pre_save(customer, add=True)
    if isinstance(field, JSONField) and value is not None:
        return json.dumps(value, cls=field.encoder)
    return value


def insert_identities(rows: list[tuple[int, str, str, str]], *, source: str, at) -> None:
    """Insert (customer id, kind, namespace, value) rows; a value another transaction stored
    first is skipped (the caller folds that race in). PostgreSQL: one statement over arrays,
    without a model instance per row."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        Identity.objects.bulk_create(
            [
                Identity(customer_id=c, kind=k, namespace=n, value=v, source=source, created_at=at)
                for c, k, n, v in rows
            ],
            ignore_conflicts=True,
        )
        return
    customer_ids, kinds, namespaces, values = (list(column) for column in zip(*rows, strict=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Identity._meta.db_table} "
            "(customer_id, kind, namespace, value, source, is_flagged, merge_count, created_at) "
            "SELECT c, k, n, v, %s, false, 0, %s "
            "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[]) AS r(c, k, n, v) "
            "ON CONFLICT DO NOTHING",
            [source, at, *(array_literal(column) for column in (customer_ids, kinds, namespaces, values))],
        )
