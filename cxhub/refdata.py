"""Reference tables kept in memory between requests, reloaded when they change.

Ingest reads the same small tables for every batch: active channels, business units, the
merge settings and identity rules, the block list. ``cached(name, loader)`` keeps what
``loader`` returned with the reference-data version it was loaded under, and calls it again
once the version has moved. The version is one row (``cxhub.ReferenceDataVersion``) that a
trigger on each watched table sets to a fresh value in the changing transaction — so every
writer invalidates it (admin, ``QuerySet.update()``, raw SQL, a migration), in every process,
as soon as the change commits. A fresh value rather than ``version + 1``: a change rolled back
must not leave a cached copy that a later change reuses under the same number.

One version check costs one query; ``pinned()`` makes a block (one ingest batch) check once
for all its lookups. The version is read before any loader runs, so a change committed in
between is loaded under the older version and reloaded on the next check, never missed.
Cached values are shared: callers must not change them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from django.db import connection

T = TypeVar("T")

VERSION_TABLE = "cxhub_referencedataversion"
_SEQUENCE = "cxhub_reference_data_seq"
_FUNCTION = "cxhub_reference_data_changed"

_cache: dict[str, tuple[int, Any]] = {}
# (version,) while pinned; the version is None when the row is missing (nothing is cached then).
_pinned: ContextVar[tuple[int | None] | None] = ContextVar("refdata_pinned", default=None)


def current_version() -> int | None:
    """The reference-data version now (None before any has been recorded, e.g. after a flush)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version FROM {VERSION_TABLE} WHERE id = 1")
        row = cursor.fetchone()
    return row[0] if row else None


@contextmanager
def pinned() -> Iterator[None]:
    """Read the version once for every ``cached`` lookup inside the block (nested blocks reuse it)."""
    if _pinned.get() is not None:
        yield
        return
    token = _pinned.set((current_version(),))
    try:
        yield
    finally:
        _pinned.reset(token)


def cached(name: str, loader: Callable[[], T]) -> T:
    """``loader()``, loaded again only when the reference data changed since it was kept."""
    pin = _pinned.get()
    version = pin[0] if pin is not None else current_version()
    if version is None:
        return loader()
    kept = _cache.get(name)
    if kept is not None and kept[0] == version:
        return kept[1]
    value = loader()
    _cache[name] = (version, value)
    return value


def forget() -> None:
    """Drop every kept value (tests; the version check alone keeps them correct)."""
    _cache.clear()


# --- the triggers, for migrations ----------------------------------------------------------


def create_version_sql(vendor: str) -> list[str]:
    """The version row's bump: a function on PostgreSQL, nothing more needed on SQLite."""
    if vendor != "postgresql":
        return []
    return [
        f"CREATE SEQUENCE IF NOT EXISTS {_SEQUENCE}",
        f"CREATE OR REPLACE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, nextval('{_SEQUENCE}')) "
        "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version; RETURN NULL; END $$",
    ]


def first_version_sql(vendor: str) -> str:
    """The version row, with a value no trigger will give again."""
    if vendor == "postgresql":
        return f"INSERT INTO {VERSION_TABLE} VALUES (1, nextval('{_SEQUENCE}')) ON CONFLICT DO NOTHING"
    return f"INSERT OR IGNORE INTO {VERSION_TABLE} (id, version) VALUES (1, random())"


def drop_version_sql(vendor: str) -> list[str]:
    if vendor != "postgresql":
        return []
    return [f"DROP FUNCTION IF EXISTS {_FUNCTION}()", f"DROP SEQUENCE IF EXISTS {_SEQUENCE}"]


def watch_table_sql(table: str, vendor: str) -> list[str]:
    """Statements that make every change to ``table`` move the reference-data version."""
    if vendor == "postgresql":
        return [
            f"CREATE TRIGGER {table}_reference_data AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
        ]
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER {table}_reference_data_{operation.lower()} AFTER {operation} ON {table} "
            f"BEGIN INSERT INTO {VERSION_TABLE} (id, version) VALUES (1, random()) "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version; END"
            for operation in ("INSERT", "UPDATE", "DELETE")
        ]
    raise NotImplementedError(f"reference-data triggers for {vendor}")


def unwatch_table_sql(table: str, vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_reference_data ON {table}"]
    return [
        f"DROP TRIGGER IF EXISTS {table}_reference_data_{operation}"
        for operation in ("insert", "update", "delete")
    ]


def watch_tables(*tables: str):
    """A migration operation: triggers on ``tables`` (reversible)."""
    from django.db import migrations

    def forward(apps, schema_editor):
        for table in tables:
            for statement in watch_table_sql(table, schema_editor.connection.vendor):
                schema_editor.execute(statement)

    def backward(apps, schema_editor):
        for table in tables:
            for statement in unwatch_table_sql(table, schema_editor.connection.vendor):
                schema_editor.execute(statement)

    return migrations.RunPython(forward, backward)
