"""Predicted detractor risk: the probability that a customer's next NPS answer is 0–6.

Training rows are past NPS answers; each answer's features describe the customer's behaviour
*before* it (a window of ``detractor_window_days``): complaints, service contacts, escalations,
late deliveries, journey exceptions and SLA breaches, handle time, channels used, orders, days
since the last purchase and the previous answer. The split is by time: the oldest 80% of answers
train, the newest 20% (all answered after every training answer) test; AUC, Brier score and a
calibration table are reported on those held-out answers.

The model is an L2-regularised logistic regression on standardised features (scikit-learn). The
run stores its means, scales and coefficients, so scoring is numpy only: logit = b₀ + Σ βⱼ zⱼ, and
a customer's drivers are the terms βⱼ zⱼ that raise the risk most (relative to an average answer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from scipy import special

from . import pgcopy
from .summary import db_time

FEATURES = (
    ("complaints", "Complaints"),
    ("service_contacts", "Service contacts"),
    ("escalations", "Escalated contacts"),
    ("late_deliveries", "Late deliveries"),
    ("journey_exceptions", "Journey exceptions"),
    ("sla_breaches", "SLA breaches"),
    ("handle_minutes", "Average handle time (minutes)"),
    ("channel_switches", "Channel switches"),
    ("orders", "Orders"),
    ("days_since_purchase", "Days since the last purchase"),
    ("previous_detractor", "Previous answer was 0–6"),
    ("no_previous_answer", "No previous answer"),
)
FEATURE_LABELS = dict(FEATURES)
TYPE_MAX_LENGTH = 64  # Interaction.type
RECENCY_CAP_DAYS = 365.0
MIN_TRAIN, MIN_TEST = 40, 15
MAX_ANSWERS = 50_000  # the newest answers: plenty for 12 coefficients (README)
TEST_SHARE = 0.2
TOP_DRIVERS = 3


class DetractorFitError(Exception):
    pass


@dataclass
class Probes:
    """The (customer, moment) pairs features are computed for: past answers, or customers now."""

    sql: str
    params: list
    # Every probe's moment when they share one (all customers now): the "last purchase" and
    # "previous answer" features then come from two grouped passes instead of a lookup per probe.
    common_at: datetime | None = None


def _minus_days(column: str, days_param: str = "%s") -> str:
    if connection.vendor == "postgresql":
        return f"({column} - make_interval(days => {days_param}))"
    return f"datetime({column}, '-' || {days_param} || ' days')"


def _days_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM ({later} - {earlier})) / 86400.0)"
    return f"(julianday({later}) - julianday({earlier}))"


def _in(column: str, values) -> tuple[str, list]:
    values = list(values)
    return f"{column} IN ({', '.join(['%s'] * len(values))})", values


def answer_probes(*, before: datetime, window_days: int, limit: int = MAX_ANSWERS) -> Probes:
    """The newest ``limit`` NPS answers given before ``before`` (the calibration end)."""
    return Probes(
        sql=(
            "SELECT r.id AS probe, r.customer_id, r.responded_at AS at, "
            f"{_minus_days('r.responded_at')} AS since, r.score AS score "
            "FROM metrics_surveyresponse r WHERE r.kind = 'nps' AND r.responded_at < %s "
            "ORDER BY r.responded_at DESC, r.id DESC LIMIT %s"
        ),
        params=[window_days, db_time(before), limit],
    )


def customer_probes(*, at: datetime, window_days: int, customer_ids: list[int] | None) -> Probes:
    ids_sql, ids_params = ("", []) if customer_ids is None else _in("c.id", customer_ids)
    return Probes(
        sql=(
            "SELECT c.id AS probe, c.id AS customer_id, CAST(%s AS TIMESTAMP) AS at, "
            "CAST(%s AS TIMESTAMP) AS since, NULL AS score FROM customers_customer c "
            f"WHERE c.merged_into_id IS NULL {'AND ' + ids_sql if ids_sql else ''}"
        ),
        params=[db_time(at), db_time(at - timedelta(days=window_days)), *ids_params],
        common_at=at if customer_ids is None else None,
    )


def contact_types() -> tuple[str, ...]:
    """The interaction types counted as service contacts (``settings.SCORING_CONTACT_TYPES``)."""
    value = getattr(settings, "SCORING_CONTACT_TYPES", None)
    if problems := check_contact_types(value):
        raise ImproperlyConfigured(" ".join(problems))
    return tuple(value)


def check_contact_types(value) -> list[str]:
    """Why ``value`` is not a usable list of contact types (empty when it is)."""
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        return ["SCORING_CONTACT_TYPES must be a non-empty list of interaction types."]
    problems = []
    for item in value:
        if (
            not isinstance(item, str)
            or not item.strip()
            or len(item) > TYPE_MAX_LENGTH
            or item != item.strip()
        ):
            problems.append(
                f"SCORING_CONTACT_TYPES: {item!r} is not an interaction type (1-{TYPE_MAX_LENGTH} "
                "characters, no surrounding spaces)."
            )
    if len(set(value)) != len(value):
        problems.append("SCORING_CONTACT_TYPES lists a type twice.")
    return problems


def features_sql(
    probes: Probes, *, purchase_types: tuple[str, ...], contacts: tuple[str, ...] | None = None
) -> tuple[str, list]:
    """Feature rows of the probes, ordered by probe.

    Every customer at one moment (``probes.common_at``): each table is read once for the one
    window and grouped by customer (hash aggregates, no per-customer lookups). Probes at their own
    moments (past answers, a few dirty customers): each probe's window is joined through the
    customer's indexes.
    """
    contacts = tuple(contacts or contact_types())
    service_sql, service_params = _in("i.type", contacts)
    purchase_sql, purchase_params = _in("i.type", purchase_types)
    last_purchase_sql, last_params = _in("l.type", purchase_types)
    postgres = connection.vendor == "postgresql"
    if postgres:
        probes_sql = probes.sql.replace("CAST(%s AS TIMESTAMP)", "CAST(%s AS timestamptz)")
        epoch = "EXTRACT(EPOCH FROM p.at)"
    else:  # SQLite compares the stored ISO text
        probes_sql = probes.sql.replace("CAST(%s AS TIMESTAMP)", "%s")
        epoch = "((julianday(p.at) - 2440587.5) * 86400.0)"
    aggregates = f"""COUNT(*) FILTER (WHERE i.type = 'complaint' AND i.direction = 'inbound') AS complaints,
           COUNT(*) FILTER (WHERE i.direction = 'inbound' AND {service_sql}) AS contacts,
           COUNT(*) FILTER (WHERE i.outcome = 'escalated') AS escalations,
           COUNT(*) FILTER (WHERE i.outcome = 'late') AS late,
           AVG(i.duration_seconds) FILTER (WHERE i.duration_seconds IS NOT NULL AND {service_sql}) / 60.0
               AS handle_minutes,
           COUNT(DISTINCT i.channel_id) FILTER (WHERE i.direction = 'inbound' AND {service_sql}) AS channels,
           COUNT(*) FILTER (WHERE {purchase_sql}) AS orders"""
    aggregate_params = [*service_params, *service_params, *service_params, *purchase_params]
    behaviour_join, join_params = "LEFT JOIN behaviour b ON b.probe = p.probe", []
    if probes.common_at is None and postgres:
        # One index range scan of the customer's window per probe (LATERAL): measured twice as fast
        # as the join below on 38,000 answers, whose plan walks every customer's whole timeline.
        behaviour_cte = ""
        behaviour_join = f"""LEFT JOIN LATERAL (
    SELECT {aggregates}
    FROM interactions_interaction i
    WHERE i.customer_id = p.customer_id AND i.occurred_at >= p.since AND i.occurred_at < p.at
) b ON true"""
        join_params = aggregate_params
    else:
        behaviour_cte = f"""behaviour AS (
    SELECT p.probe, {aggregates}
    FROM probes p
    JOIN interactions_interaction i
      ON i.customer_id = p.customer_id AND i.occurred_at >= p.since AND i.occurred_at < p.at
    GROUP BY p.probe
),
"""
    if probes.common_at is None:  # one lookup per probe (answers at their own moments; a few customers)
        window_ctes = f"""{behaviour_cte}exceptions AS (
    SELECT p.probe, COUNT(*) AS exceptions, COUNT(*) FILTER (WHERE e.kind = 'sla_breached') AS breaches
    FROM probes p
    JOIN journeys_journeyinstance ji ON ji.customer_id = p.customer_id
    JOIN journeys_journeyexception e
      ON e.instance_id = ji.id AND e.detected_at >= p.since AND e.detected_at < p.at
    GROUP BY p.probe
)"""
        window_params = [] if join_params else aggregate_params
        since_last = _days_between("p.at", "MAX(l.occurred_at)")
        history_columns = [
            f"(SELECT {since_last} FROM interactions_interaction l "
            f"WHERE l.customer_id = p.customer_id AND {last_purchase_sql} AND l.occurred_at < p.at)",
            "(SELECT q.score FROM metrics_surveyresponse q "
            "WHERE q.customer_id = p.customer_id AND q.kind = 'nps' AND q.responded_at < p.at "
            "ORDER BY q.responded_at DESC, q.id DESC LIMIT 1)",
        ]
        tail_params, history_joins = list(last_params), ""
    else:  # every customer at one moment: one grouped pass per table
        moment = db_time(probes.common_at)
        since = probes.params[1]
        window_ctes = f"""behaviour AS (
    SELECT i.customer_id AS probe, {aggregates}
    FROM interactions_interaction i
    WHERE i.occurred_at >= %s AND i.occurred_at < %s
    GROUP BY i.customer_id
),
exceptions AS (
    SELECT ji.customer_id AS probe, COUNT(*) AS exceptions,
           COUNT(*) FILTER (WHERE e.kind = 'sla_breached') AS breaches
    FROM journeys_journeyexception e JOIN journeys_journeyinstance ji ON ji.id = e.instance_id
    WHERE e.detected_at >= %s AND e.detected_at < %s
    GROUP BY ji.customer_id
),
last_purchase AS (
    SELECT l.customer_id, MAX(l.occurred_at) AS last_at FROM interactions_interaction l
    WHERE {last_purchase_sql} AND l.occurred_at < %s GROUP BY l.customer_id
),
previous_answer AS (
    SELECT customer_id, score FROM (
        SELECT q.customer_id, q.score,
               ROW_NUMBER() OVER (PARTITION BY q.customer_id ORDER BY q.responded_at DESC, q.id DESC) AS n
        FROM metrics_surveyresponse q WHERE q.kind = 'nps' AND q.responded_at < %s
    ) ranked WHERE n = 1
)"""
        window_params = [*aggregate_params, since, moment, since, moment, *last_params, moment, moment]
        history_columns = [_days_between("p.at", "lp.last_at"), "pa.score"]
        history_joins = (
            "LEFT JOIN last_purchase lp ON lp.customer_id = p.customer_id "
            "LEFT JOIN previous_answer pa ON pa.customer_id = p.customer_id"
        )
        tail_params = []
    columns = [
        "p.probe",
        "p.customer_id",
        "p.score",
        epoch,
        "COALESCE(b.complaints, 0)",
        "COALESCE(b.contacts, 0)",
        "COALESCE(b.escalations, 0)",
        "COALESCE(b.late, 0)",
        "COALESCE(x.exceptions, 0)",
        "COALESCE(x.breaches, 0)",
        "COALESCE(b.handle_minutes, 0)",
        "GREATEST(COALESCE(b.channels, 0) - 1, 0)",
        "COALESCE(b.orders, 0)",
        *history_columns,
    ]
    if postgres:  # non-null float8 columns, read by binary COPY
        columns = [f"COALESCE(({c})::float8, 'NaN')" for c in columns]
    sql = f"""
WITH probes AS ({probes_sql}),
{window_ctes}
SELECT {", ".join(columns)}
FROM probes p
{behaviour_join}
LEFT JOIN exceptions x ON x.probe = p.probe
{history_joins}
ORDER BY p.probe
"""
    if not postgres:
        sql = sql.replace("GREATEST(", "MAX(")
    params = [*probes.params, *window_params, *tail_params, *join_params]
    return sql, params


@dataclass
class FeatureRows:
    probe: np.ndarray
    customer_id: np.ndarray
    score: np.ndarray  # NaN for customer probes
    answered_at: np.ndarray  # epoch seconds of the probe's moment
    matrix: np.ndarray  # len(probe) × len(FEATURES)


def read_features(
    probes: Probes, *, purchase_types: tuple[str, ...], contacts: tuple[str, ...] | None = None
) -> FeatureRows:
    """Feature rows of the probes (binary COPY into numpy on PostgreSQL, chunks of rows elsewhere)."""
    sql, params = features_sql(probes, purchase_types=purchase_types, contacts=contacts)
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        with connection.connection.cursor() as cursor:
            chunks = [_chunk(data) for data in pgcopy.read_matrix(cursor, sql, params, 4 + 9 + 2)]
    else:
        chunks = [_chunk(np.array(rows, dtype=object).astype(float)) for rows in _fetch(sql, params)]
    data = np.concatenate(chunks) if chunks else np.empty((0, 4 + len(FEATURES)))
    return FeatureRows(
        probe=data[:, 0].astype(np.int64),
        customer_id=data[:, 1].astype(np.int64),
        score=data[:, 2],
        answered_at=data[:, 3],
        matrix=data[:, 4:],
    )


def _fetch(sql: str, params: list, size: int = 50_000):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield rows


def _chunk(data: np.ndarray) -> np.ndarray:
    """probe, customer, score, epoch, then the FEATURES in order (recency capped, answer flags)."""
    days, previous = data[:, 13], data[:, 14]
    return np.column_stack(
        [
            data[:, :13],
            np.where(np.isnan(days), RECENCY_CAP_DAYS, np.minimum(days, RECENCY_CAP_DAYS)),
            (previous <= 6).astype(float),  # NaN compares False
            np.isnan(previous).astype(float),
        ]
    )


def fit(run, *, progress=None) -> dict:
    """Train on the older answers, test on the newer; the run keeps the coefficients and the checks.

    Returns ``{"status": "fitted", ..., "model": {...}}`` or ``{"status": "skipped", "reason"}``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    window = int(run.options.get("detractor_window_days", 90))
    before = datetime.combine(run.calibration_end + timedelta(days=1), dtime.min, tzinfo=UTC)
    contacts = contact_types()
    rows = read_features(
        answer_probes(before=before, window_days=window),
        purchase_types=tuple(run.transaction_types),
        contacts=contacts,
    )
    if progress:
        progress("detractor", len(rows.probe), 0)
    n = len(rows.probe)
    if n < MIN_TRAIN + MIN_TEST:
        return _carry_over(f"only {n} NPS answers before the calibration end (need {MIN_TRAIN + MIN_TEST})")
    answered = rows.answered_at
    order = np.argsort(answered, kind="stable")
    split_at = answered[order[int(n * (1 - TEST_SHARE))]]
    train = answered < split_at
    test = ~train
    y = (rows.score <= 6).astype(int)
    if train.sum() < MIN_TRAIN or test.sum() < MIN_TEST:
        return _carry_over("too few answers on one side of the time split")
    if len(set(y[train])) < 2 or len(set(y[test])) < 2:
        return _carry_over("the training or test answers are all detractors or all non-detractors")
    scaler = StandardScaler().fit(rows.matrix[train])
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(
        (rows.matrix[train] - scaler.mean_) / scale, y[train]
    )
    coef, intercept = model.coef_[0], float(model.intercept_[0])
    predicted = special.expit(intercept + ((rows.matrix[test] - scaler.mean_) / scale) @ coef)
    return {
        "status": "fitted",
        "method": "L2-regularised logistic regression (scikit-learn), standardised features",
        "window_days": window,
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "split_at": datetime.fromtimestamp(split_at, tz=UTC).isoformat(),
        "detractor_rate_train": float(y[train].mean()),
        "detractor_rate_test": float(y[test].mean()),
        "auc": float(roc_auc_score(y[test], predicted)),
        "brier": float(brier_score_loss(y[test], predicted)),
        "calibration": calibration_table(predicted, y[test]),
        "coefficients": {name: float(c) for (name, _), c in zip(FEATURES, coef, strict=True)},
        "fit_seconds": time.perf_counter() - started,
        "model": {
            "features": [name for name, _ in FEATURES],
            "contact_types": list(contacts),
            "mean": scaler.mean_.tolist(),
            "scale": scale.tolist(),
            "coef": coef.tolist(),
            "intercept": intercept,
        },
    }


def calibration_table(predicted: np.ndarray, actual: np.ndarray, bins: int = 10) -> list[dict]:
    """Held-out answers in deciles of predicted risk: mean predicted vs observed detractor share."""
    order = np.argsort(predicted, kind="stable")
    table = []
    for chunk in np.array_split(order, min(bins, len(order))):
        if len(chunk):
            table.append(
                {
                    "n": int(len(chunk)),
                    "predicted": float(predicted[chunk].mean()),
                    "observed": float(actual[chunk].mean()),
                }
            )
    return table


def _carry_over(reason: str) -> dict:
    """Not enough to fit: keep scoring with the last fitted detractor model, if any."""
    from .models import ModelRun, RunStatus

    previous = (
        ModelRun.objects.filter(status=RunStatus.SUCCEEDED, params__has_key="detractor")
        .order_by("-id")
        .first()
    )
    if previous is None:
        return {"status": "skipped", "reason": reason}
    return {
        "status": "carried_over",
        "reason": reason,
        "from_run": previous.pk,
        "model": previous.params["detractor"],
    }


def score(
    run, customer_ids: np.ndarray, *, as_of: datetime, all_customers: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(risk, drivers JSON) per customer id, in the order given; NaN and ``[]`` without a model."""
    n = len(customer_ids)
    model = (run.params or {}).get("detractor")
    if not model or n == 0:
        return np.full(n, np.nan), np.full(n, "[]", dtype=object)
    rows = read_features(
        customer_probes(
            at=as_of,
            window_days=int(run.options.get("detractor_window_days", 90)),
            customer_ids=None if all_customers else [int(c) for c in customer_ids],
        ),
        purchase_types=tuple(run.transaction_types),
        # The types the model was fitted with (models fitted before the setting: the setting).
        contacts=tuple(model.get("contact_types") or contact_types()),
    )
    # Both are ordered by customer id; align (customers created meanwhile get no risk).
    position = np.searchsorted(rows.customer_id, customer_ids)
    position = np.minimum(position, max(len(rows.customer_id) - 1, 0))
    found = (rows.customer_id[position] == customer_ids) if len(rows.customer_id) else np.zeros(n, bool)
    risk = np.full(n, np.nan)
    drivers = np.full(n, "[]", dtype=object)
    if found.any():
        z = (rows.matrix[position[found]] - np.asarray(model["mean"])) / np.asarray(model["scale"])
        contributions = z * np.asarray(model["coef"])
        risk[found] = special.expit(model["intercept"] + contributions.sum(axis=1))
        drivers[found] = drivers_json(contributions, model["features"])
    return risk, drivers


def drivers_json(contributions: np.ndarray, features: list[str]) -> np.ndarray:
    """The ``TOP_DRIVERS`` terms raising each customer's risk most, as JSON text (vectorised)."""
    n = len(contributions)
    top = np.argsort(-contributions, axis=1)[:, :TOP_DRIVERS]
    rows = np.arange(n)[:, None]
    values = contributions[rows, top]
    names = np.asarray([f'{{"feature": "{f}", "contribution": ' for f in features], dtype=object)
    out = np.full(n, "", dtype=object)
    for k in range(top.shape[1]):
        item = names[top[:, k]] + np.char.mod("%.3f", values[:, k]).astype(object) + "}"
        keep = values[:, k] > 0.01
        separator = np.where(out == "", "", ", ").astype(object)
        out = np.where(keep, out + separator + item, out)
    return "[" + out + "]"
