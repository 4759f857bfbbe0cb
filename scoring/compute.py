"""From summary arrays to scores: BTYD inputs, closed-form scores, RFM, cost to serve, profitability.

Everything is a numpy expression over whole columns; nothing loops over customers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import btyd
from .summary import Summary

DAYS_PER_UNIT = {"week": 7.0, "day": 1.0}
DAYS_PER_MONTH = 365.25 / 12
HORIZON_DAYS_90 = 90.0

# The usual named RFM cells, on the R and F scores (rows R = 1..5, columns F = 1..5).
RFM_CELLS = (
    ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),
    ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),
    ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    ("promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"),
    ("new_customer", "potential_loyalist", "potential_loyalist", "champion", "champion"),
)
RFM_LABELS = {
    "champion": "Champions",
    "loyal": "Loyal",
    "potential_loyalist": "Potential loyalists",
    "new_customer": "New customers",
    "promising": "Promising",
    "need_attention": "Need attention",
    "about_to_sleep": "About to sleep",
    "at_risk": "At risk",
    "cant_lose": "Can't lose them",
    "hibernating": "Hibernating",
}
_CELL_TABLE = np.array(RFM_CELLS, dtype=object)


@dataclass
class BtydInputs:
    """x, t_x, T in the time unit and m (mean repeat-day value, NaN when x = 0); purchasers only."""

    mask: np.ndarray  # rows of the summary that made a purchase
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    m: np.ndarray


def btyd_inputs(summary: Summary, *, as_of_day: float, time_unit: str) -> BtydInputs:
    unit = DAYS_PER_UNIT[time_unit]
    mask = summary.purchase_days > 0
    x = summary.purchase_days[mask] - 1
    first = summary.first_day[mask]
    t_x = (summary.last_day[mask] - first) / unit
    T = np.maximum(as_of_day - first, 0) / unit
    with np.errstate(invalid="ignore", divide="ignore"):
        m = np.where(x > 0, summary.repeat_value[mask] / np.where(x > 0, x, 1), np.nan)
    return BtydInputs(mask=mask, x=x, t_x=t_x, T=T, m=m)


def rfm_breaks(summary: Summary, *, as_of_day: float) -> dict:
    """Quintile breaks (20/40/60/80th percentiles) of recency in days, purchase days and total value."""
    mask = summary.purchase_days > 0
    if not mask.any():
        return {}
    quantiles = [0.2, 0.4, 0.6, 0.8]
    return {
        "recency_days": np.quantile(as_of_day - summary.last_day[mask], quantiles).tolist(),
        "frequency": np.quantile(summary.purchase_days[mask], quantiles).tolist(),
        "monetary": np.quantile(summary.total_value[mask], quantiles).tolist(),
    }


def _higher_is_better(values: np.ndarray, breaks: list[float]) -> np.ndarray:
    # 1 + the number of breaks strictly below the value: a one-time buyer never scores above 1
    # when most customers bought once (ties at a break fall into the lower quintile).
    return 1 + np.searchsorted(np.asarray(breaks), values, side="left")


def _lower_is_better(values: np.ndarray, breaks: list[float]) -> np.ndarray:
    return 5 - np.searchsorted(np.asarray(breaks), values, side="left")


@dataclass
class Scores:
    """Score columns aligned with the summary rows (NaN / '' where undefined)."""

    p_alive: np.ndarray
    expected_purchases_90d: np.ndarray
    expected_order_value: np.ndarray
    clv: np.ndarray
    rfm_r: np.ndarray
    rfm_f: np.ndarray
    rfm_m: np.ndarray
    rfm_code: np.ndarray
    rfm_label: np.ndarray
    frequency: np.ndarray
    recency: np.ndarray
    age: np.ndarray
    monetary: np.ndarray
    revenue: np.ndarray
    cost_to_serve: np.ndarray
    profitability: np.ndarray


def score(summary: Summary, params: dict, options: dict, *, as_of_day: float, time_unit: str) -> Scores:
    """Every score of every summary row from a run's parameters (closed form, vectorised)."""
    n = len(summary)
    inputs = btyd_inputs(summary, as_of_day=as_of_day, time_unit=time_unit)
    mask = inputs.mask
    unit = DAYS_PER_UNIT[time_unit]

    def full(values, fill=np.nan):
        out = np.full(n, fill, dtype=float)
        out[mask] = values
        return out

    bg = btyd.BgNbdParams(**params["bgnbd"])
    gg = btyd.GammaGammaParams(**params["gamma_gamma"])
    alive = btyd.p_alive(bg, inputs.x, inputs.t_x, inputs.T)
    purchases_90 = btyd.expected_purchases(bg, HORIZON_DAYS_90 / unit, inputs.x, inputs.t_x, inputs.T)
    order_value = btyd.expected_order_value(gg, inputs.x, inputs.m)
    # A customer without a repeat purchase is valued at the population's expected spend.
    value_for_clv = np.where(np.isnan(order_value), btyd.population_mean_order_value(gg), order_value)
    lifetime = btyd.clv(
        bg,
        value_for_clv,
        inputs.x,
        inputs.t_x,
        inputs.T,
        months=int(options["clv_months"]),
        monthly_discount=float(options["monthly_discount"]),
        margin=float(options["margin"]),
        units_per_month=DAYS_PER_MONTH / unit,
    )

    breaks = params.get("rfm") or {}
    r = f = m = np.zeros(0, dtype=int)
    if breaks:
        r = _lower_is_better(as_of_day - summary.last_day[mask], breaks["recency_days"])
        f = _higher_is_better(summary.purchase_days[mask], breaks["frequency"])
        m = _higher_is_better(summary.total_value[mask], breaks["monetary"])
    rfm_r, rfm_f, rfm_m = (full(v, 0).astype(int) if breaks else np.zeros(n, dtype=int) for v in (r, f, m))
    codes = np.full(n, "", dtype=object)
    labels = np.full(n, "", dtype=object)
    if breaks and mask.any():
        codes[mask] = (r * 100 + f * 10 + m).astype("U3")
        labels[mask] = _CELL_TABLE[r - 1, f - 1]

    margin = float(options["margin"])
    profitability = summary.revenue * margin - summary.cost
    return Scores(
        p_alive=full(alive),
        expected_purchases_90d=full(purchases_90),
        expected_order_value=full(order_value),
        clv=full(lifetime),
        rfm_r=rfm_r,
        rfm_f=rfm_f,
        rfm_m=rfm_m,
        rfm_code=codes,
        rfm_label=labels,
        frequency=full(inputs.x),
        recency=full(inputs.t_x),
        age=full(inputs.T),
        monetary=full(inputs.m),
        revenue=summary.revenue,
        cost_to_serve=summary.cost,
        profitability=profitability,
    )
