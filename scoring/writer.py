"""Writing scores back: COPY into a staging table and one upsert on PostgreSQL; bulk upsert elsewhere.

Also the month's snapshot (``ScoreSnapshot``) from the same rows, in the same transaction.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime

import numpy as np
from django.db import OperationalError, connection
from psycopg.copy import QueuedLibpqWriter

from .compute import Scores
from .models import CustomerScore, ScoreSnapshot

SCORE_COLUMNS = (
    "customer_id",
    "model_run_id",
    "as_of",
    "purchases",
    "frequency",
    "recency",
    "age",
    "monetary",
    "p_alive",
    "churn_risk",
    "expected_purchases_90d",
    "expected_order_value",
    "clv",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_code",
    "rfm_label",
    "revenue",
    "cost_to_serve",
    "profitability",
    "detractor_risk",
    "detractor_drivers",
    "scored_at",
)
SNAPSHOT_COLUMNS = (
    "p_alive",
    "churn_risk",
    "expected_purchases_90d",
    "clv",
    "revenue",
    "cost_to_serve",
    "profitability",
    "rfm_code",
    "rfm_label",
    "detractor_risk",
)
COPY_CHUNK = 20_000


def _text(values: np.ndarray, fmt: str) -> np.ndarray:
    """Column as COPY text: ``\\N`` for NaN, else ``fmt`` (vectorised through numpy's char ops)."""
    values = np.asarray(values, dtype=float)
    out = np.char.mod(fmt, np.nan_to_num(values)).astype(object)
    out[np.isnan(values)] = "\\N"
    return out


def _int_or_null(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    out = np.char.mod("%d", np.nan_to_num(values)).astype(object)
    out[np.isnan(values)] = "\\N"
    return out


def _small_or_null(values: np.ndarray) -> np.ndarray:
    out = np.char.mod("%d", values).astype(object)
    out[np.asarray(values) == 0] = "\\N"
    return out


def _columns(
    customer_ids: np.ndarray,
    purchases: np.ndarray,
    scores: Scores,
    detractor_risk: np.ndarray,
    detractor_drivers: list | np.ndarray,
    *,
    run_id: int,
    as_of: datetime,
    scored_at: datetime,
) -> list[np.ndarray]:
    n = len(customer_ids)
    churn = 1 - scores.p_alive
    return [
        np.char.mod("%d", customer_ids).astype(object),
        np.full(n, str(run_id), dtype=object),
        np.full(n, as_of.isoformat(), dtype=object),
        np.char.mod("%d", purchases).astype(object),
        _int_or_null(scores.frequency),
        _text(scores.recency, "%.6g"),
        _text(scores.age, "%.6g"),
        _text(scores.monetary, "%.6g"),
        _text(scores.p_alive, "%.6g"),
        _text(churn, "%.6g"),
        _text(scores.expected_purchases_90d, "%.6g"),
        _text(scores.expected_order_value, "%.2f"),
        _text(scores.clv, "%.2f"),
        _small_or_null(scores.rfm_r),
        _small_or_null(scores.rfm_f),
        _small_or_null(scores.rfm_m),
        scores.rfm_code.astype(object),
        scores.rfm_label.astype(object),
        _text(scores.revenue, "%.2f"),
        _text(scores.cost_to_serve, "%.2f"),
        _text(scores.profitability, "%.2f"),
        _text(detractor_risk, "%.6g"),
        np.asarray(detractor_drivers, dtype=object),
        np.full(n, scored_at.isoformat(), dtype=object),
    ]


# One COPY text line per customer, formatted by one ``%`` per row: the same text as the column
# formatting above (``_columns``), without a formatting call per value. NaN formats as ``nan``
# and becomes ``\\N``; an RFM score of 0 (no purchase) goes in as NaN for the same reason.
_LINE_FORMATS = {
    "customer_id": "%d",
    "purchases": "%d",
    "frequency": "%.0f",
    "recency": "%.6g",
    "age": "%.6g",
    "monetary": "%.6g",
    "p_alive": "%.6g",
    "churn_risk": "%.6g",
    "expected_purchases_90d": "%.6g",
    "expected_order_value": "%.2f",
    "clv": "%.2f",
    "rfm_r": "%.0f",
    "rfm_f": "%.0f",
    "rfm_m": "%.0f",
    "rfm_code": "%s",
    "rfm_label": "%s",
    "revenue": "%.2f",
    "cost_to_serve": "%.2f",
    "profitability": "%.2f",
    "detractor_risk": "%.6g",
    "detractor_drivers": "%s",
}


def copy_lines(
    customer_ids: np.ndarray,
    purchases: np.ndarray,
    scores: Scores,
    detractor_risk: np.ndarray,
    detractor_drivers: list | np.ndarray,
    *,
    run_id: int,
    as_of: datetime,
    scored_at: datetime,
) -> str:
    """The rows as COPY text (``SCORE_COLUMNS`` in order, one line each)."""
    constants = {"model_run_id": str(run_id), "as_of": as_of.isoformat(), "scored_at": scored_at.isoformat()}
    fmt = "\t".join(
        constants[c].replace("%", "%%") if c in constants else _LINE_FORMATS[c] for c in SCORE_COLUMNS
    )

    def small(values):
        values = np.asarray(values, dtype=float)
        return np.where(values == 0, np.nan, values)

    by_name = {
        "customer_id": np.asarray(customer_ids, dtype=np.int64),
        "purchases": np.asarray(purchases, dtype=np.int64),
        "frequency": scores.frequency,
        "recency": scores.recency,
        "age": scores.age,
        "monetary": scores.monetary,
        "p_alive": scores.p_alive,
        "churn_risk": 1 - scores.p_alive,
        "expected_purchases_90d": scores.expected_purchases_90d,
        "expected_order_value": scores.expected_order_value,
        "clv": scores.clv,
        "rfm_r": small(scores.rfm_r),
        "rfm_f": small(scores.rfm_f),
        "rfm_m": small(scores.rfm_m),
        "rfm_code": scores.rfm_code,
        "rfm_label": scores.rfm_label,
        "revenue": scores.revenue,
        "cost_to_serve": scores.cost_to_serve,
        "profitability": scores.profitability,
        "detractor_risk": detractor_risk,
        "detractor_drivers": detractor_drivers,
    }
    columns = [np.asarray(by_name[c]).tolist() for c in SCORE_COLUMNS if c not in constants]
    if not columns[0]:
        return ""
    text = "\n".join([fmt % row for row in zip(*columns, strict=True)]) + "\n"
    # Only number fields can read "nan", and never first or last on a line: two passes catch runs.
    return text.replace("\tnan\t", "\t\\N\t").replace("\tnan\t", "\t\\N\t")


class ScoreWriter:
    """Collects score chunks into a staging table, then replaces the customers' rows at once."""

    def __init__(self, *, run_id: int, as_of: datetime, scored_at: datetime, full: bool):
        self.run_id, self.as_of, self.scored_at, self.full = run_id, as_of, scored_at, full
        self.rows = 0
        self.method = "orm" if connection.vendor != "postgresql" else "upsert"
        self.seconds = {"write_format": 0.0, "write_copy": 0.0, "write_upsert": 0.0, "write_snapshot": 0.0}
        self._pending: list[CustomerScore] = []
        self._postgres = connection.vendor == "postgresql"
        if self._postgres:
            with connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS scoring_stage")
                cursor.execute(
                    "CREATE TEMP TABLE scoring_stage (LIKE scoring_customerscore INCLUDING DEFAULTS) "
                    "ON COMMIT DROP"
                )

    def add(self, customer_ids, purchases, scores: Scores, detractor_risk, detractor_drivers) -> None:
        self.rows += len(customer_ids)
        if self._postgres:
            self._copy_all(customer_ids, purchases, scores, detractor_risk, detractor_drivers)
            return
        columns = _columns(
            customer_ids,
            purchases,
            scores,
            detractor_risk,
            detractor_drivers,
            run_id=self.run_id,
            as_of=self.as_of,
            scored_at=self.scored_at,
        )
        self._pending.extend(_instances(columns))

    def _copy_all(self, customer_ids, purchases, scores: Scores, detractor_risk, detractor_drivers) -> None:
        """One COPY; chunk k+1 is formatted while a writer thread sends chunk k (PostgreSQL parses it)."""
        names = ", ".join(SCORE_COLUMNS)
        risk = np.asarray(detractor_risk)
        drivers = np.asarray(detractor_drivers, dtype=object)
        mark = time.perf_counter()
        formatting = 0.0
        with connection.connection.cursor() as cursor:
            writer = QueuedLibpqWriter(cursor)
            with cursor.copy(f"COPY scoring_stage ({names}) FROM STDIN", writer=writer) as copy:
                for start in range(0, len(customer_ids), COPY_CHUNK):
                    part = slice(start, start + COPY_CHUNK)
                    started = time.perf_counter()
                    text = copy_lines(
                        customer_ids[part],
                        purchases[part],
                        _slice(scores, part),
                        risk[part],
                        drivers[part],
                        run_id=self.run_id,
                        as_of=self.as_of,
                        scored_at=self.scored_at,
                    )
                    formatting += time.perf_counter() - started
                    if text:
                        copy.write(text)
        self.seconds["write_format"] += formatting
        self.seconds["write_copy"] += time.perf_counter() - mark - formatting

    def finish(self, *, snapshot_month: date | None) -> int:
        """Move the staged rows into place (and the month's snapshot); returns rows written."""
        if self._postgres:
            self._finish_postgres(snapshot_month)
        else:
            self._finish_orm(snapshot_month)
        return self.rows

    def _finish_postgres(self, snapshot_month: date | None) -> None:
        mark = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE scoring_stage")
            swap = self.full and self.rows >= SWAP_MIN_ROWS and _swappable(cursor)
            self.method = "swap" if swap else "upsert"
            if swap:
                _build_next(cursor)
            else:
                _upsert(cursor, full=self.full)
            upserted = time.perf_counter()
            self.seconds["write_upsert"] += upserted - mark
            if snapshot_month is not None:
                snap = ", ".join(SNAPSHOT_COLUMNS)
                snap_updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*SNAPSHOT_COLUMNS, "model_run_id"))
                cursor.execute(
                    f"INSERT INTO scoring_scoresnapshot (customer_id, month, model_run_id, {snap}) "
                    f"SELECT customer_id, %s, model_run_id, {snap} FROM scoring_stage "
                    f"ON CONFLICT (customer_id, month) DO UPDATE SET {snap_updates}",
                    [snapshot_month],
                )
            cursor.execute("DROP TABLE scoring_stage")
            swapped = time.perf_counter()
            self.seconds["write_snapshot"] += swapped - upserted
            if swap and not _swap(cursor):
                _upsert_from_next(cursor)
                self.method = "upsert (readers held the table)"
            self.seconds["write_upsert"] += time.perf_counter() - swapped

    def _finish_orm(self, snapshot_month: date | None) -> None:
        fields = [c.removesuffix("_id") for c in SCORE_COLUMNS if c != "customer_id"]
        CustomerScore.objects.bulk_create(
            self._pending,
            update_conflicts=True,
            unique_fields=["customer"],
            update_fields=fields,
            batch_size=500,
        )
        ids = [row.customer_id for row in self._pending]
        if self.full:
            CustomerScore.objects.exclude(customer_id__in=ids).delete()
        if snapshot_month is not None:
            snapshots = [
                ScoreSnapshot(
                    customer_id=row.customer_id,
                    month=snapshot_month,
                    model_run_id=row.model_run_id,
                    **{c: getattr(row, c) for c in SNAPSHOT_COLUMNS},
                )
                for row in self._pending
            ]
            ScoreSnapshot.objects.bulk_create(
                snapshots,
                update_conflicts=True,
                unique_fields=["customer", "month"],
                update_fields=[*SNAPSHOT_COLUMNS, "model_run"],
                batch_size=500,
            )


# --- Full passes on PostgreSQL: a new table swapped in ---------------------------------------------
# Rewriting every row in place (INSERT … ON CONFLICT DO UPDATE) maintains three indexes row by row
# and leaves a dead version of every row; a full pass instead fills a new table, builds its
# indexes and constraints (under their temporary names) in bulk, and swaps it in at the very end
# of the transaction: readers wait only for the drop and renames (README: measured at medium).
TABLE = "scoring_customerscore"
NEXT = "scoring_customerscore_next"
SWAP_LOCK_TIMEOUT = "5s"  # readers in the way: give up on the swap and update in place
# Below this many rows the swap's fixed costs (catalogue work, ANALYZE) outweigh what it saves:
# measured equal at 100,000 rows, slower at 20,000 (README).
SWAP_MIN_ROWS = 200_000


def _swappable(cursor) -> bool:
    """Only a plain table: nothing references it, its owner's privileges only, no triggers of its
    own, in no publication (a swap would drop grants, triggers and publication membership)."""
    cursor.execute(
        "SELECT c.relacl IS NULL AND c.relkind = 'r' "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.confrelid = c.oid) "
        "AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) "
        "AND NOT EXISTS (SELECT 1 FROM pg_publication_rel p WHERE p.prrelid = c.oid) "
        "AND NOT EXISTS (SELECT 1 FROM pg_policy y WHERE y.polrelid = c.oid) "
        "FROM pg_class c WHERE c.oid = %s::regclass",
        [TABLE],
    )
    row = cursor.fetchone()
    return bool(row and row[0])


def _upsert(cursor, *, full: bool, source: str = "scoring_stage") -> None:
    names = ", ".join(SCORE_COLUMNS)
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in SCORE_COLUMNS if c != "customer_id")
    cursor.execute(
        f"INSERT INTO {TABLE} ({names}) SELECT {names} FROM {source} "
        f"ON CONFLICT (customer_id) DO UPDATE SET {updates}"
    )
    if full:  # merged or deleted profiles keep no scores
        cursor.execute(
            f"DELETE FROM {TABLE} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {source} g WHERE g.customer_id = s.customer_id)"
        )


def _definitions(cursor) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The table's constraints and its other indexes: (name, definition) each."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "ORDER BY contype = 'f', conname",
        [TABLE],
    )
    constraints = list(cursor.fetchall())
    cursor.execute(
        "SELECT x.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class x ON x.oid = i.indexrelid "
        "WHERE i.indrelid = %s::regclass AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) "
        "ORDER BY 1",
        [TABLE],
    )
    return constraints, list(cursor.fetchall())


def _build_next(cursor) -> None:
    names = ", ".join(SCORE_COLUMNS)
    cursor.execute(f"DROP TABLE IF EXISTS {NEXT}")
    cursor.execute(f"CREATE TABLE {NEXT} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE)")
    cursor.execute(f"INSERT INTO {NEXT} ({names}) SELECT {names} FROM scoring_stage ORDER BY customer_id")
    constraints, indexes = _definitions(cursor)
    # One ALTER TABLE: the checks are verified in one scan of the new table.
    adds = ", ".join(
        f"ADD CONSTRAINT {NEXT}_c{k} {definition}" for k, (_, definition) in enumerate(constraints)
    )
    if adds:
        cursor.execute(f"ALTER TABLE {NEXT} {adds}")
    for k, (name, definition) in enumerate(indexes):
        head, _, tail = definition.partition(f" ON public.{TABLE} ")
        if not tail:
            head, _, tail = definition.partition(f" ON {TABLE} ")
        cursor.execute(f"{head.replace(name, f'{NEXT}_i{k}', 1)} ON {NEXT} {tail}")
    cursor.execute(f"ANALYZE {NEXT}")


def _swap(cursor) -> bool:
    """Drop the table and rename the new one (names of constraints and indexes too); False when
    readers hold the table past the lock timeout (nothing changed then)."""
    constraints, indexes = _definitions(cursor)
    cursor.execute("SELECT current_setting('lock_timeout')")
    (previous,) = cursor.fetchone()
    cursor.execute("SAVEPOINT scoring_swap")
    try:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [SWAP_LOCK_TIMEOUT])
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    except OperationalError:
        cursor.execute("ROLLBACK TO SAVEPOINT scoring_swap")
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
        return False
    cursor.execute("RELEASE SAVEPOINT scoring_swap")
    cursor.execute("SELECT set_config('lock_timeout', %s, true)", [previous])
    # Profiles deleted (erased) since the summary was read: their deletions ran on the old table.
    cursor.execute(
        f"DELETE FROM {NEXT} n WHERE NOT EXISTS "
        "(SELECT 1 FROM customers_customer c WHERE c.id = n.customer_id)"
    )
    cursor.execute(f"DROP TABLE {TABLE}")
    cursor.execute(f"ALTER TABLE {NEXT} RENAME TO {TABLE}")
    for k, (name, _) in enumerate(constraints):
        cursor.execute(f"ALTER TABLE {TABLE} RENAME CONSTRAINT {NEXT}_c{k} TO {name}")
    for k, (name, _) in enumerate(indexes):
        cursor.execute(f"ALTER INDEX {NEXT}_i{k} RENAME TO {name}")
    return True


def _upsert_from_next(cursor) -> None:
    _upsert(cursor, full=True, source=NEXT)
    cursor.execute(f"DROP TABLE {NEXT}")


def _slice(scores: Scores, part: slice) -> Scores:
    return Scores(**{name: getattr(scores, name)[part] for name in Scores.__dataclass_fields__})


def _instances(columns: list[np.ndarray]) -> list[CustomerScore]:
    """ORM rows from the COPY text columns (the SQLite path: small data, same values)."""
    rows = []
    for values in zip(*columns, strict=True):
        data = {}
        for name, text in zip(SCORE_COLUMNS, values, strict=True):
            data[name] = None if text == "\\N" else text
        data["detractor_drivers"] = json.loads(data["detractor_drivers"] or "[]")
        rows.append(CustomerScore(**data))
    return rows
