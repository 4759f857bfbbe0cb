"""Writing scores back: COPY into a staging table and one upsert on PostgreSQL; bulk upsert elsewhere.

Also the month's snapshot (``ScoreSnapshot``) from the same rows, in the same transaction.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import numpy as np
from django.db import connection

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
COPY_CHUNK = 100_000


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


class ScoreWriter:
    """Collects score chunks into a staging table, then replaces the customers' rows at once."""

    def __init__(self, *, run_id: int, as_of: datetime, scored_at: datetime, full: bool):
        self.run_id, self.as_of, self.scored_at, self.full = run_id, as_of, scored_at, full
        self.rows = 0
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
        self.rows += len(customer_ids)
        if self._postgres:
            self._copy(columns)
        else:
            self._pending.extend(_instances(columns))

    def _copy(self, columns: list[np.ndarray]) -> None:
        raw = connection.connection
        names = ", ".join(SCORE_COLUMNS)
        with raw.cursor() as cursor, cursor.copy(f"COPY scoring_stage ({names}) FROM STDIN") as copy:
            for start in range(0, len(columns[0]), COPY_CHUNK):
                part = [c[start : start + COPY_CHUNK] for c in columns]
                lines = ["\t".join(row) for row in zip(*part, strict=True)]
                copy.write("\n".join(lines) + "\n")

    def finish(self, *, snapshot_month: date | None) -> int:
        """Move the staged rows into place (and the month's snapshot); returns rows written."""
        if self._postgres:
            self._finish_postgres(snapshot_month)
        else:
            self._finish_orm(snapshot_month)
        return self.rows

    def _finish_postgres(self, snapshot_month: date | None) -> None:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in SCORE_COLUMNS if c != "customer_id")
        names = ", ".join(SCORE_COLUMNS)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO scoring_customerscore ({names}) SELECT {names} FROM scoring_stage "
                f"ON CONFLICT (customer_id) DO UPDATE SET {updates}"
            )
            if self.full:  # merged or deleted profiles keep no scores
                cursor.execute(
                    "DELETE FROM scoring_customerscore s WHERE NOT EXISTS "
                    "(SELECT 1 FROM scoring_stage g WHERE g.customer_id = s.customer_id)"
                )
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
