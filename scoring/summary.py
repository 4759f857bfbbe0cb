"""The per-customer summary every score is computed from: one SQL statement, rows streamed into numpy.

Per live customer (``merged_into`` empty): purchase days before the cut-off (per UTC day, the
BTYD convention), first and last purchase day, total value and the value of the repeat days;
interactions, revenue and cost to serve inside the cost window (channel cost per interaction
plus a numeric cost property). Days are integers (days since 1970-01-01 UTC), so PostgreSQL
and SQLite return the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from django.db import connection

from . import pgcopy

COLUMNS = (
    "customer_id",
    "purchase_days",
    "first_day",
    "last_day",
    "total_value",
    "repeat_value",
    "interactions",
    "revenue",
    "cost",
)
CHUNK_ROWS = 50_000


@dataclass(frozen=True)
class SummarySpec:
    transaction_types: tuple[str, ...]
    until: datetime  # exclusive
    cost_since: datetime  # inclusive, cost window start
    value_field: str = "value"  # "value" or "properties.<key>"
    business_unit_id: int | None = None
    cost_property: str = "cost"


def db_time(moment: datetime):
    """A datetime parameter for raw SQL: as is on PostgreSQL; SQLite compares Django's stored
    UTC text (``YYYY-MM-DD HH:MM:SS[.ffffff]``), so it gets the same text."""
    if connection.vendor == "postgresql":
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _day(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"(({column} AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    return f"CAST(julianday(date({column})) - 2440587.5 AS INTEGER)"


def _json_number(column: str, key: str) -> str:
    """The numeric JSON property ``key`` of ``column``, 0 when absent or not a number."""
    if connection.vendor == "postgresql":
        return (
            f"(CASE WHEN jsonb_typeof({column} -> %s) = 'number' THEN ({column} ->> %s)::numeric ELSE 0 END)",
            [key, key],
        )
    path = f'$."{key}"'
    return (
        f"(CASE WHEN json_type({column}, %s) IN ('integer', 'real') "
        f"THEN json_extract({column}, %s) ELSE 0 END)",
        [path, path],
    )


def _value(spec: SummarySpec) -> tuple[str, list]:
    if spec.value_field == "value":
        return "COALESCE(i.value, 0)", []
    key = spec.value_field.removeprefix("properties.")
    return _json_number("i.properties", key)


def _in(column: str, values) -> tuple[str, list]:
    values = list(values)
    if not values:
        return "1 = 0", []
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def summary_sql(spec: SummarySpec, customer_ids: list[int] | None = None) -> tuple[str, list]:
    value_sql, value_params = _value(spec)
    types_sql, types_params = _in("i.type", spec.transaction_types)
    unit_sql, unit_params = (
        ("AND i.business_unit_id = %s", [spec.business_unit_id]) if spec.business_unit_id else ("", [])
    )
    if customer_ids is None:
        ids_sql, ids_params, live_ids_sql, live_params = "", [], "", []
    else:
        ids_sql, ids_params = _in("i.customer_id", customer_ids)
        ids_sql = f"AND {ids_sql}"
        live_ids_sql, live_params = _in("c.id", customer_ids)
        live_ids_sql = f"AND {live_ids_sql}"
    cost_sql, cost_params = _json_number("i.properties", spec.cost_property)
    revenue_types_sql, revenue_types_params = _in("i.type", spec.transaction_types)
    if connection.vendor == "postgresql":  # every column a non-null float8: read by binary COPY
        select = (
            "c.id::float8, COALESCE(p.days, 0)::float8, COALESCE(p.first_day::float8, 'NaN'), "
            "COALESCE(p.last_day::float8, 'NaN'), COALESCE(p.total, 0)::float8, "
            "COALESCE(p.repeat_total, 0)::float8, COALESCE(k.n, 0)::float8, COALESCE(k.revenue, 0)::float8, "
            "COALESCE(k.cost, 0)::float8"
        )
    else:
        select = (
            "c.id, COALESCE(p.days, 0), p.first_day, p.last_day, COALESCE(p.total, 0), "
            "COALESCE(p.repeat_total, 0), COALESCE(k.n, 0), COALESCE(k.revenue, 0), COALESCE(k.cost, 0)"
        )
    sql = f"""
WITH purchase_days AS (
    SELECT i.customer_id, {_day("i.occurred_at")} AS day, SUM({value_sql}) AS value
    FROM interactions_interaction i
    WHERE {types_sql} AND i.occurred_at < %s {unit_sql} {ids_sql}
    GROUP BY 1, 2
), numbered AS (
    SELECT customer_id, day, value, MIN(day) OVER (PARTITION BY customer_id) AS first_day
    FROM purchase_days
), purchases AS (
    SELECT customer_id, COUNT(*) AS days, MIN(day) AS first_day, MAX(day) AS last_day,
           SUM(value) AS total, SUM(CASE WHEN day > first_day THEN value ELSE 0 END) AS repeat_total
    FROM numbered GROUP BY customer_id
), costs AS (
    SELECT i.customer_id, COUNT(*) AS n,
           SUM(CASE WHEN {revenue_types_sql} THEN {value_sql} ELSE 0 END) AS revenue,
           SUM(ch.cost_per_interaction + {cost_sql}) AS cost
    FROM interactions_interaction i JOIN interactions_channel ch ON ch.id = i.channel_id
    WHERE i.occurred_at >= %s AND i.occurred_at < %s {unit_sql} {ids_sql}
    GROUP BY 1
)
SELECT {select}
FROM customers_customer c
LEFT JOIN purchases p ON p.customer_id = c.id
LEFT JOIN costs k ON k.customer_id = c.id
WHERE c.merged_into_id IS NULL {live_ids_sql}
ORDER BY c.id
"""
    params = [
        *value_params,
        *types_params,
        db_time(spec.until),
        *unit_params,
        *ids_params,
        *revenue_types_params,
        *value_params,
        *cost_params,
        db_time(spec.cost_since),
        db_time(spec.until),
        *unit_params,
        *ids_params,
        *live_params,
    ]
    return sql, params


@dataclass
class Summary:
    """Column arrays of the summary (float64; NaN where a customer has no purchase)."""

    customer_id: np.ndarray
    purchase_days: np.ndarray
    first_day: np.ndarray
    last_day: np.ndarray
    total_value: np.ndarray
    repeat_value: np.ndarray
    interactions: np.ndarray
    revenue: np.ndarray
    cost: np.ndarray

    def __len__(self) -> int:
        return len(self.customer_id)

    @classmethod
    def from_rows(cls, chunks: list[np.ndarray]) -> Summary:
        matrix = np.concatenate(chunks) if chunks else np.empty((0, len(COLUMNS)))
        columns = {name: matrix[:, i] for i, name in enumerate(COLUMNS)}
        columns["customer_id"] = columns["customer_id"].astype(np.int64)
        return cls(**columns)


def _to_matrix(rows: list[tuple]) -> np.ndarray:
    # Decimals and NULLs → float64 (NaN for NULL) in one numpy conversion per chunk.
    return np.array(rows, dtype=object).astype(float) if rows else np.empty((0, len(COLUMNS)))


def stream_summary(
    spec: SummarySpec, customer_ids: list[int] | None = None, *, chunk_rows: int = CHUNK_ROWS
) -> Iterator[np.ndarray]:
    """Chunks of summary rows as float matrices; on PostgreSQL streamed by binary COPY into numpy."""
    sql, params = summary_sql(spec, customer_ids)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            yield from pgcopy.read_matrix(cursor, sql, params, len(COLUMNS))
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_rows):
            yield _to_matrix(rows)


def read_summary(spec: SummarySpec, customer_ids: list[int] | None = None) -> Summary:
    return Summary.from_rows(list(stream_summary(spec, customer_ids)))
