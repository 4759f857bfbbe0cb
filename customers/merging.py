"""Merging two customer profiles into one, and undoing it.

Apps above ``customers`` own rows that point at a customer (interactions, segment
memberships, survey responses, journey instances). ``customers`` cannot import them,
so each registers its foreign key in its ``AppConfig.ready``::

    from customers.merging import register_customer_relation
    register_customer_relation(SegmentMembership, unique_with=("segment",))

A merge then moves those rows to the survivor with one UPDATE per model and records
the moved primary keys in the MergeEvent; rows that would break a unique constraint
(``unique_with`` + customer) are deleted instead and recorded, so unmerge restores
them exactly.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from audit.services import record_audit_many
from cxhub import refdata
from cxhub.db import array_literal

from . import pipeline
from .errors import AlreadyMerged, CannotUnmerge, CustomerNotFound, MergeNotAllowed
from .models import (
    CONTACT_PREFERENCE_FIELDS,
    PROFILE_FIELDS,
    QUIET_HOURS_FIELDS,
    Consent,
    Customer,
    DirtyCustomer,
    FieldPolicy,
    Identity,
    IdentityRule,
    KeepOrder,
    MergeEvent,
    MergeSettings,
    SurvivorStrategy,
)

# Customer fields merged by survivorship (identities, units and relations are handled apart).
SURVIVORSHIP_FIELDS = PROFILE_FIELDS + CONTACT_PREFERENCE_FIELDS + QUIET_HOURS_FIELDS


@dataclass(frozen=True)
class CustomerRelation:
    model: type[models.Model]
    field: str
    unique_with: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.model._meta.label}.{self.field}"


_relations: dict[str, CustomerRelation] = {}


def register_customer_relation(model, field: str = "customer", unique_with: tuple[str, ...] = ()) -> None:
    """Have merges move ``model.field`` rows to the survivor (and unmerge move them back)."""
    relation = CustomerRelation(model=model, field=field, unique_with=tuple(unique_with))
    _relations[relation.key] = relation


def customer_relations() -> list[CustomerRelation]:
    return list(_relations.values())


register_customer_relation(Consent)


# --- rules -------------------------------------------------------------------


@dataclass
class MergeRules:
    """The merge configuration loaded once per operation (constant queries)."""

    settings: MergeSettings
    identity_rules: dict[tuple[str, str], IdentityRule]

    @classmethod
    def load(cls) -> MergeRules:
        settings = MergeSettings.objects.filter(pk=1).first() or MergeSettings(pk=1)
        rules = {(r.kind, r.namespace): r for r in IdentityRule.objects.all()}
        return cls(settings=settings, identity_rules=rules)

    @classmethod
    def cached(cls) -> MergeRules:
        """``load()`` kept between calls until the settings or a rule change (cxhub.refdata).
        Shared: read it, never change it."""
        return refdata.cached("customers.merge_rules", cls.load)

    def rule_for(self, kind: str, namespace: str = "") -> IdentityRule:
        rule = self.identity_rules.get((kind, namespace)) or self.identity_rules.get((kind, ""))
        if rule is None:  # the defaults of a kind without a rule, built once per kind
            defaults = self.__dict__.setdefault("_defaults", {})
            rule = defaults.get((kind, namespace))
            if rule is None:
                rule = defaults[(kind, namespace)] = IdentityRule(kind=kind, namespace=namespace)
        return rule

    def field_policy(self, field: str) -> str:
        return self.settings.field_policies.get(field) or self.settings.default_field_policy


def choose_survivor(customers: list[Customer], rules: MergeRules, identity_counts=None) -> Customer:
    """The deterministic survivor among ``customers`` per the configured strategy."""
    strategy = rules.settings.survivor_strategy
    if strategy == SurvivorStrategy.NEWEST:
        return max(customers, key=lambda c: (c.created_at, c.pk))
    if strategy == SurvivorStrategy.MOST_IDENTITIES and identity_counts is not None:
        return max(customers, key=lambda c: (identity_counts.get(c.pk, 0), -c.created_at.timestamp(), -c.pk))
    return min(customers, key=lambda c: (c.created_at, c.pk))


# --- serialisation of rows for the undo record ---------------------------------


def _jsonable(value):
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return value


def serialize_rows(model, rows) -> list[dict]:
    fields = list(model._meta.concrete_fields)
    return [{f.attname: _jsonable(getattr(row, f.attname)) for f in fields} for row in rows]


def deserialize_rows(model, rows: list[dict]) -> list[models.Model]:
    fields = {f.attname: f for f in model._meta.concrete_fields}
    objs = []
    for row in rows:
        values = {}
        for name, value in row.items():
            field = fields.get(name)
            if field is None:
                continue
            values[name] = value if isinstance(field, models.JSONField) else field.to_python(value)
        objs.append(model(**values))
    return objs


def _field_snapshot(customer: Customer, names) -> dict:
    return {name: _jsonable(getattr(customer, name)) for name in names}


# --- locking -----------------------------------------------------------------


def lock_customers(ids) -> dict[int, Customer]:
    """Lock the rows in ascending id order (one statement) so concurrent merges cannot deadlock."""
    rows = Customer.objects.select_for_update().filter(pk__in=sorted(set(ids))).order_by("pk")
    return {c.pk: c for c in rows}


def share_lock_customers(ids) -> dict[int, int | None]:
    """Key-share lock the rows in ascending id order; return {id: merged_into_id}.

    Other readers and plain updates (``last_seen_at``) do not wait on it; a merge, which locks
    for update, does. (The ORM offers no FOR KEY SHARE, hence the SQL.)
    """
    ids = sorted(set(ids))
    if not ids:
        return {}
    if connection.vendor != "postgresql":  # SQLite serialises writers already
        return dict(Customer.objects.filter(pk__in=ids).values_list("pk", "merged_into_id"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, merged_into_id FROM {Customer._meta.db_table} WHERE id = ANY(%s::bigint[]) "
            "ORDER BY id FOR KEY SHARE",
            [array_literal(ids)],
        )
        return dict(cursor.fetchall())


def lock_live_pair(first_id: int, second_id: int, *, follow: bool) -> tuple[Customer, Customer] | None:
    """Lock two customers; with ``follow`` replace merged ones by their survivors (and lock those).

    Returns None when both turn out to be the same live profile.
    """
    for _ in range(20):
        locked = lock_customers([first_id, second_id])
        if first_id not in locked or second_id not in locked:
            missing = second_id if first_id in locked else first_id
            raise CustomerNotFound(f"Customer {missing} does not exist.")
        first, second = locked[first_id], locked[second_id]
        if first.merged_into_id is None and second.merged_into_id is None:
            return (first, second) if first.pk != second.pk else None
        if not follow:
            merged = first if first.merged_into_id else second
            raise AlreadyMerged(
                f"Customer {merged.pk} was merged into customer {merged.merged_into_id}.", field="other_id"
            )
        first_id = first.merged_into_id or first.pk
        second_id = second.merged_into_id or second.pk
        if first_id == second_id:
            return None
    raise AlreadyMerged("The customers keep being merged; try again.")


# --- merge ---------------------------------------------------------------------


def merge_customers(*, survivor, merged, actor=None, rule: str = "", reason: str = "") -> MergeEvent:
    """Merge ``merged`` into ``survivor``: move every related row, record how to undo it.

    Both rows are locked in id order first. Raises MergeNotAllowed for a merge with
    itself and AlreadyMerged when either profile was merged meanwhile.
    """
    survivor_pk = survivor.pk if isinstance(survivor, Customer) else int(survivor)
    merged_pk = merged.pk if isinstance(merged, Customer) else int(merged)
    if survivor_pk == merged_pk:
        raise MergeNotAllowed("A customer cannot be merged with itself.", field="other_id")
    with transaction.atomic():
        pair = lock_live_pair(survivor_pk, merged_pk, follow=False)
        assert pair is not None
        live_survivor, live_merged = pair
        return merge_locked(
            survivor=live_survivor,
            merged=live_merged,
            rules=MergeRules.load(),
            actor=actor,
            rule=rule or "manual",
            reason=reason,
        )


def merge_locked(
    *, survivor: Customer, merged: Customer, rules: MergeRules, actor=None, rule: str = "", reason: str = ""
) -> MergeEvent:
    """Merge two live, already locked profiles (callers hold the locks inside a transaction)."""
    moved: dict[str, list] = {}
    removed: dict[str, list] = {}

    identity_moved, identity_removed = _move_identities(survivor, merged, rules)
    if identity_moved:
        moved["customers.Identity.customer"] = identity_moved
    if identity_removed:
        removed["customers.Identity.customer"] = identity_removed

    for relation in _relations.values():
        moved_pks, removed_rows = _move_relation(relation, survivor.pk, merged.pk)
        if moved_pks:
            moved[relation.key] = moved_pks
        if removed_rows:
            removed[relation.key] = removed_rows

    units_added = _merge_business_units(survivor, merged)
    repointed = list(Customer.objects.filter(merged_into=merged).values_list("pk", flat=True))
    if repointed:
        Customer.objects.filter(pk__in=repointed).update(merged_into=survivor)

    changes = _apply_survivorship(survivor, merged, rules)
    merged.merged_into = survivor
    merged.save(update_fields=["merged_into", "updated_at"])
    DirtyCustomer.objects.filter(customer_id=merged.pk).delete()

    event = MergeEvent.objects.create(
        survivor=survivor,
        merged=merged,
        rule=rule[:100],
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        survivor_changes=changes,
        moved=moved,
        removed=removed,
        business_units_added=units_added,
        repointed=repointed,
    )
    pipeline.mark_dirty([survivor.pk, merged.pk], reason="merge")
    record_audit_many(
        action="customer.merge",
        customer_ids=[survivor.pk, merged.pk],
        actor=actor,
        object_type="merge_event",
        object_id=event.pk,
        detail={"survivor": survivor.pk, "merged": merged.pk},
    )
    return event


def _move_identities(survivor: Customer, merged: Customer, rules: MergeRules) -> tuple[list, list]:
    """Move the merged profile's identities, dropping those over the per-kind limit."""
    rows = list(Identity.objects.filter(customer_id__in=[survivor.pk, merged.pk]))
    survivor_counts: dict[tuple[str, str], int] = defaultdict(int)
    incoming: dict[tuple[str, str], list[Identity]] = defaultdict(list)
    for row in rows:
        if row.customer_id == survivor.pk:
            survivor_counts[(row.kind, row.namespace)] += 1
        else:
            incoming[(row.kind, row.namespace)].append(row)
    keep, drop = [], []
    for (kind, namespace), group in incoming.items():
        rule = rules.rule_for(kind, namespace)
        newest_first = rule.keep == KeepOrder.NEWEST
        group.sort(key=lambda i: (i.created_at, i.pk), reverse=newest_first)
        if rule.max_per_customer:
            room = max(0, rule.max_per_customer - survivor_counts[(kind, namespace)])
            keep.extend(group[:room])
            drop.extend(group[room:])
        else:
            keep.extend(group)
    removed = serialize_rows(Identity, drop)
    if drop:
        Identity.objects.filter(pk__in=[i.pk for i in drop]).delete()
    if keep:
        Identity.objects.filter(pk__in=[i.pk for i in keep]).update(customer=survivor)
    return sorted(i.pk for i in keep), removed


def _move_relation(relation: CustomerRelation, survivor_pk: int, merged_pk: int) -> tuple[list, list]:
    model, field = relation.model, relation.field
    column = model._meta.get_field(field).attname
    rows = model._default_manager.filter(**{column: merged_pk})
    removed: list[dict] = []
    if relation.unique_with:
        clash = model._default_manager.filter(
            **{column: survivor_pk}, **{name: OuterRef(name) for name in relation.unique_with}
        )
        duplicates = list(rows.filter(Exists(clash)))
        if duplicates:
            removed = serialize_rows(model, duplicates)
            model._default_manager.filter(pk__in=[d.pk for d in duplicates]).delete()
    pks = sorted(rows.values_list("pk", flat=True))
    if pks:
        model._default_manager.filter(**{column: merged_pk}).update(**{column: survivor_pk})
    return [_jsonable(pk) for pk in pks], removed


def _merge_business_units(survivor: Customer, merged: Customer) -> list[int]:
    through = Customer.business_units.through
    have = set(through.objects.filter(customer_id=survivor.pk).values_list("businessunit_id", flat=True))
    theirs = set(through.objects.filter(customer_id=merged.pk).values_list("businessunit_id", flat=True))
    added = sorted(theirs - have)
    if added:
        through.objects.bulk_create([through(customer_id=survivor.pk, businessunit_id=u) for u in added])
    return added


def _is_empty(value) -> bool:
    return value is None or value == "" or value == {}


def _apply_survivorship(survivor: Customer, merged: Customer, rules: MergeRules) -> dict:
    """Set the survivor's fields per the field policies; return {field: value before} for what changed."""
    ranks = rules.settings.source_ranks
    before: dict = {}
    for name in SURVIVORSHIP_FIELDS:
        mine, theirs = getattr(survivor, name), getattr(merged, name)
        if _is_empty(theirs) or mine == theirs:
            continue
        if _is_empty(mine):
            winner = theirs
        else:
            policy = rules.field_policy(name)
            if policy == FieldPolicy.SOURCE_PRIORITY:
                mine_rank = ranks.get(survivor.source, len(ranks))
                theirs_rank = ranks.get(merged.source, len(ranks))
                winner = theirs if theirs_rank < mine_rank else mine
            elif policy == FieldPolicy.MOST_RECENT:
                winner = theirs if merged.updated_at > survivor.updated_at else mine
            else:
                winner = mine
        if winner != mine:
            before[name] = _jsonable(mine)
            setattr(survivor, name, winner)
    attributes = {**merged.attributes, **survivor.attributes} if merged.attributes else survivor.attributes
    if attributes != survivor.attributes:
        before["attributes"] = survivor.attributes
        survivor.attributes = attributes
    if merged.last_seen_at and (survivor.last_seen_at is None or merged.last_seen_at > survivor.last_seen_at):
        before["last_seen_at"] = _jsonable(survivor.last_seen_at)
        survivor.last_seen_at = merged.last_seen_at
    if before:
        survivor.save(update_fields=[*before.keys(), "updated_at"])
    return before


# --- unmerge -------------------------------------------------------------------


def unmerge_customers(*, merge_event: MergeEvent, actor=None) -> Customer:
    """Undo ``merge_event``: move recorded rows back, restore deleted rows and changed fields.

    Returns the restored (formerly merged) customer. Refused when the event is already
    undone or when the survivor has since been merged into another profile.
    """
    with transaction.atomic():
        event = MergeEvent.objects.select_for_update().get(pk=merge_event.pk)
        if event.undone_at is not None:
            raise CannotUnmerge("This merge was already undone.", field="merge_event_id")
        locked = lock_customers([event.survivor_id, event.merged_id])
        survivor, merged = locked[event.survivor_id], locked[event.merged_id]
        if survivor.merged_into_id is not None:
            raise CannotUnmerge(
                f"Customer {survivor.pk} has since been merged into {survivor.merged_into_id}; "
                "undo that merge first.",
                field="merge_event_id",
            )
        if merged.merged_into_id != survivor.pk:
            raise CannotUnmerge(
                "The merged customer no longer points at the survivor.", field="merge_event_id"
            )

        for key, pks in event.moved.items():
            model, column = _relation_target(key)
            model._default_manager.filter(pk__in=pks, **{column: survivor.pk}).update(**{column: merged.pk})
        for key, rows in event.removed.items():
            model, _column = _relation_target(key)
            model._default_manager.bulk_create(deserialize_rows(model, rows), ignore_conflicts=True)
        if event.business_units_added:
            Customer.business_units.through.objects.filter(
                customer_id=survivor.pk, businessunit_id__in=event.business_units_added
            ).delete()
        if event.repointed:
            Customer.objects.filter(pk__in=event.repointed, merged_into=survivor).update(merged_into=merged)
        _restore_fields(survivor, event.survivor_changes)
        merged.merged_into = None
        merged.save(update_fields=["merged_into", "updated_at"])
        event.undone_at = timezone.now()
        event.undone_by = actor if getattr(actor, "pk", None) else None
        event.save(update_fields=["undone_at", "undone_by"])
        pipeline.mark_dirty([survivor.pk, merged.pk], reason="unmerge")
        record_audit_many(
            action="customer.unmerge",
            customer_ids=[survivor.pk, merged.pk],
            actor=actor,
            object_type="merge_event",
            object_id=event.pk,
            detail={"survivor": survivor.pk, "merged": merged.pk},
        )
    return merged


def _relation_target(key: str) -> tuple[type[models.Model], str]:
    app_label, model_name, field = key.split(".")
    model = apps.get_model(app_label, model_name)
    return model, model._meta.get_field(field).attname


def _restore_fields(customer: Customer, changes: dict) -> None:
    if not changes:
        return
    for name, value in changes.items():
        field = Customer._meta.get_field(name)
        setattr(customer, name, value if isinstance(field, models.JSONField) else field.to_python(value))
    customer.save(update_fields=[*changes.keys(), "updated_at"])
