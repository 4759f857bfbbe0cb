"""Identity resolution, step 2: deciding, in memory, what each identity set resolves to.

Attach to the one profile found, create one when none is, or merge several under the
merge rules (``customers.merging.MergeRules``): which kinds may merge, limits per kind and
per value so a shared family email cannot collapse many profiles.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count
from django.db.models.base import ModelState
from django.db.models.signals import post_init

from ..merging import MergeRules, choose_survivor, lock_customers, merge_locked, share_lock_customers
from ..models import Customer, Identity
from ..selectors import survivor_ids
from .lookup import LOOKUP_FIELDS, IdentityKey, blocked_values, identities_with_values


@dataclass
class Outcome:
    """What one identity set resolved to (a placeholder id < 0 for a profile still to be created)."""

    target: int
    created: bool
    merged_ids: list[int] = field(default_factory=list)
    # Identities of the set that were not attached, with why: "blocked" (a blocked value) or
    # "over_limit" (the profile holds as many values of that kind as the rules allow).
    not_attached: list[tuple[IdentityKey, str]] = field(default_factory=list)


class BatchResolver:
    """One batch: identities looked up once, customers locked once, writes in bulk at the end.

    Targets are customer ids; a profile still to be created is a negative placeholder id.
    """

    def __init__(self, *, source: str, actor):
        self.source = source[:50]
        self.actor = actor
        self.rules = MergeRules.cached()
        self.blocklist = blocked_values()
        self.alias: dict[int, int] = {}
        self.owner: dict[IdentityKey, int] = {}
        self.rows: dict[IdentityKey, dict] = {}
        self.customers: dict[int, Customer] = {}
        self.new_customers: dict[int, Customer] = {}
        self.counts: dict[tuple[int, str, str], int] = defaultdict(int)
        self.pending_identities: list[tuple[IdentityKey, int]] = []
        self.to_flag: set[int] = set()
        self.merge_counted: set[int] = set()
        self.changed: set[int] = set()
        self.traits: list[tuple[int, tuple[dict, dict]]] = []  # in input order
        self._blank: Customer | bool | None = None

    def _new_customer(self) -> Customer:
        """``Customer(source=self.source)``, copied from one built per batch (a fifth of the batch's
        resolution time went into ``Model.__init__`` for a 20%-new batch). Only the ``attributes``
        default is mutable; the copy gets its own, and its own state."""
        if self._blank is None:
            self._blank = Customer(source=self.source)
            if post_init.has_listeners(Customer):  # someone watches instances being built
                self._blank = False
        if self._blank is False:
            return Customer(source=self.source)
        customer = Customer.__new__(Customer)
        customer.__dict__.update(self._blank.__dict__)
        customer._state = ModelState()
        customer.attributes = {}
        return customer

    def find(self, target: int) -> int:
        while target in self.alias:
            target = self.alias[target]
        return target

    # -- loading ------------------------------------------------------------------
    def load(self, keys: set[IdentityKey], sets: list[tuple[list[IdentityKey], bool]]) -> None:
        """Look the identities up; lock the profiles this batch may write, share-lock the rest.

        ``sets`` is every identity set with whether it brings traits. Profiles that may gain
        an identity, traits or a merge are locked for update (full rows, in id order); those
        only referred to get a key-share lock, which concurrent batches do not wait on but a
        merge does, so an interaction is never filed under a profile being merged away.
        """
        values = {value for _, _, value in keys}
        if not values:
            return
        for row in identities_with_values(values, LOOKUP_FIELDS):
            key = (row["kind"], row["namespace"], row["value"])
            if key in keys:
                self.rows[key] = row
                self.owner[key] = row["customer_id"]
        owners = set(self.owner.values())
        if not owners:
            return
        writes = self._written_owners(sets)
        self.customers = lock_customers(writes)
        shared = share_lock_customers(owners - writes)
        stale = {pk: c.merged_into_id for pk, c in self.customers.items() if c.merged_into_id is not None}
        stale.update({pk: merged_into for pk, merged_into in shared.items() if merged_into is not None})
        if stale:  # identities left on a merged profile (e.g. by a concurrent merge): use the survivor
            live = survivor_ids(stale)
            self.customers.update(lock_customers(set(live.values()) - set(self.customers)))
            for pk, survivor in live.items():
                if survivor != pk:
                    self.alias[pk] = survivor
        if not self.customers:
            return
        counted = (
            Identity.objects.filter(customer_id__in=list(self.customers))
            .values("customer_id", "kind", "namespace")
            .annotate(n=Count("pk"))
        )
        for row in counted:
            self.counts[(row["customer_id"], row["kind"], row["namespace"])] = row["n"]

    def _written_owners(self, sets: list[tuple[list[IdentityKey], bool]]) -> set[int]:
        """Owners of known identities that a set may attach to, set traits on or merge.

        Decided before any lock from what the lookup found; a profile whose identity only
        becomes known later in the batch was attached by an earlier set, so it is in here.
        """
        written: set[int] = set()
        for keys, has_traits in sets:
            owners = {self.owner[k] for k in keys if k in self.owner}
            if owners and (len(owners) > 1 or has_traits or self._brings_new(keys)):
                written |= owners
        return written

    def _brings_new(self, keys: list[IdentityKey]) -> bool:
        return any(k not in self.owner and not self.blocklist.blocks(k[0], k[2]) for k in keys)

    def _recount(self, customer_id: int) -> None:
        for key in [k for k in self.counts if k[0] == customer_id]:
            del self.counts[key]
        for row in (
            Identity.objects.filter(customer_id=customer_id)
            .values("kind", "namespace")
            .annotate(n=Count("pk"))
        ):
            self.counts[(customer_id, row["kind"], row["namespace"])] = row["n"]

    # -- one identity set -----------------------------------------------------------
    def resolve_set(self, keys: list[IdentityKey], traits: tuple[dict, dict] | None) -> Outcome:
        keys = list(dict.fromkeys(keys))
        blocked = [k for k in keys if self.blocklist.blocks(k[0], k[2])]
        keys = [k for k in keys if k not in blocked]
        known = [(k, self.find(self.owner[k])) for k in keys if k in self.owner]
        unflagged = [(k, t) for k, t in known if not self._flagged(k)]
        candidates = unflagged or known
        targets = list(dict.fromkeys(t for _, t in candidates))
        outcome: Outcome
        if not targets:
            placeholder = -(len(self.new_customers) + 1)
            self.new_customers[placeholder] = self._new_customer()
            outcome = Outcome(target=placeholder, created=True)
        elif len(targets) == 1:
            outcome = Outcome(target=targets[0], created=False)
        else:
            anchor = min(candidates, key=lambda kt: self._trust(kt))[1]
            merged_ids = self._merge_eligible(unflagged)
            outcome = Outcome(target=self.find(anchor), created=False, merged_ids=merged_ids)
        target = outcome.target
        outcome.not_attached = [(key, "blocked") for key in blocked]
        for key in keys:
            if key not in self.owner and not self._attach(key, target):
                outcome.not_attached.append((key, "over_limit"))
        if traits and (traits[0] or traits[1]):
            self.traits.append((target, traits))
        return outcome

    def _flagged(self, key: IdentityKey) -> bool:
        row = self.rows.get(key)
        return bool(row and (row["is_flagged"] or row["pk"] in self.to_flag))

    def _trust(self, key_target: tuple[IdentityKey, int]):
        (kind, namespace, _), target = key_target
        # Most trusted kind first; then existing profiles before new ones, oldest id first.
        return (self.rules.rule_for(kind, namespace).priority, target < 0, abs(target))

    def _merge_eligible(self, matches: list[tuple[IdentityKey, int]]) -> list[int]:
        """Merge the profiles matched by auto-merge identities under their value limit."""
        eligible: list[tuple[IdentityKey, int]] = []
        for key, target in matches:
            rule = self.rules.rule_for(key[0], key[1])
            if not rule.auto_merge:
                continue
            row = self.rows.get(key)
            if row and rule.max_merges_per_value and row["merge_count"] >= rule.max_merges_per_value:
                self.to_flag.add(row["pk"])  # a shared value: flag it instead of merging more profiles
                continue
            eligible.append((key, target))
        group = list(dict.fromkeys(self.find(t) for _, t in eligible))
        if len(group) < 2 or not self.rules.settings.auto_merge_enabled:
            return []
        real = [t for t in group if t > 0]
        placeholders = [t for t in group if t < 0]
        if not real:
            keep = max(placeholders)  # the earliest placeholder (-1 before -2)
            for p in placeholders:
                if p != keep:
                    self.alias[p] = keep
            return []
        survivor = choose_survivor([self.customers[t] for t in real], self.rules, self._identity_totals(real))
        for p in placeholders:
            self.alias[p] = survivor.pk
            self.changed.add(survivor.pk)
        merged_ids = []
        kinds = sorted({k[0] for k, _ in eligible})
        for other in real:
            if other == survivor.pk:
                continue
            merge_locked(
                survivor=survivor,
                merged=self.customers[other],
                rules=self.rules,
                actor=self.actor,
                rule=f"auto:{'+'.join(kinds)}",
                reason=f"Resolved{' from ' + self.source if self.source else ''}: shared {', '.join(kinds)}",
            )
            self.alias[other] = survivor.pk
            merged_ids.append(other)
        self._recount(survivor.pk)
        for key, _ in eligible:
            row = self.rows.get(key)
            if row and row["pk"] not in self.merge_counted:
                self.merge_counted.add(row["pk"])
                row["merge_count"] += 1
        self.changed.add(survivor.pk)
        return merged_ids

    def _identity_totals(self, customer_ids: list[int]) -> dict[int, int]:
        totals: dict[int, int] = defaultdict(int)
        for (customer_id, _, _), n in self.counts.items():
            if customer_id in customer_ids:
                totals[customer_id] += n
        return totals

    def _attach(self, key: IdentityKey, target: int) -> bool:
        """Attach ``key`` to ``target`` unless the profile already holds as many values of its
        kind as allowed; False then (reported to the caller and on the data-quality page)."""
        kind, namespace, _ = key
        rule = self.rules.rule_for(kind, namespace)
        if rule.max_per_customer and self.counts[(target, kind, namespace)] >= rule.max_per_customer:
            return False
        self.counts[(target, kind, namespace)] += 1
        self.owner[key] = target
        self.pending_identities.append((key, target))
        return True
