"""Ingesting interactions: validate items, resolve customers in bulk, insert idempotently.

One batch is one transaction. Items are validated one by one (a bad item gets an error
result and never sinks the good ones), customers are resolved for the whole batch in a
constant number of queries, then rows are inserted set-based: on PostgreSQL through a
COPY into a staging table and one ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``,
elsewhere through the ORM with the same results. ``(source, external_id)`` makes
re-sending anything harmless.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from customers.models import BusinessUnit, Customer
from customers.pipeline import mark_dirty
from customers.selectors import survivor_ids
from cxhub.db import array_literal, atomic_with_retry
from cxhub.errors import DomainError

from . import staging
from .models import Channel, Direction, Interaction
from .signals import interactions_created
from .validation import ItemError, ParsedItem, parse_item

logger = logging.getLogger("cxhub.interactions")

MAX_BATCH_ITEMS = 1000


@dataclass
class BatchResult:
    """Per-item results in input order, plus counts."""

    results: list[dict] = field(default_factory=list)
    created: int = 0
    duplicates: int = 0
    errors: int = 0

    def as_dict(self) -> dict:
        return {
            "results": self.results,
            "created": self.created,
            "duplicates": self.duplicates,
            "errors": self.errors,
        }


def default_source(client) -> str:
    """Items without a ``source`` belong to the calling client, so two clients never collide."""
    return client.name if client is not None else ""


def ingest_interactions(*, items: list[dict], client=None, agent=None) -> BatchResult:
    """Ingest raw API items (API.md shape); return one result per item, in order.

    ``client`` is the calling ApiClient (its name is the default ``source``); ``agent`` the
    user recorded as the interaction's agent.
    """
    if not isinstance(items, list):
        raise DomainError("items: must be a list.", field="items")
    if len(items) > MAX_BATCH_ITEMS:
        raise DomainError(
            f"items: at most {MAX_BATCH_ITEMS} per batch.", field="items", code="too_many_items"
        )
    now = timezone.now()
    channels = active_channels()
    units = dict(BusinessUnit.objects.values_list("code", "id"))
    source = default_source(client)
    results: list[dict | None] = [None] * len(items)
    parsed: list[tuple[int, ParsedItem]] = []
    for index, item in enumerate(items):
        try:
            parsed.append(
                (
                    index,
                    parse_item(item, channels=channels, business_units=units, default_source=source, now=now),
                )
            )
        except ItemError as exc:
            results[index] = {"index": index, "status": "error", "error": exc.as_dict()}
    # Known duplicates (a re-sent batch) are answered before any customer resolution.
    known = existing_ids({(p.row["source"], p.row["external_id"]) for _, p in parsed if p.row["external_id"]})
    if known:
        fresh = []
        for index, item in parsed:
            pk = known.get((item.row["source"], item.row["external_id"]))
            if pk is None:
                fresh.append((index, item))
            else:
                results[index] = {"index": index, "status": "duplicate", "id": pk}
        parsed = fresh
    agent_id = getattr(agent, "pk", None)

    def resolve_and_insert():
        # Re-run whole when PostgreSQL picks this batch as a deadlock victim (concurrent batches).
        prepared = []
        customer_ids = resolve_item_customers(parsed, source=source)
        for index, item in parsed:
            resolved = customer_ids[index]
            if isinstance(resolved, ItemError):
                results[index] = {"index": index, "status": "error", "error": resolved.as_dict()}
                continue
            row = dict(item.row, customer_id=resolved, agent_id=agent_id, received_at=now)
            prepared.append((index, row))
        return prepared, insert_rows([row for _, row in prepared])

    prepared, outcomes = atomic_with_retry(resolve_and_insert)
    for (index, _), (pk, created) in zip(prepared, outcomes, strict=True):
        results[index] = {"index": index, "status": "created" if created else "duplicate", "id": pk}
    batch = BatchResult(results=results)
    for result in results:
        batch.created += result["status"] == "created"
        batch.duplicates += result["status"] == "duplicate"
        batch.errors += result["status"] == "error"
    return batch


def ingest_interaction(*, item: dict, client=None, agent=None) -> tuple[Interaction, bool]:
    """Ingest one item; return (interaction, created). A bad item raises DomainError."""
    result = ingest_interactions(items=[item], client=client, agent=agent).results[0]
    if result["status"] == "error":
        error = result["error"]
        raise DomainError(error["message"], field=error.get("field"), code=error["code"])
    interaction = Interaction.objects.select_related("channel", "business_unit").get(pk=result["id"])
    return interaction, result["status"] == "created"


def active_channels() -> dict[str, int]:
    return dict(Channel.objects.filter(active=True).values_list("code", "id"))


# --- customers --------------------------------------------------------------


def resolve_identity_sets(identity_sets: Sequence[Sequence[tuple[str, str, str]]], *, source: str) -> list:
    """Resolve each identity set to a live customer id, or to an ItemError when that set cannot be."""
    if not identity_sets:
        return []
    from customers.services import resolve_customers

    try:
        with transaction.atomic():
            resolved: list = resolve_customers(identity_sets=identity_sets, source=source)
    except DomainError:
        # One set breaks the bulk call (e.g. a merge rule): resolve one by one to isolate it.
        resolved = []
        for identities in identity_sets:
            try:
                with transaction.atomic():
                    resolved.append(resolve_customers(identity_sets=[identities], source=source)[0])
            except DomainError as exc:
                resolved.append(ItemError(exc.message, field="customer", code=exc.code))
    return [r if isinstance(r, ItemError) else r.customer_id for r in resolved]


def resolve_item_customers(
    parsed: list[tuple[int, ParsedItem]], *, source: str
) -> dict[int, int | ItemError]:
    """Customer id (or error) per item index: explicit ids follow merges, identities resolve in bulk."""
    out: dict[int, int | ItemError] = {}
    explicit = {item.customer_id for _, item in parsed if item.customer_id is not None}
    live = survivor_ids(explicit) if explicit else {}
    by_identity = [(index, item.identities) for index, item in parsed if item.customer_id is None]
    resolved = resolve_identity_sets([ids for _, ids in by_identity], source=source)
    for (index, _), customer in zip(by_identity, resolved, strict=True):
        out[index] = customer
    for index, item in parsed:
        if item.customer_id is not None:
            out[index] = live.get(item.customer_id) or ItemError(
                f"customer_id: no customer {item.customer_id}.", field="customer_id", code="not_found"
            )
    return out


# --- inserting --------------------------------------------------------------


def set_based() -> bool:
    """Whether to use the PostgreSQL staging path (tests switch it off to run the ORM path on PG)."""
    return connection.vendor == "postgresql"


def insert_rows(rows: list[dict]) -> list[tuple[int, bool]]:
    """Insert validated rows (column values with customer_id) idempotently; return (id, created) per row.

    Runs inside the caller's transaction; also bumps ``last_seen_at``, marks the customers
    dirty and sends ``interactions_created`` on commit.
    """
    if not rows:
        return []
    with transaction.atomic():
        outcomes = staging.insert_rows_postgres(rows) if set_based() else _insert_rows_orm(rows)
        created = [(row, pk) for row, (pk, is_new) in zip(rows, outcomes, strict=True) if is_new]
        if created:
            _after_insert(created)
    return outcomes


def existing_ids(keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of the interactions already stored under these (source, external_id) keys, in one query."""
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        # One unique-index lookup per key; Django would prepare a parameter per external id.
        sources, external_ids = zip(*sorted(keys), strict=True)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT i.id, i.source, i.external_id FROM unnest(%s::text[], %s::text[]) AS k(s, e) "
                f"JOIN {Interaction._meta.db_table} i ON i.source = k.s AND i.external_id = k.e",
                [array_literal(sources), array_literal(external_ids)],
            )
            return {(source, external_id): pk for pk, source, external_id in cursor.fetchall()}
    by_source: dict[str, set[str]] = {}
    for source, external_id in keys:
        by_source.setdefault(source, set()).add(external_id)
    # One (source, external_id IN …) term per source, so the unique index serves the lookup.
    condition = Q()
    for source, external_ids in by_source.items():
        condition |= Q(source=source, external_id__in=external_ids)
    found = Interaction.objects.filter(condition).order_by().values_list("pk", "source", "external_id")
    return {(s, e): pk for pk, s, e in found}


def _insert_rows_orm(rows: list[dict]) -> list[tuple[int, bool]]:
    existing = existing_ids({(r["source"], r["external_id"]) for r in rows if r["external_id"] is not None})
    first_in_batch: dict[tuple[str, str], int] = {}
    new_positions, new_objects = [], []
    for position, row in enumerate(rows):
        key = (row["source"], row["external_id"])
        if row["external_id"] is not None and (key in existing or key in first_in_batch):
            continue
        if row["external_id"] is not None:
            first_in_batch[key] = position
        new_positions.append(position)
        new_objects.append(Interaction(**row))
    Interaction.objects.bulk_create(new_objects)
    new_ids = {position: obj.pk for position, obj in zip(new_positions, new_objects, strict=True)}
    outcomes = []
    for position, row in enumerate(rows):
        if position in new_ids:
            outcomes.append((new_ids[position], True))
            continue
        key = (row["source"], row["external_id"])
        outcomes.append((existing[key] if key in existing else new_ids[first_in_batch[key]], False))
    return outcomes


def _after_insert(created: list[tuple[dict, int]]) -> None:
    customer_ids = sorted({row["customer_id"] for row, _ in created})
    seen: dict[int, datetime] = {}
    for row, _ in created:
        if row["direction"] == Direction.INBOUND:
            current = seen.get(row["customer_id"])
            if current is None or row["occurred_at"] > current:
                seen[row["customer_id"]] = row["occurred_at"]
    if seen:
        update_last_seen(seen)
    mark_dirty(customer_ids, reason="interaction")
    interaction_ids = [pk for _, pk in created]
    transaction.on_commit(lambda: _announce(interaction_ids, customer_ids))


def update_last_seen(seen: dict[int, datetime]) -> None:
    """Move each customer's ``last_seen_at`` forward to the given time (never back), in one UPDATE."""
    if set_based():
        staging.update_last_seen_postgres(seen)
        return
    whens = [
        When(Q(pk=pk) & (Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=at)), then=Value(at))
        for pk, at in seen.items()
    ]
    Customer.objects.filter(pk__in=list(seen)).update(last_seen_at=Case(*whens, default=F("last_seen_at")))


def _announce(interaction_ids: list[int], customer_ids: list[int]) -> None:
    for receiver, response in interactions_created.send_robust(
        sender=Interaction, interaction_ids=interaction_ids, customer_ids=customer_ids
    ):
        if isinstance(response, Exception):
            logger.error("interactions_created receiver %r failed", receiver, exc_info=response)
