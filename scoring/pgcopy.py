"""Binary COPY between PostgreSQL and numpy: fixed-width rows of float8 (and int8), no per-row Python.

Reading: ``COPY (query) TO STDOUT (FORMAT binary)`` of a query whose every column is a non-null
``float8`` arrives as fixed-size tuples (a 2-byte field count, then a 4-byte length and 8 bytes per
field), which ``np.frombuffer`` reads as a big-endian structured array. NULLs must be sent as
``'NaN'::float8`` (a NULL would change a tuple's size; it is refused, not misread).

Writing: the same layout the other way, for a staging table of ``float8`` / ``int8`` columns.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"  # flags 0, no header extension
TRAILER = b"\xff\xff"
CHUNK_BYTES = 8 << 20
NOT_FIXED_WIDTH = "binary COPY: rows are not all non-null 8-byte columns (a NULL, or truncated data)"


def _row_dtype(kinds: str) -> np.dtype:
    """``kinds``: one letter per column, ``f`` float8 or ``i`` int8."""
    fields = [("count", ">i2")]
    for k, kind in enumerate(kinds):
        fields += [(f"len{k}", ">i4"), (f"v{k}", ">f8" if kind == "f" else ">i8")]
    return np.dtype(fields)


def _decode(buffer: bytes | bytearray | memoryview, dtype: np.dtype, columns: int) -> np.ndarray:
    rows = np.frombuffer(buffer, dtype=dtype)
    if len(rows) and (
        (rows["count"] != columns).any() or any((rows[f"len{k}"] != 8).any() for k in range(columns))
    ):
        raise ValueError(NOT_FIXED_WIDTH)
    out = np.empty((len(rows), columns), dtype=float)
    for k in range(columns):
        out[:, k] = rows[f"v{k}"]
    return out


def read_matrix(cursor, sql: str, params: list, columns: int) -> Iterator[np.ndarray]:
    """Chunks of ``query``'s rows as float64 matrices (its columns must all be non-null float8).

    ``cursor`` is a psycopg cursor; the parameters are bound client-side (COPY takes none).
    """
    dtype = _row_dtype("f" * columns)
    size = dtype.itemsize
    pending = bytearray()
    started = False
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)", params or None) as copy:
        for block in copy:
            pending += block
            if not started:
                if len(pending) < len(HEADER):
                    continue
                if bytes(pending[: len(SIGNATURE)]) != SIGNATURE:
                    raise ValueError("binary COPY: unexpected header")
                extension = int.from_bytes(pending[15:19], "big")
                del pending[: 19 + extension]
                started = True
            if len(pending) >= CHUNK_BYTES:
                whole = len(pending) // size * size
                yield _decode(bytes(pending[:whole]), dtype, columns)
                del pending[:whole]
    if not started:
        return
    if bytes(pending[-2:]) != TRAILER or (len(pending) - 2) % size:
        raise ValueError(NOT_FIXED_WIDTH)
    if len(pending) > 2:
        yield _decode(bytes(pending[:-2]), dtype, columns)


def encode(columns: list[np.ndarray], kinds: str) -> bytes:
    """Binary COPY data (header, rows, trailer) of equal-length columns; ``kinds`` as in ``_row_dtype``."""
    dtype = _row_dtype(kinds)
    n = len(columns[0]) if columns else 0
    rows = np.empty(n, dtype=dtype)
    rows["count"] = len(kinds)
    for k, (column, kind) in enumerate(zip(columns, kinds, strict=True)):
        rows[f"len{k}"] = 8
        rows[f"v{k}"] = np.asarray(column, dtype=float if kind == "f" else np.int64)
    return HEADER + rows.tobytes() + TRAILER
