"""The PostgreSQL batch path: rows COPYed straight into the table, or through a staging table.

Ids are drawn from the table's sequence up front and written with the rows, so the caller
learns every row's id without a RETURNING per row.

The caller has already answered the (source, external_id) keys stored before the batch,
so a conflict can only come from a concurrent batch carrying the same keys. The fast path
therefore COPYs the batch's distinct rows directly into ``interactions_interaction``
inside a savepoint (COPY writes rows in bulk, several times faster than INSERT … SELECT).
Should a concurrent batch have stored one of the keys meanwhile, the COPY fails with a
unique violation, the savepoint is rolled back and the batch takes the careful path:
COPY into a staging table, then one ``INSERT … SELECT … ON CONFLICT DO NOTHING
RETURNING`` and one join to find the rows that already existed.
"""

import json
import operator

from django.db import IntegrityError, connection, transaction

from cxhub.db import array_literal, draw_ids

from .partitioning import KEY_TABLE, is_partitioned

TABLE = "interactions_interaction"
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
_ROW_VALUES = operator.itemgetter(*NAMES[1:])
_JSON_INDEXES = [index for index, name in enumerate(NAMES[1:]) if name in JSON_COLUMNS]


def _ensure_staging(cursor) -> None:
    # A per-connection temp table emptied at every commit; cleared here too in case one
    # transaction ingests several batches.
    ddl = ", ".join(f"{name} {kind}" for name, kind in COLUMNS)
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGING_TABLE} (ord integer, {ddl}) ON COMMIT DELETE ROWS"
    )
    cursor.execute(f"TRUNCATE {STAGING_TABLE}")


def _copy_values(pk: int, row: dict, position: int | None = None) -> list:
    try:
        values = list(_ROW_VALUES(row))  # one C call per row: this runs for every item
    except KeyError:  # a caller that leaves optional columns out
        values = [row.get(name) for name in NAMES[1:]]
    for index in _JSON_INDEXES:
        values[index] = json.dumps(values[index]) if values[index] else "{}"
    return ([pk] if position is None else [position, pk]) + values


def insert_rows_postgres(rows: list[dict]) -> list[tuple[int, bool]]:
    """Insert ``rows`` set-based (caller holds the transaction); return (id, created) per row."""
    # A key repeated inside the batch: its first row is stored, the others are its duplicates.
    first: dict[tuple[str, str], int] = {}
    distinct: list[int] = []
    for position, row in enumerate(rows):
        if row.get("external_id") is not None:
            key = (row["source"], row["external_id"])
            if key in first:
                continue
            first[key] = position
        distinct.append(position)
    with connection.cursor() as cursor:
        ids = draw_ids(cursor, TABLE, len(distinct))
        try:
            with transaction.atomic():  # a savepoint: a unique violation undoes only the COPY
                # Key order, as the careful path: concurrent batches take index locks alike.
                order = sorted(range(len(distinct)), key=lambda i: _sort_key(rows[distinct[i]], i))
                # (psycopg's COPY bypasses Django's cursor: map its errors to Django's here.)
                statement = f"COPY {TABLE} ({_COLUMN_LIST}) FROM STDIN"
                with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
                    for i in order:
                        copy.write_row(_copy_values(ids[i], rows[distinct[i]]))
        except IntegrityError:
            return _insert_through_staging(cursor, rows)
    return _outcomes(rows, first, dict(zip(distinct, ids, strict=True)))


def _outcomes(rows: list[dict], first: dict, stored: dict[int, int]) -> list[tuple[int, bool]]:
    outcomes = []
    for position, row in enumerate(rows):
        if position in stored:
            outcomes.append((stored[position], True))
        else:
            outcomes.append((stored[first[(row["source"], row["external_id"])]], False))
    return outcomes


def _sort_key(row: dict, position: int) -> tuple:
    return (row["source"], row["external_id"] is None, row["external_id"] or "", position)


def _insert_through_staging_now(rows: list[dict]) -> list[tuple[int, bool]]:
    """The careful path on its own (tests run every ingest case through it)."""
    with connection.cursor() as cursor:
        return _insert_through_staging(cursor, rows)


def _insert_through_staging(cursor, rows: list[dict]) -> list[tuple[int, bool]]:
    """INSERT … SELECT … ON CONFLICT DO NOTHING from a staging table: safe against any conflict."""
    _ensure_staging(cursor)
    ids = draw_ids(cursor, TABLE, len(rows))
    with cursor.cursor.copy(f"COPY {STAGING_TABLE} (ord, {_COLUMN_LIST}) FROM STDIN") as copy:
        for position, (pk, row) in enumerate(zip(ids, rows, strict=True)):
            copy.write_row(_copy_values(pk, row, position))
    if is_partitioned(cursor):
        inserted = _insert_claiming_keys(cursor)
        keys, key_id = KEY_TABLE, "interaction_id"
    else:
        # Insert in key order so concurrent batches take index locks in the same order.
        cursor.execute(
            f"INSERT INTO {TABLE} ({_COLUMN_LIST}) "
            f"SELECT {_COLUMN_LIST} FROM {STAGING_TABLE} ORDER BY source, external_id, ord "
            "ON CONFLICT (source, external_id) WHERE external_id IS NOT NULL DO NOTHING "
            "RETURNING id"
        )
        inserted = {pk for (pk,) in cursor.fetchall()}
        keys, key_id = TABLE, "id"
    existing: dict[int, int] = {}
    if len(inserted) < len(rows):
        cursor.execute(
            f"SELECT s.ord, i.{key_id} FROM {STAGING_TABLE} s JOIN {keys} i "
            "ON i.source = s.source AND i.external_id = s.external_id "
            "WHERE s.external_id IS NOT NULL AND NOT (s.id = ANY(%s))",
            [list(inserted)],
        )
        existing = dict(cursor.fetchall())
    return [(pk, True) if pk in inserted else (existing[position], False) for position, pk in enumerate(ids)]


def _insert_claiming_keys(cursor) -> set[int]:
    """The careful path on a month-partitioned table (no unique index to conflict on): claim the
    staged keys in the key table first, in key order, then insert the rows that won their key (and
    every row without one). The key table's trigger accepts keys claimed by the same ids."""
    cursor.execute(
        f"INSERT INTO {KEY_TABLE} (source, external_id, occurred_at, interaction_id) "
        f"SELECT source, external_id, occurred_at, id FROM {STAGING_TABLE} WHERE external_id IS NOT NULL "
        "ORDER BY source, external_id, ord ON CONFLICT (source, external_id) DO NOTHING "
        "RETURNING interaction_id"
    )
    claimed = [pk for (pk,) in cursor.fetchall()]
    cursor.execute(
        f"INSERT INTO {TABLE} ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {STAGING_TABLE} "
        "WHERE external_id IS NULL OR id = ANY(%s::bigint[]) ORDER BY source, external_id, ord RETURNING id",
        [array_literal(claimed)],
    )
    return {pk for (pk,) in cursor.fetchall()}
