"""BG/NBD and Gamma-Gamma: the published likelihoods, their maximum-likelihood fit and the
closed-form per-customer quantities, vectorised over numpy arrays (no database here).

References
----------
- P. S. Fader, B. G. S. Hardie, K. L. Lee (2005), "'Counting Your Customers' the Easy Way: An
  Alternative to the Pareto/NBD Model", Marketing Science 24(2) — BG/NBD likelihood (eq. 6),
  P(alive) and the conditional expectation E[Y(t) | x, t_x, T] (eq. 10).
- P. S. Fader, B. G. S. Hardie (2013), "The Gamma-Gamma Model of Monetary Value" — the
  likelihood of the mean spend and the conditional expectation of a customer's mean spend.

Inputs per customer (the literature's conventions): ``x`` repeat purchases (purchase *days*
after the first), ``t_x`` time of the last purchase and ``T`` the age, both measured from the
first purchase, in the run's time unit; ``m`` the mean value of the repeat purchase days (the
first purchase excluded), used only where x > 0.

Rows with identical inputs are fitted once with a weight (``np.unique``): a million customers
observed by the day collapse to far fewer distinct (x, t_x, T) triples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special


class FitError(Exception):
    """The optimiser did not reach a usable maximum (the message says why)."""


# --- BG/NBD ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbdParams:
    r: float
    alpha: float
    a: float
    b: float

    def as_dict(self) -> dict:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}


def bgnbd_log_likelihood_terms(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """ln L_i of FHL (2005) eq. 6, one value per customer.

    L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
        + δ(x>0) · B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    # B(a, b+x)/B(a, b) = Γ(b+x)Γ(a+b) / (Γ(b)Γ(a+b+x))
    ratio = special.gammaln(a + b) + special.gammaln(b + x) - special.gammaln(b) - special.gammaln(a + b + x)
    alive_term = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    # B(a+1, b+x−1)/B(a, b+x) = a / (b+x−1); only defined (and only used) where x > 0.
    safe_x = np.where(repeat, x, 1.0)
    dead_term = np.where(repeat, np.log(a) - np.log(b + safe_x - 1) - (r + x) * np.log(alpha + t_x), -np.inf)
    return common + ratio + np.logaddexp(alive_term, dead_term)


def bgnbd_log_likelihood(params: BgNbdParams, x, t_x, T, weights=None) -> float:
    terms = bgnbd_log_likelihood_terms(params, x, t_x, T)
    return float(np.sum(terms if weights is None else terms * weights))


def p_alive(params: BgNbdParams, x, t_x, T) -> np.ndarray:
    """P(alive | x, t_x, T) = 1 / (1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    repeat = x > 0
    safe_x = np.where(repeat, x, 1.0)
    log_odds_dead = np.log(a) - np.log(b + safe_x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(repeat, special.expit(-log_odds_dead), 1.0)


def expected_purchases(params: BgNbdParams, t, x, t_x, T) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected purchases in the next ``t`` time units (FHL 2005 eq. 10).

    (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
      / [1 + δ(x>0) · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)]
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    T = np.asarray(T, dtype=float)
    t = np.asarray(t, dtype=float)
    z = t / (alpha + T + t)
    hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (
        (a + b + x - 1) / (a - 1) * (1 - np.exp((r + x) * np.log((alpha + T) / (alpha + T + t))) * hyper)
    )
    return numerator * p_alive(params, x, t_x, T)


def population_expected_purchases(params: BgNbdParams, t) -> np.ndarray:
    """E[X(t)] for a customer just acquired (FHL 2005 eq. 9), used for checks and holdouts."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    t = np.asarray(t, dtype=float)
    z = t / (alpha + t)
    hyper = special.hyp2f1(r, b, a + b - 1, z)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyper)


# --- Gamma-Gamma -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    gamma: float

    def as_dict(self) -> dict:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}


def gamma_gamma_log_likelihood_terms(params: GammaGammaParams, x, m) -> np.ndarray:
    """ln f(m̄ | p, q, γ, x) for customers with x > 0 repeat purchases of mean value m̄:

    Γ(px+q) / (Γ(px) Γ(q)) · γ^q · m̄^(px−1) · x^(px) / (γ + m̄x)^(px+q)
    """
    p, q, g = params.p, params.q, params.gamma
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(g + m * x)
    )


def gamma_gamma_log_likelihood(params: GammaGammaParams, x, m, weights=None) -> float:
    terms = gamma_gamma_log_likelihood_terms(params, x, m)
    return float(np.sum(terms if weights is None else terms * weights))


def expected_order_value(params: GammaGammaParams, x, m) -> np.ndarray:
    """E[M | m̄, x] = (γ + m̄x) · p / (px + q − 1); NaN where x = 0 (no repeat purchase)."""
    p, q, g = params.p, params.q, params.gamma
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    value = p * (g + np.nan_to_num(m) * x) / (p * x + q - 1)
    return np.where(x > 0, value, np.nan)


def population_mean_order_value(params: GammaGammaParams) -> float:
    """E[M] = pγ / (q − 1): the expected mean spend of a customer we know nothing about."""
    return params.p * params.gamma / (params.q - 1) if params.q > 1 else float("nan")


# --- fitting ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitResult:
    params: BgNbdParams | GammaGammaParams
    log_likelihood: float
    n: int
    iterations: int
    seconds: float
    note: str = ""


def _collapse(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the columns and how often each occurs (the likelihood's weights)."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts.astype(float)


LOG_BOUND = np.log(1e8)  # parameters are searched in [1e-8, 1e8]


def _maximise(negative_ll, start: np.ndarray) -> tuple[np.ndarray, float, int, bool]:
    """Minimise over bounded log-parameters (every parameter stays positive) with L-BFGS-B; when it
    reports no convergence, polish with Nelder-Mead. Returns (values, log-likelihood, iterations,
    on the edge of the box)."""
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    best = optimize.minimize(
        negative_ll,
        np.log(start),
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-13, "gtol": 1e-7, "maxiter": 1000},
    )
    iterations = int(best.nit)
    if not best.success:
        polished = optimize.minimize(
            negative_ll,
            best.x,
            method="Nelder-Mead",
            bounds=bounds,
            options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000},
        )
        iterations += int(polished.nit)
        best = polished if polished.fun <= best.fun else best
    if not np.isfinite(best.fun) or best.fun >= 1e300:
        raise FitError("the log-likelihood is not finite at the optimum")
    on_edge = bool(np.any(np.abs(best.x) > LOG_BOUND - 0.5))
    return np.exp(best.x), -float(best.fun), iterations, on_edge


def _shown(names, values) -> str:
    return ", ".join(f"{n}={v:.3g}" for n, v in zip(names, values, strict=True))


def fit_bgnbd(x, t_x, T) -> FitResult:
    """Maximum-likelihood BG/NBD parameters for the customers' (x, t_x, T)."""
    started = time.perf_counter()
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        raise FitError("no customer with a purchase in the calibration period")
    if not np.any(x > 0):
        raise FitError("no customer made a repeat purchase in the calibration period")
    (ux, ut, uT), weights = _collapse(x, t_x, T)

    def negative_ll(log_params):
        params = BgNbdParams(*np.exp(log_params))
        value = -bgnbd_log_likelihood(params, ux, ut, uT, weights)
        return value if np.isfinite(value) else 1e300

    values, ll, iterations, on_edge = _maximise(
        negative_ll, np.array([1.0, max(float(np.mean(T)), 1.0), 1.0, 1.0])
    )
    if on_edge:
        shown = _shown(("r", "alpha", "a", "b"), values)
        raise FitError(
            f"the BG/NBD optimum lies on the edge of the parameter space ({shown}); too little data?"
        )
    return FitResult(
        BgNbdParams(*map(float, values)), ll, int(x.size), iterations, time.perf_counter() - started
    )


def fit_gamma_gamma(x, m) -> FitResult:
    """Maximum-likelihood Gamma-Gamma parameters from repeat customers' (x, mean repeat value)."""
    started = time.perf_counter()
    x = np.asarray(x, dtype=float)
    m = np.asarray(m, dtype=float)
    keep = (x > 0) & np.isfinite(m) & (m > 0)
    if keep.sum() < 3:
        raise FitError("fewer than 3 customers with a positive repeat purchase value")
    (ux, um), weights = _collapse(x[keep], m[keep])

    def negative_ll(log_params):
        params = GammaGammaParams(*np.exp(log_params))
        value = -gamma_gamma_log_likelihood(params, ux, um, weights)
        return value if np.isfinite(value) else 1e300

    start = np.array([1.0, 2.0, max(float(np.mean(m[keep])), 1.0)])
    values, ll, iterations, on_edge = _maximise(negative_ll, start)
    note = ""
    if on_edge:
        # q, γ → ∞ with γ/q fixed: every customer has the same spend rate ν (no heterogeneity).
        # The model still predicts (E[M | m̄, x] tends to the population mean); say so on the run.
        note = (
            f"Gamma-Gamma optimum on the edge of the parameter space ({_shown(('p', 'q', 'gamma'), values)})"
        )
    return FitResult(
        GammaGammaParams(*map(float, values)),
        ll,
        int(keep.sum()),
        iterations,
        time.perf_counter() - started,
        note,
    )


# --- lifetime value --------------------------------------------------------------------------------


def clv(
    bgnbd: BgNbdParams,
    order_value,
    x,
    t_x,
    T,
    *,
    months: int,
    monthly_discount: float,
    margin: float,
    units_per_month: float,
) -> np.ndarray:
    """Discounted expected margin over ``months`` months:

    CLV = Σ_{k=1..H} margin · E[M] · (E[Y(k·u) | ·] − E[Y((k−1)·u) | ·]) / (1 + d)^k

    with u the time units in a month, E[M] the expected order value (Gamma-Gamma, or the
    population mean for a customer without repeat purchases) and d the monthly discount rate.
    """
    order_value = np.asarray(order_value, dtype=float)
    total = np.zeros_like(order_value)
    previous = np.zeros_like(order_value)
    for month in range(1, months + 1):
        current = expected_purchases(bgnbd, month * units_per_month, x, t_x, T)
        total += (current - previous) / (1 + monthly_discount) ** month
        previous = current
    return margin * order_value * total
