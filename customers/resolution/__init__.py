"""Identity resolution: many identity sets resolved with a constant number of queries.

The entry points for other modules are ``customers.services.resolve_customers`` /
``resolve_customer``; this package is their engine, in three steps:

- ``lookup``: normalised identity keys, the block list, every identity looked up in one query;
- ``policy``: ``BatchResolver`` locks the matched profiles once (ascending id) and decides in
  memory, per set, attach / create / merge under the merge rules;
- ``writer``: the batch's decisions written in bulk (``flush``), plus the bulk writers
  ``create_customers`` and ``insert_identities`` (many customers' own field values are written with
  ``cxhub.db.bulk_write``).
"""

from __future__ import annotations

from django.db import transaction

from .lookup import IdentityKey, as_identity_key, identities_with_values
from .policy import BatchResolver
from .writer import (
    TRAIT_FIELDS,
    Resolution,
    create_customers,
    denormalise_contact_fields,
    flush,
    insert_identities,
    split_traits,
)

__all__ = [
    "TRAIT_FIELDS",
    "IdentityKey",
    "Resolution",
    "as_identity_key",
    "create_customers",
    "denormalise_contact_fields",
    "identities_with_values",
    "insert_identities",
    "resolve",
    "split_traits",
]


def resolve(
    identity_sets: list[list[IdentityKey]],
    *,
    source: str,
    actor,
    traits: list[tuple[dict, dict]] | None,
    schedule: bool,
) -> list[Resolution]:
    """Resolve ``identity_sets`` (one Resolution each, in order) in one transaction.

    ``traits``: one (field updates, attributes) pair per set, from ``split_traits``, or None.
    """
    if not identity_sets:
        return []
    key_sets = [[as_identity_key(k) for k in keys] for keys in identity_sets]
    all_keys = {k for keys in key_sets for k in keys}
    with transaction.atomic():
        resolver = BatchResolver(source=source, actor=actor)
        set_traits = [traits[i] if traits else None for i in range(len(key_sets))]
        brings_traits = [bool(t and (t[0] or t[1])) for t in set_traits]
        resolver.load(all_keys, list(zip(key_sets, brings_traits, strict=True)))
        outcomes = [resolver.resolve_set(keys, t) for keys, t in zip(key_sets, set_traits, strict=True)]
        return flush(resolver, outcomes, schedule=schedule)
