"""The PostgreSQL batch path: COPY into a staging table, then one set-based INSERT … ON CONFLICT.

Ids are drawn from the table's sequence up front and written into the staging rows, so
``RETURNING id`` tells exactly which rows were new; the rest are duplicates of an
existing ``(source, external_id)`` (or of an earlier item in the same batch), looked up
with one join.
"""

import json
from datetime import datetime

from django.db import connection

STAGING_TABLE = "interaction_staging"
# (column, staging type): the Interaction columns a batch writes, in COPY order.
COLUMNS = (
    ("id", "bigint"),
    ("customer_id", "bigint"),
    ("channel_id", "bigint"),
    ("direction", "text"),
    ("type", "text"),
    ("occurred_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("source", "text"),
    ("external_id", "text"),
    ("business_unit_id", "bigint"),
    ("touchpoint", "text"),
    ("agent_id", "bigint"),
    ("subject", "text"),
    ("summary", "text"),
    ("outcome", "text"),
    ("value", "numeric"),
    ("currency", "text"),
    ("duration_seconds", "integer"),
    ("properties", "jsonb"),
    ("context", "jsonb"),
)
JSON_COLUMNS = {"properties", "context"}
NAMES = [name for name, _ in COLUMNS]
_COLUMN_LIST = ", ".join(NAMES)


def _ensure_staging(cursor) -> None:
    # A per-connection temp table emptied at every commit; cleared here too in case one
    # transaction ingests several batches.
    ddl = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} (ord integer, {ddl}) ON COMMIT DELETE ROWS"
    )
    cursor.execute(f"TRUNCATE {STAGING_TABLE}")


def insert_rows_postgres(rows: list[dict]) -> list[tuple[int, bool]]:
    """Insert ``rows`` set-based (caller holds the transaction); return (id, created) per row."""
    with connection.cursor() as cursor:
        _ensure_staging(cursor)
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('interactions_interaction', 'id')) "
            "FROM generate_series(1, %s)",
            [len(rows)],
        )
        ids = [pk for (pk,) in cursor.fetchall()]
        with cursor.cursor.copy(f"COPY {STAGING_TABLE} (ord, {_COLUMN_LIST}) FROM STDIN") as copy:
            for position, (pk, row) in enumerate(zip(ids, rows, strict=True)):
                values = [position, pk]
                for name in NAMES[1:]:
                    value = row.get(name)
                    values.append(json.dumps(value) if name in JSON_COLUMNS else value)
                copy.write_row(values)
        # Insert in key order so concurrent batches take index locks in the same order.
        cursor.execute(
            f"INSERT INTO interactions_interaction ({_COLUMN_LIST}) "
            f"SELECT {_COLUMN_LIST} FROM {STAGING_TABLE} ORDER BY source, external_id, ord "
            "ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING "
            "RETURNING id"
        )
        inserted = {pk for (pk,) in cursor.fetchall()}
        existing: dict[int, int] = {}
        if len(inserted) < len(rows):
            cursor.execute(
                f"SELECT s.ord, i.id FROM {STAGING_TABLE} s JOIN interactions_interaction i "
                "ON i.source = s.source AND i.external_id = s.external_id "
                "WHERE s.external_id IS NOT NULL AND NOT (s.id = ANY(%s))",
                [list(inserted)],
            )
            existing = dict(cursor.fetchall())
    return [(pk, True) if pk in inserted else (existing[position], False) for position, pk in enumerate(ids)]


def update_last_seen_postgres(seen: dict[int, datetime]) -> None:
    """Move ``last_seen_at`` forward, locking customer rows in id order (no deadlocks between batches).

    FOR NO KEY UPDATE, as the UPDATE itself takes: it does not wait on the key-share locks
    other batches hold on the same customers while they resolve identities.

    Only rows that actually move are locked and written: customer rows carry many indexes.
    """
    ids = sorted(seen)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH m AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]) AS m(customer_id, seen)), "
            "moving AS (SELECT c.id, m.seen FROM customers_customer c JOIN m ON m.customer_id = c.id "
            "  WHERE c.id = ANY(%s::bigint[]) AND (c.last_seen_at IS NULL OR c.last_seen_at < m.seen) "
            "  ORDER BY c.id FOR NO KEY UPDATE OF c) "
            "UPDATE customers_customer c SET last_seen_at = moving.seen FROM moving "
            "WHERE c.id = moving.id AND (c.last_seen_at IS NULL OR c.last_seen_at < moving.seen)",
            [ids, [seen[i] for i in ids], ids],
        )
