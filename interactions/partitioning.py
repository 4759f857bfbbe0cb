"""Interactions partitioned by month on ``occurred_at`` (PostgreSQL declarative partitioning).

``convert_to_partitioned`` turns today's plain ``interactions_interaction`` into a table
partitioned by range of ``occurred_at``, one partition per calendar month (UTC) plus a DEFAULT
partition for anything outside the created months (old backfills). ``ensure_partitions`` creates
the months ahead (a beat task, daily) and ``detach_partition`` takes an old month out for archiving.

**Exact idempotency across partitions.** PostgreSQL's unique indexes on a partitioned table must
include the partition key, so ``UNIQUE (source, external_id)`` cannot exist there any more (a
``UNIQUE (source, external_id, occurred_at)`` would let the same event with another time in). The
keys move to a plain table, ``interactions_interaction_key (source, external_id) PRIMARY KEY →
(occurred_at, interaction_id)``, kept by statement-level triggers in the same statement as the rows:

- ``AFTER INSERT … REFERENCING NEW TABLE`` inserts the batch's keys (``ON CONFLICT DO NOTHING``)
  and raises ``unique_violation`` when a key belongs to another interaction — exactly what the
  unique index raised before, for every writer (ORM, COPY, INSERT … SELECT, bulk loaders). A
  concurrent batch inserting the same key waits on the first one's uncommitted key row, as it
  waited on the unique index entry before. A writer may also claim keys first (``INSERT INTO
  …_key … ON CONFLICT DO NOTHING RETURNING``) with the ids it will insert: the trigger accepts a key
  already claimed by the same interaction id.
- ``AFTER DELETE … REFERENCING OLD TABLE`` removes the deleted rows' keys; ``AFTER TRUNCATE`` empties
  the key table; a ``BEFORE UPDATE`` row trigger refuses to change ``source``, ``external_id`` or
  ``occurred_at`` (nothing in the product does; a key would otherwise point at the wrong row).

Partition keys must be in the primary key too: it becomes ``(id, occurred_at)`` (ids still come from
one sequence, so ``id`` stays unique). Foreign keys *to* interactions (journey transitions and
exceptions, processed interactions, survey responses and invitations, action audits) need a unique
constraint on the referenced columns and cannot point at ``id`` alone: the conversion drops them and
Django's ``on_delete`` handling (which Django runs itself anyway) keeps the references consistent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

from django.db import connection, transaction

TABLE = "interactions_interaction"
KEY_TABLE = "interactions_interaction_key"
DEFAULT_PARTITION = f"{TABLE}_other"
OLD_TABLE = f"{TABLE}_unpartitioned"
# The foreign keys to interactions the conversion dropped, to put back when converting back.
DROPPED_FK_TABLE = f"{TABLE}_dropped_fk"
UNIQUE_KEY_CONSTRAINT = "interaction_source_external_id_uniq"

KEY_FUNCTIONS = f"""
CREATE OR REPLACE FUNCTION {KEY_TABLE}_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    stored bigint;
    keyed bigint;
BEGIN
    INSERT INTO {KEY_TABLE} (source, external_id, occurred_at, interaction_id)
    SELECT source, external_id, occurred_at, id FROM new_rows WHERE external_id IS NOT NULL
    ORDER BY source, external_id
    ON CONFLICT (source, external_id) DO NOTHING;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF stored < (SELECT count(*) FROM new_rows WHERE external_id IS NOT NULL) AND EXISTS (
        SELECT 1 FROM new_rows n JOIN {KEY_TABLE} k ON k.source = n.source AND k.external_id = n.external_id
        WHERE k.interaction_id <> n.id
    ) THEN
        RAISE unique_violation USING
            MESSAGE = 'duplicate key value violates unique constraint "{UNIQUE_KEY_CONSTRAINT}"',
            CONSTRAINT = '{UNIQUE_KEY_CONSTRAINT}', TABLE = '{TABLE}';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION {KEY_TABLE}_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {KEY_TABLE} k USING old_rows o
    WHERE o.external_id IS NOT NULL AND k.source = o.source AND k.external_id = o.external_id
      AND k.interaction_id = o.id;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION {KEY_TABLE}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {KEY_TABLE};
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION {TABLE}_immutable_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'source, external_id and occurred_at of an interaction do not change (id %)', OLD.id
        USING ERRCODE = 'check_violation';
END $$;
"""

KEY_TRIGGERS = f"""
CREATE TRIGGER {TABLE}_keys_insert AFTER INSERT ON {TABLE}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {KEY_TABLE}_insert();
CREATE TRIGGER {TABLE}_keys_delete AFTER DELETE ON {TABLE}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {KEY_TABLE}_delete();
CREATE TRIGGER {TABLE}_keys_truncate AFTER TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION {KEY_TABLE}_truncate();
CREATE TRIGGER {TABLE}_immutable_key BEFORE UPDATE ON {TABLE} FOR EACH ROW
    WHEN (OLD.source IS DISTINCT FROM NEW.source OR OLD.external_id IS DISTINCT FROM NEW.external_id
          OR OLD.occurred_at IS DISTINCT FROM NEW.occurred_at)
    EXECUTE FUNCTION {TABLE}_immutable_key();
"""


def month_start(value: date | datetime) -> date:
    return date(value.year, value.month, 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def _utc(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def partition_name(month: date) -> str:
    return f"{TABLE}_{month:%Y_%m}"


def is_partitioned(cursor=None) -> bool:
    if connection.vendor != "postgresql":
        return False

    def check(c) -> bool:
        c.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = c.fetchone()
        return bool(row and row[0])

    if cursor is not None:
        return check(cursor)
    with connection.cursor() as c:
        return check(c)


def month_partitions(cursor) -> list[tuple[str, str]]:
    """(partition name, bound expression) of every partition, oldest first."""
    cursor.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s) ORDER BY c.relname",
        [TABLE],
    )
    return cursor.fetchall()


def _create_month(cursor, month: date) -> bool:
    name = partition_name(month)
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    if cursor.fetchone()[0]:
        return False
    following = next_month(month)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(following.year, following.month, 1, tzinfo=UTC)
    cursor.execute(f'CREATE TABLE "{name}" PARTITION OF {TABLE} FOR VALUES FROM (%s) TO (%s)', [start, end])
    return True


def ensure_partitions(*, months_ahead: int = 3, now: datetime | None = None) -> list[str]:
    """Create this month's and the next ``months_ahead`` months' partitions when missing.

    Returns the names created; nothing (and no error) when the table is not partitioned.
    """
    if not is_partitioned():
        return []
    month = month_start(now or datetime.now(UTC))
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        for _ in range(months_ahead + 1):
            if _create_month(cursor, month):
                created.append(partition_name(month))
            month = next_month(month)
    return created


def detach_partition(*, month: date, forget_keys: bool = False) -> str:
    """Detach one month's partition: it becomes a plain table (dump it, move it, drop it).

    Its keys stay in the key table unless ``forget_keys``: a re-sent event of an archived month is
    then still answered as a duplicate (of a row no longer in the table) rather than stored again.
    """
    name = partition_name(month_start(month))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending checks may remain on the table
        cursor.execute(f'ALTER TABLE {TABLE} DETACH PARTITION "{name}"')
        if forget_keys:
            cursor.execute(
                f"DELETE FROM {KEY_TABLE} WHERE occurred_at >= %s AND occurred_at < %s",
                [_utc(month_start(month)), _utc(next_month(month_start(month)))],
            )
    return name


def convert_to_partitioned(*, months_ahead: int = 3, log: Callable[[str], None] = print) -> dict:
    """Turn the plain interactions table into the month-partitioned one, data included.

    One transaction (the table is locked throughout: plan a maintenance window, about a minute
    per few million rows on modest hardware); run inside ``transaction.atomic`` by the caller or
    alone. Returns what it did: partitions created, rows copied, foreign keys dropped.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if is_partitioned(cursor):
            raise RuntimeError(f"{TABLE} is already partitioned")
        # Deferred foreign-key checks of rows written earlier in the caller's transaction must run
        # before the table's definition may change.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(
            "SELECT conname, conrelid::regclass::text FROM pg_constraint "
            "WHERE confrelid = to_regclass(%s) AND contype = 'f'",
            [TABLE],
        )
        referencing = cursor.fetchall()
        cursor.execute(
            f"CREATE TABLE {DROPPED_FK_TABLE} (name text PRIMARY KEY, table_name text NOT NULL, "
            "definition text NOT NULL)"
        )
        cursor.execute(
            f"INSERT INTO {DROPPED_FK_TABLE} "
            "SELECT conname, conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE confrelid = to_regclass(%s) AND contype = 'f'",
            [TABLE],
        )
        for name, table in referencing:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            log(f"dropped foreign key {name} of {table} (partitioned rows cannot be referenced by id)")
        indexes, foreign_keys = _definitions(cursor)
        cursor.execute(f"SELECT last_value FROM {_sequence(cursor)}")
        last_id = cursor.fetchone()[0]
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD_TABLE}")
        for name in [*indexes, *foreign_keys]:
            cursor.execute(f'ALTER TABLE {OLD_TABLE} DROP CONSTRAINT IF EXISTS "{name}"')
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute(f'ALTER TABLE {OLD_TABLE} DROP CONSTRAINT IF EXISTS "{TABLE}_pkey"')
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING IDENTITY INCLUDING STORAGE) PARTITION BY RANGE (occurred_at)"
        )
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id, occurred_at)")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id RESTART WITH {int(last_id or 0) + 1}")
        cursor.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF {TABLE} DEFAULT")
        # A partition for every month that has rows (gaps stay gaps), this month and the months ahead.
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date FROM {OLD_TABLE}"
        )
        with_rows = sorted(month for (month,) in cursor.fetchall())
        months = set(with_rows)
        month = month_start(datetime.now(UTC))
        for _ in range(months_ahead + 1):
            months.add(month)
            month = next_month(month)
        months = sorted(months)
        for month in months:
            _create_month(cursor, month)
        cursor.execute(
            f"CREATE TABLE {KEY_TABLE} (source varchar(100) NOT NULL, external_id varchar(200) NOT NULL, "
            "occurred_at timestamptz NOT NULL, interaction_id bigint NOT NULL, "
            "PRIMARY KEY (source, external_id))"
        )
        cursor.execute(KEY_FUNCTIONS)
        cursor.execute(KEY_TRIGGERS)
        copied = 0
        for month in with_rows:  # a month per statement: the key trigger sees one month's rows at a time
            cursor.execute(
                f"INSERT INTO {TABLE} SELECT * FROM {OLD_TABLE} WHERE occurred_at >= %s AND occurred_at < %s",
                [_utc(month), _utc(next_month(month))],
            )
            copied += cursor.rowcount
            log(f"{partition_name(month)}: {cursor.rowcount:,} rows")
        cursor.execute(f"SELECT count(*) FROM {OLD_TABLE}")
        if cursor.fetchone()[0] != copied:
            raise RuntimeError("rows were left behind; nothing was changed")  # the transaction rolls back
        # Indexes and foreign keys after the data: one bulk build and one validating query each.
        for definition in indexes.values():
            cursor.execute(definition)
        for name, definition in foreign_keys.items():
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(f"DROP TABLE {OLD_TABLE}")
        cursor.execute(f"ANALYZE {TABLE}")
    log(f"{TABLE}: {copied:,} rows in {len(months)} month partitions (+ {DEFAULT_PARTITION})")
    return {
        "rows": copied,
        "months": [partition_name(m) for m in months],
        "dropped_foreign_keys": referencing,
    }


def convert_to_plain(*, log: Callable[[str], None] = print) -> dict:
    """The way back: one plain table with ``UNIQUE (source, external_id)`` again, the foreign keys
    to it restored, the key table and its triggers gone. One transaction, like the conversion."""
    with transaction.atomic(), connection.cursor() as cursor:
        if not is_partitioned(cursor):
            raise RuntimeError(f"{TABLE} is not partitioned")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        indexes, foreign_keys = _definitions(cursor)
        cursor.execute(f"SELECT last_value FROM {_sequence(cursor)}")
        last_id = cursor.fetchone()[0]
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {OLD_TABLE}")
        for name in foreign_keys:
            cursor.execute(f'ALTER TABLE {OLD_TABLE} DROP CONSTRAINT "{name}"')
        for name in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f'ALTER TABLE {OLD_TABLE} DROP CONSTRAINT "{TABLE}_pkey"')
        cursor.execute(
            f"CREATE TABLE {TABLE} (LIKE {OLD_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING IDENTITY INCLUDING STORAGE)"
        )
        cursor.execute(f"INSERT INTO {TABLE} SELECT * FROM {OLD_TABLE}")
        copied = cursor.rowcount
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN id RESTART WITH {int(last_id or 0) + 1}")
        cursor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {TABLE}_pkey PRIMARY KEY (id)")
        cursor.execute(
            f'CREATE UNIQUE INDEX "{UNIQUE_KEY_CONSTRAINT}" ON {TABLE} (source, external_id) '
            "WHERE external_id IS NOT NULL"
        )
        for definition in indexes.values():
            cursor.execute(definition.replace(" ON ONLY ", " ON "))
        for name, definition in foreign_keys.items():
            cursor.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(f"DROP TABLE {OLD_TABLE} CASCADE")
        cursor.execute(f"DROP TABLE {KEY_TABLE}")
        for function in ("insert", "delete", "truncate"):
            cursor.execute(f"DROP FUNCTION {KEY_TABLE}_{function}()")
        cursor.execute(f"DROP FUNCTION {TABLE}_immutable_key()")
        cursor.execute(f"SELECT name, table_name, definition FROM {DROPPED_FK_TABLE}")
        restored = cursor.fetchall()
        for name, table, definition in restored:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(f"DROP TABLE {DROPPED_FK_TABLE}")
        cursor.execute(f"ANALYZE {TABLE}")
    log(f"{TABLE}: {copied:,} rows in one plain table; {len(restored)} foreign keys to it restored")
    return {"rows": copied, "restored_foreign_keys": [name for name, _, _ in restored]}


def _sequence(cursor) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TABLE])
    return cursor.fetchone()[0]


def _definitions(cursor) -> tuple[dict[str, str], dict[str, str]]:
    """The table's secondary indexes (CREATE INDEX statements) and outgoing foreign keys, by name.

    The primary key and the (source, external_id) unique constraint are left out: both change.
    """
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass(%s) AND NOT x.indisprimary AND i.relname <> %s",
        [TABLE, UNIQUE_KEY_CONSTRAINT],
    )
    indexes = dict(cursor.fetchall())
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) "
        "AND contype = 'f'",
        [TABLE],
    )
    return indexes, dict(cursor.fetchall())
