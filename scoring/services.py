"""Fitting the value and risk models, scoring every customer, re-scoring dirty ones between fits."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from customers.models import BusinessUnit

from . import btyd, compute, detractor
from .errors import InvalidFitRequest
from .models import ModelRun, RunStatus, TimeUnit
from .summary import Summary, SummarySpec, read_summary, stream_summary
from .writer import ScoreWriter

logger = logging.getLogger("cxhub.scoring")

DEFAULT_TRANSACTION_TYPES = ("order_placed",)
DEFAULT_OPTIONS = {
    "clv_months": 12,  # CLV horizon
    "monthly_discount": 0.01,  # discount rate per month
    "margin": 0.30,  # gross margin rate on revenue
    "cost_window_days": 365,  # cost to serve, revenue and profitability window
    "cost_property": "cost",  # numeric interaction property added to the channel cost
    "detractor_window_days": 90,  # behaviour window before an NPS answer
}
# pg_advisory_xact_lock(namespace, 0): one scoring write at a time.
LOCK_NAMESPACE = 0x56414C55
WORK_MEM = "256MB"  # for the scoring transaction only (SET LOCAL)

Progress = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    return None


def day_number(day: date) -> int:
    return (day - date(1970, 1, 1)).days


def end_of_day(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), dtime.min, tzinfo=UTC)


def request_fit(
    *,
    calibration_end: date | None = None,
    holdout_end: date | None = None,
    time_unit: str = TimeUnit.WEEK,
    transaction_types: list[str] | None = None,
    value_field: str = "value",
    business_unit: str | None = None,
    options: dict | None = None,
    trigger: str = "api",
    user=None,
    queue: bool = True,
) -> ModelRun:
    """Record a queued run and (on commit) hand it to a worker; returns the run."""
    today = timezone.now().date()
    calibration_end = calibration_end or today
    if calibration_end > today:
        raise InvalidFitRequest("calibration_end cannot be in the future.", field="calibration_end")
    if holdout_end is not None and holdout_end <= calibration_end:
        raise InvalidFitRequest("holdout_end must be after calibration_end.", field="holdout_end")
    if time_unit not in TimeUnit.values:
        raise InvalidFitRequest("time_unit must be week or day.", field="time_unit")
    types = list(transaction_types or DEFAULT_TRANSACTION_TYPES)
    if not types or not all(isinstance(t, str) and t for t in types):
        raise InvalidFitRequest(
            "transaction_types must be a non-empty list of types.", field="transaction_types"
        )
    if value_field != "value" and not (value_field.startswith("properties.") and len(value_field) > 11):
        raise InvalidFitRequest('value_field must be "value" or "properties.<key>".', field="value_field")
    unit = None
    if business_unit:
        unit = BusinessUnit.objects.filter(code=business_unit).first()
        if unit is None:
            raise InvalidFitRequest(f"Unknown business unit {business_unit!r}.", field="business_unit")
    merged = {**DEFAULT_OPTIONS, **(options or {})}
    _check_options(merged)
    run = ModelRun.objects.create(
        calibration_end=calibration_end,
        holdout_end=holdout_end,
        time_unit=time_unit,
        transaction_types=types,
        value_field=value_field,
        business_unit=unit,
        options=merged,
        trigger=trigger,
        requested_by=user if isinstance(user, get_user_model()) else None,  # not an API client
    )
    if queue:
        transaction.on_commit(lambda: _queue(run.pk))
    return run


def _check_options(options: dict) -> None:
    checks = {
        "clv_months": lambda v: isinstance(v, int) and 1 <= v <= 120,
        "monthly_discount": lambda v: isinstance(v, int | float) and 0 <= v < 1,
        "margin": lambda v: isinstance(v, int | float) and 0 <= v <= 1,
        "cost_window_days": lambda v: isinstance(v, int) and 1 <= v <= 3660,
        "cost_property": lambda v: isinstance(v, str) and 0 < len(v) <= 100,
        "detractor_window_days": lambda v: isinstance(v, int) and 1 <= v <= 730,
    }
    for key, value in options.items():
        if key not in checks:
            raise InvalidFitRequest(f"Unknown option {key!r}.", field=f"options.{key}")
        if isinstance(value, bool) or not checks[key](value):
            raise InvalidFitRequest(f"Option {key} has an invalid value {value!r}.", field=f"options.{key}")


def _queue(run_id: int) -> None:
    from .tasks import fit_value_models

    try:
        fit_value_models.delay(run_id)
    except Exception:  # broker down: the run stays queued; the nightly task or the command picks it up
        logger.warning("Could not queue model run %s.", run_id, exc_info=True)


def current_run() -> ModelRun | None:
    """The latest successful run: its parameters score customers until the next fit."""
    return ModelRun.objects.filter(status=RunStatus.SUCCEEDED).order_by("-id").first()


def _spec(run: ModelRun, *, until: datetime) -> SummarySpec:
    return SummarySpec(
        transaction_types=tuple(run.transaction_types),
        until=until,
        cost_since=until - timedelta(days=int(run.options["cost_window_days"])),
        value_field=run.value_field,
        business_unit_id=run.business_unit_id,
        cost_property=run.options.get("cost_property", "cost"),
    )


def run_fit(*, run: ModelRun, progress: Progress = _noop) -> ModelRun:
    """Fit the run's models and, when they fit, score every customer with them.

    A failed fit leaves every customer's scores as they were and records why on the run.
    """
    run.status = RunStatus.RUNNING
    run.started_at = timezone.now()
    run.save(update_fields=["status", "started_at"])
    try:
        with transaction.atomic():
            _lock()
            run.checks = {"seconds": {}}
            started = time.perf_counter()
            summary = _read_all(run, progress)
            run.checks["seconds"]["read_summary"] = time.perf_counter() - started
            _fit(run, summary, progress)
            _score_all(run, summary, progress)
            run.status = RunStatus.SUCCEEDED
            run.finished_at = timezone.now()
            run.save()
    except (btyd.FitError, detractor.DetractorFitError, ValueError, ArithmeticError) as exc:
        _fail(run, str(exc))
    except Exception as exc:
        logger.exception("Model run %s failed.", run.pk)
        _fail(run, f"{type(exc).__name__}: {exc}")
    return run


def _fail(run: ModelRun, reason: str) -> None:
    run.status = RunStatus.FAILED
    run.error = f"{reason} — the previous scores are kept."
    run.finished_at = timezone.now()
    run.save()


def _lock() -> None:
    """One scoring write at a time; the transaction's statements are few, large and set-based."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, 0)", [LOCK_NAMESPACE])
            # Sorts and hash aggregates over every customer stay in memory; JIT compilation
            # costs more than it saves on these statements (measured: README).
            cursor.execute(
                "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)", [WORK_MEM]
            )


def _read_all(run: ModelRun, progress: Progress) -> Summary:
    chunks, done = [], 0
    for chunk in stream_summary(_spec(run, until=end_of_day(run.calibration_end))):
        chunks.append(chunk)
        done += len(chunk)
        progress("read", done, 0)
    return Summary.from_rows(chunks)


def _fit(run: ModelRun, summary: Summary, progress: Progress) -> None:
    started = time.perf_counter()
    as_of_day = day_number(run.calibration_end)
    inputs = compute.btyd_inputs(summary, as_of_day=as_of_day, time_unit=run.time_unit)
    run.n_customers = int(inputs.mask.sum())
    run.n_repeat_customers = int((inputs.x > 0).sum())
    progress("fit", 0, 3)
    bg = btyd.fit_bgnbd(inputs.x, inputs.t_x, inputs.T)
    progress("fit", 1, 3)
    gg = btyd.fit_gamma_gamma(inputs.x, inputs.m)
    progress("fit", 2, 3)
    seconds = run.checks.setdefault("seconds", {})
    seconds.update(fit_bgnbd=bg.seconds, fit_gamma_gamma=gg.seconds)
    run.params = {
        "bgnbd": bg.params.as_dict(),
        "gamma_gamma": gg.params.as_dict(),
        "rfm": compute.rfm_breaks(summary, as_of_day=as_of_day),
    }
    run.log_likelihood = {"bgnbd": bg.log_likelihood, "gamma_gamma": gg.log_likelihood}
    repeat = inputs.x > 0
    correlation = float(np.corrcoef(inputs.x[repeat], inputs.m[repeat])[0, 1]) if repeat.sum() > 2 else None
    run.checks = {
        "seconds": seconds,
        "gamma_gamma_n": gg.n,
        # Gamma-Gamma assumes spend independent of frequency; a strong correlation warns against it.
        "frequency_monetary_correlation": correlation,
        "iterations": {"bgnbd": bg.iterations, "gamma_gamma": gg.iterations},
        "population_mean_order_value": btyd.population_mean_order_value(gg.params),
        "warnings": [note for note in (gg.note,) if note],
    }
    if run.holdout_end:
        run.holdout = _holdout(run, summary, inputs, bg.params)
    mark = time.perf_counter()
    run.detractor = detractor.fit(run, progress=progress)
    seconds["fit_detractor"] = time.perf_counter() - mark
    model = run.detractor.pop("model", None)  # fitted now, or carried over from the last fit
    if model:
        run.params["detractor"] = model
    run.fit_seconds = time.perf_counter() - started
    progress("fit", 3, 3)


def _holdout(run: ModelRun, calibration: Summary, inputs, params: btyd.BgNbdParams) -> dict:
    """Predicted vs actual repeat purchase days between calibration end and holdout end."""
    later = read_summary(_spec(run, until=end_of_day(run.holdout_end)))
    ids = calibration.customer_id[inputs.mask]
    # Both summaries are ordered by customer id: align them without a Python loop.
    rows = np.minimum(np.searchsorted(later.customer_id, ids), max(len(later) - 1, 0))
    known = (later.customer_id[rows] == ids) if len(later) else np.zeros(len(ids), dtype=bool)
    actual = np.zeros(len(ids))
    actual[known] = later.purchase_days[rows[known]] - calibration.purchase_days[inputs.mask][known]
    length = (run.holdout_end - run.calibration_end).days / compute.DAYS_PER_UNIT[run.time_unit]
    predicted = btyd.expected_purchases(params, length, inputs.x, inputs.t_x, inputs.T)
    buckets = []
    for k in range(8):
        chosen = inputs.x == k if k < 7 else inputs.x >= 7
        if chosen.any():
            buckets.append(
                {
                    "frequency": str(k) if k < 7 else "7+",
                    "customers": int(chosen.sum()),
                    "predicted_mean": float(predicted[chosen].mean()),
                    "actual_mean": float(actual[chosen].mean()),
                }
            )
    return {
        "holdout_end": run.holdout_end.isoformat(),
        "length": length,
        "customers": int(len(ids)),
        "predicted_total": float(predicted.sum()),
        "actual_total": float(actual.sum()),
        "mean_absolute_error": float(np.abs(predicted - actual).mean()) if len(ids) else None,
        "by_frequency": buckets,
    }


def _score_all(run: ModelRun, summary: Summary, progress: Progress) -> None:
    started = time.perf_counter()
    as_of = end_of_day(run.calibration_end)
    writer = ScoreWriter(run_id=run.pk, as_of=as_of, scored_at=timezone.now(), full=True)
    seconds = _score_into(
        writer, run, summary, as_of=as_of, as_of_day=day_number(run.calibration_end), progress=progress
    )
    mark = time.perf_counter()
    run.scored_customers = writer.finish(snapshot_month=run.calibration_end.replace(day=1))
    seconds["write"] += time.perf_counter() - mark
    seconds.update(writer.seconds)
    run.checks["write_method"] = writer.method
    run.checks.setdefault("seconds", {}).update(seconds)
    run.score_seconds = time.perf_counter() - started


def _score_into(
    writer: ScoreWriter, run: ModelRun, summary: Summary, *, as_of, as_of_day, progress=_noop
) -> dict:
    """Compute every score of the summary's customers and stage them; returns seconds per step."""
    mark = time.perf_counter()
    scores = compute.score(summary, run.params, run.options, as_of_day=as_of_day, time_unit=run.time_unit)
    computed = time.perf_counter()
    risk, drivers = detractor.score(run, summary.customer_id, as_of=as_of, all_customers=writer.full)
    risked = time.perf_counter()
    progress("score", len(summary), len(summary))
    writer.add(summary.customer_id, summary.purchase_days.astype(np.int64), scores, risk, drivers)
    return {
        "score_compute": computed - mark,
        "score_detractor": risked - computed,
        "write": time.perf_counter() - risked,
    }


def rescore_customers(customer_ids: list[int]) -> int:
    """Re-score these customers as of now with the current run's parameters (no refit).

    The dirty-customer handler: one summary query, numpy, one write, whatever the count.
    """
    run = current_run()
    if run is None or not customer_ids:
        return 0
    now = timezone.now()
    summary = read_summary(_spec(run, until=now), customer_ids=sorted(set(customer_ids)))
    writer = ScoreWriter(run_id=run.pk, as_of=now, scored_at=now, full=False)
    _score_into(writer, run, summary, as_of=now, as_of_day=day_number(now.date()))
    written = writer.finish(snapshot_month=now.date().replace(day=1))
    gone = set(customer_ids) - set(summary.customer_id.tolist())
    if gone:  # merged away (or deleted) since: their scores go
        from .models import CustomerScore

        CustomerScore.objects.filter(customer_id__in=gone).delete()
    return written


def on_dirty_customers(customer_ids: list[int]) -> None:
    rescore_customers(customer_ids)


def nightly_refit() -> ModelRun:
    """Refit with the settings of the latest run (defaults when none), as of yesterday; run it now."""
    previous = ModelRun.objects.order_by("-id").first()
    yesterday = timezone.now().date() - timedelta(days=1)
    run = request_fit(
        calibration_end=yesterday,
        time_unit=previous.time_unit if previous else TimeUnit.WEEK,
        transaction_types=previous.transaction_types if previous else None,
        value_field=previous.value_field if previous else "value",
        business_unit=previous.business_unit.code if previous and previous.business_unit else None,
        options=previous.options if previous else None,
        trigger="schedule",
        queue=False,
    )
    return run_fit(run=run)
