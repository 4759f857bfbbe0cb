"""Database helpers shared by the apps."""

import random
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypeVar

from django.db import OperationalError, connection, transaction

T = TypeVar("T")

# PostgreSQL aborts one of two transactions that deadlock (40P01) or fail to serialize (40001);
# the aborted one changed nothing and is meant to be run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}


def is_retryable(exc: BaseException) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES


def atomic_with_retry(work: Callable[[], T], *, attempts: int = 4) -> T:
    """Run ``work`` in a transaction; run it again when PostgreSQL aborted it as a deadlock victim.

    Inside an outer transaction there is nothing to retry safely, so ``work`` runs once.
    """
    if connection.in_atomic_block:
        with transaction.atomic():
            return work()
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                return work()
        except OperationalError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
            time.sleep(random.uniform(0.01, 0.05) * attempt)
    raise AssertionError("unreachable")


def array_literal(values: Iterable) -> str:
    """``values`` as one PostgreSQL array literal, to pass as a single parameter cast in SQL
    (``unnest(%s::bigint[])``).

    psycopg dumps a Python list element by element; a batch passes lists of a thousand ids or
    values several times, and one string is several times cheaper. Elements are quoted, so
    any text (ids, identity values, ISO times) is safe; NUL characters never reach here.
    """
    values = list(values)
    if all(type(value) is int for value in values):  # ids, the common case: no quoting needed
        return "{" + ",".join(map(str, values)) + "}"
    if values and all(type(value) is str for value in values):
        # Texts (keys, identity values): quoted in one join unless one needs escaping.
        flat = "".join(values)
        if "\\" not in flat and '"' not in flat:
            return '{"' + '","'.join(values) + '"}'
    return "{" + ",".join(_quoted(value) for value in values) + "}"


def _quoted(value) -> str:
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def draw_ids(cursor, table: str, count: int) -> list[int]:
    """``count`` fresh ids from ``table``'s id sequence (PostgreSQL), for rows COPYed with their ids."""
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
    )
    return [pk for (pk,) in cursor.fetchall()]
