"""Writing interactions: ``record_interactions``, the one writer every app calls, and ingest.

``record_interactions`` stores rows for already-resolved customers idempotently and does
what every new interaction needs (last-seen, dirty marks, ``interactions_created``). Ingest
sits on top of it.

One ingest batch is one transaction. Items are validated one by one (a bad item gets an
error result and never sinks the good ones), customers are resolved for the whole batch in
a constant number of queries, then rows are inserted set-based: on PostgreSQL COPYed
straight into the table (``staging``), elsewhere through the ORM with the same results.
``(source, external_id)`` makes re-sending anything harmless.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from customers.pipeline import mark_dirty
from customers.selectors import business_unit_ids, erased_ids, survivor_ids
from customers.services import record_last_seen, resolve_customers
from cxhub import refdata
from cxhub.db import array_literal, atomic_with_retry
from cxhub.errors import DomainError
from cxhub.gcpause import collector_paused

from . import staging
from .models import Channel, Direction, Interaction
from .partitioning import KEY_TABLE, is_partitioned
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
    # Channels, units, merge rules and the block list as of one version check (cxhub.refdata).
    with collector_paused(), refdata.pinned():  # collector: tens of thousands of short-lived objects
        return _ingest_interactions(items, client, agent)


def _ingest_interactions(items: list[dict], client, agent) -> BatchResult:
    if not isinstance(items, list):
        raise DomainError("items: must be a list.", field="items")
    if len(items) > MAX_BATCH_ITEMS:
        raise DomainError(
            f"items: at most {MAX_BATCH_ITEMS} per batch.", field="items", code="too_many_items"
        )
    now = timezone.now()
    channels = active_channels()
    units = business_unit_ids()
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
        return prepared, _store([row for _, row in prepared])

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
    """Active channels' ids by code, kept between calls until a channel changes (cxhub.refdata).
    Shared: read it, never change it."""
    return refdata.cached(
        "interactions.active_channels",
        lambda: dict(Channel.objects.filter(active=True).values_list("code", "id")),
    )


# --- customers --------------------------------------------------------------


def resolve_identity_sets(identity_sets: Sequence[Sequence[tuple[str, str, str]]], *, source: str) -> list:
    """Resolve each identity set to a live customer id, or to an ItemError when that set cannot be."""
    if not identity_sets:
        return []
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
    erased = erased_ids(live.values()) if live else set()
    by_identity = [(index, item.identities) for index, item in parsed if item.customer_id is None]
    resolved = resolve_identity_sets([ids for _, ids in by_identity], source=source)
    for (index, _), customer in zip(by_identity, resolved, strict=True):
        out[index] = customer
    for index, item in parsed:
        if item.customer_id is not None:
            out[index] = live.get(item.customer_id) or ItemError(
                f"customer_id: no customer {item.customer_id}.", field="customer_id", code="not_found"
            )
            if out[index] in erased:  # nothing new may gather on a tombstone
                message = f"customer_id: customer {item.customer_id} was erased."
                out[index] = ItemError(message, field="customer_id", code="erased")
    return out


# --- recording: the one writer of interaction rows -------------------------------------


class RecordedInteraction(NamedTuple):
    """What became of one row given to ``record_interactions``."""

    id: int
    created: bool  # False: a row with the same (source, external_id) was already stored


# Columns every row must give; the others default as below.
REQUIRED_COLUMNS = frozenset({"customer_id", "channel_id", "direction", "type", "occurred_at", "source"})
OPTIONAL_COLUMNS = {
    "external_id": None,
    "received_at": None,  # now
    "business_unit_id": None,
    "touchpoint": "",
    "agent_id": None,
    "subject": "",
    "summary": "",
    "outcome": "",
    "value": None,
    "currency": "",
    "duration_seconds": None,
    "properties": None,  # {}
    "context": None,  # {}
}
_ALL_COLUMNS = REQUIRED_COLUMNS | OPTIONAL_COLUMNS.keys()


def set_based() -> bool:
    """Whether to use the PostgreSQL COPY path (tests switch it off to run the ORM path on PG)."""
    return connection.vendor == "postgresql"


def record_interactions(
    *, rows: Sequence[Mapping[str, Any]], dirty_reason: str = "interaction"
) -> list[RecordedInteraction]:
    """Store interactions for already-resolved customers; one result per row, in order.

    The only way rows get into ``interactions_interaction``: ingest, tracking, journeys,
    surveys and outbound messages all call it. Each row maps Interaction columns to values:
    ``customer_id`` (a live customer), ``channel_id``, ``direction``, ``type``,
    ``occurred_at``, ``source`` are required; ``external_id`` (None: always a new row),
    ``received_at`` (default now), ``subject``, ``summary``, ``properties``, ... are optional.

    Idempotent and race-free on ``(source, external_id)``: a key already stored, or stored
    by a concurrent transaction meanwhile, or repeated inside ``rows``, gives
    ``created=False`` and the stored row's id. In the caller's transaction it also moves
    ``last_seen_at`` forward for customers with new *inbound* rows, marks the customers
    dirty (``dirty_reason``) and, on commit, sends ``interactions_created``.
    """
    if not rows:
        return []
    complete = [_complete(row) for row in rows]
    return [RecordedInteraction(pk, is_new) for pk, is_new in _store(complete, dirty_reason)]


def _store(rows: list[dict], dirty_reason: str = "interaction") -> list[tuple[int, bool]]:
    """``record_interactions`` for rows that already hold every column (ingest and tracking
    build them so): no per-row completion on the hot path; (id, created) tuples."""
    if not rows:
        return []
    with transaction.atomic():
        outcomes = staging.insert_rows_postgres(rows) if set_based() else _insert_rows_orm(rows)
        created = [(row, pk) for row, (pk, is_new) in zip(rows, outcomes, strict=True) if is_new]
        if created:
            _after_insert(created, dirty_reason)
    return outcomes


def record_interaction(*, dirty_reason: str = "interaction", **row: Any) -> RecordedInteraction:
    """``record_interactions`` for one row given as keyword arguments."""
    return record_interactions(rows=[row], dirty_reason=dirty_reason)[0]


def _complete(row: Mapping[str, Any]) -> dict:
    """The row with every column present and defaults filled in."""
    if row.keys() == _ALL_COLUMNS:
        complete = row
    else:
        missing = REQUIRED_COLUMNS - row.keys()
        if missing:
            raise ValueError(f"interaction rows need {', '.join(sorted(missing))}")
        unknown = row.keys() - _ALL_COLUMNS
        if unknown:
            raise ValueError(f"unknown interaction columns: {', '.join(sorted(unknown))}")
        complete = {**OPTIONAL_COLUMNS, **row}
    if complete["received_at"] is None or complete["properties"] is None or complete["context"] is None:
        complete = dict(complete)
        complete["received_at"] = complete["received_at"] or timezone.now()
        complete["properties"] = complete["properties"] or {}
        complete["context"] = complete["context"] or {}
    return complete


def existing_ids(keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of the interactions already stored under these (source, external_id) keys, in one query."""
    if not keys:
        return {}
    if connection.vendor == "postgresql":
        # One unique-index lookup per key; Django would prepare a parameter per external id.
        sources, external_ids = zip(*sorted(keys), strict=True)
        with connection.cursor() as cursor:
            # A month-partitioned table keeps its keys in a table of their own (interactions.partitioning).
            table, pk = (
                (KEY_TABLE, "interaction_id")
                if is_partitioned(cursor)
                else (Interaction._meta.db_table, "id")
            )
            cursor.execute(
                f"SELECT i.{pk}, i.source, i.external_id FROM unnest(%s::text[], %s::text[]) AS k(s, e) "
                f"JOIN {table} i ON i.source = k.s AND i.external_id = k.e",
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


def _after_insert(created: list[tuple[dict, int]], dirty_reason: str) -> None:
    customer_ids = sorted({row["customer_id"] for row, _ in created})
    seen: dict[int, datetime] = {}
    for row, _ in created:
        if row["direction"] == Direction.INBOUND:
            current = seen.get(row["customer_id"])
            if current is None or row["occurred_at"] > current:
                seen[row["customer_id"]] = row["occurred_at"]
    if seen:
        record_last_seen(seen=seen)
    mark_dirty(customer_ids, reason=dirty_reason)
    interaction_ids = [pk for _, pk in created]
    transaction.on_commit(lambda: _announce(interaction_ids, customer_ids))


def _announce(interaction_ids: list[int], customer_ids: list[int]) -> None:
    for receiver, response in interactions_created.send_robust(
        sender=Interaction, interaction_ids=interaction_ids, customer_ids=customer_ids
    ):
        if isinstance(response, Exception):
            logger.error("interactions_created receiver %r failed", receiver, exc_info=response)
