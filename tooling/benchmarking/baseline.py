"""Raw PostgreSQL for baselines: a plain psycopg connection, scratch tables, COPY, bare queries."""

import io
import time
from contextlib import contextmanager

import psycopg
from django.db import connection

SCRATCH_SCHEMA = "bench_scratch"


def raw_connection() -> psycopg.Connection:
    """A psycopg connection to the same database as Django's, outside Django."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    params.pop("server_side_binding", None)
    return psycopg.connect(**params, autocommit=True)


@contextmanager
def raw_cursor():
    with raw_connection() as conn, conn.cursor() as cursor:
        yield cursor


def scratch_table_like(cursor, table: str, name: str | None = None) -> str:
    """An empty table of the same shape, defaults and indexes as ``table`` (foreign keys are not copied)."""
    name = name or f"{table}_copy"
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {SCRATCH_SCHEMA}")
    cursor.execute(f"DROP TABLE IF EXISTS {SCRATCH_SCHEMA}.{name}")
    cursor.execute(f"CREATE TABLE {SCRATCH_SCHEMA}.{name} (LIKE {table} INCLUDING ALL)")
    return f"{SCRATCH_SCHEMA}.{name}"


def drop_scratch(cursor) -> None:
    cursor.execute(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE")


def export_copy(cursor, query: str) -> bytes:
    """The rows of ``query`` in COPY text format."""
    buffer = io.BytesIO()
    with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        for block in copy:
            buffer.write(block)
    return buffer.getvalue()


def export_to_file(cursor, query: str, target) -> None:
    """Stream the rows of ``query`` in COPY text format into an open binary file."""
    with cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        for block in copy:
            target.write(block)
    target.flush()
    target.seek(0)


def copy_file_in(cursor, table: str, columns: str, source, block_size: int = 8 << 20) -> float:
    """Seconds to COPY a COPY-text file into ``table`` (read in blocks; large tables stay off the heap)."""
    started = time.perf_counter()
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        while block := source.read(block_size):
            copy.write(block)
    return time.perf_counter() - started


def copy_in(cursor, table: str, data: bytes) -> float:
    """Seconds to COPY ``data`` (COPY text) into ``table``, in one statement."""
    started = time.perf_counter()
    with cursor.copy(f"COPY {table} FROM STDIN") as copy:
        copy.write(data)
    return time.perf_counter() - started


def split_lines(data: bytes, size: int) -> list[bytes]:
    """COPY text split into blocks of ``size`` rows (COPY text escapes newlines inside values)."""
    lines = data.splitlines(keepends=True)
    return [b"".join(lines[i : i + size]) for i in range(0, len(lines), size)]


def run_queries(cursor, statements: list[str]) -> float:
    """Seconds to run ``statements`` one by one (results fetched), as the page's queries ran."""
    started = time.perf_counter()
    for sql in statements:
        cursor.execute(sql)
        if cursor.description is not None:
            cursor.fetchall()
    return time.perf_counter() - started
