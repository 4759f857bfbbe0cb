"""Known answers for BG/NBD and Gamma-Gamma: published figures, hand computation, simulated recovery."""

import math

import numpy as np
import pytest

from scoring import btyd

# Fader, Hardie & Lee (2005), CDNOW sample (2,357 customers, weeks): published estimates.
CDNOW = btyd.BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
# Fader & Hardie, "The Gamma-Gamma model of monetary value", CDNOW: p, q, γ.
CDNOW_GG = btyd.GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def _beta(a, b):
    return math.gamma(a) * math.gamma(b) / math.gamma(a + b)


def _hand_likelihood(p: btyd.BgNbdParams, x: int, t_x: float, T: float) -> float:
    """FHL (2005) eq. 6 written out with the Beta and Gamma functions themselves (no logs)."""
    r, alpha, a, b = p.r, p.alpha, p.a, p.b
    nbd = math.gamma(r + x) * alpha**r / math.gamma(r)
    value = _beta(a, b + x) / _beta(a, b) * nbd / (alpha + T) ** (r + x)
    if x > 0:
        value += _beta(a + 1, b + x - 1) / _beta(a, b) * nbd / (alpha + t_x) ** (r + x)
    return value


def test_likelihood_matches_the_formula_computed_by_hand():
    customers = [(0, 0.0, 38.86), (1, 10.0, 38.86), (2, 30.43, 38.86), (7, 35.0, 36.0)]
    for x, t_x, T in customers:
        ours = btyd.bgnbd_log_likelihood_terms(CDNOW, np.array([x]), np.array([t_x]), np.array([T]))[0]
        assert ours == pytest.approx(math.log(_hand_likelihood(CDNOW, x, t_x, T)), rel=1e-10)
    # A one-time buyer observed for 38.86 weeks: (α/(α+T))^r exactly (the Beta ratio is 1).
    assert math.exp(btyd.bgnbd_log_likelihood_terms(CDNOW, [0], [0.0], [38.86])[0]) == pytest.approx(
        (4.414 / (4.414 + 38.86)) ** 0.243, rel=1e-12
    )


def test_conditional_expectation_reproduces_the_published_cdnow_example():
    # FHL (2005), section 5: a customer with x=2, t_x=30.43, T=38.86 expects 1.226 purchases in 39 weeks.
    assert btyd.expected_purchases(CDNOW, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=5e-4)


def test_p_alive_matches_the_closed_form_by_hand():
    x, t_x, T = 2, 30.43, 38.86
    by_hand = 1 / (1 + 0.793 / (2.426 + x - 1) * ((4.414 + T) / (4.414 + t_x)) ** (0.243 + x))
    assert btyd.p_alive(CDNOW, [x], [t_x], [T])[0] == pytest.approx(by_hand, rel=1e-12)
    assert 0.72 < by_hand < 0.73
    # A one-time buyer has not yet had the chance to drop out (BG/NBD's convention).
    assert btyd.p_alive(CDNOW, [0], [0.0], [38.86])[0] == 1.0


def test_expectation_of_a_new_customer_is_the_limit_of_the_conditional_one():
    # Just acquired (x=0, t_x=T=0): E[Y(t) | 0, 0, 0] equals the population E[X(t)].
    for t in (1.0, 39.0, 78.0):
        assert btyd.expected_purchases(CDNOW, t, 0, 0.0, 0.0) == pytest.approx(
            btyd.population_expected_purchases(CDNOW, t), rel=1e-9
        )


def test_gamma_gamma_known_answers():
    # E[M] = pγ/(q−1): the published CDNOW mean of $35.22.
    assert btyd.population_mean_order_value(CDNOW_GG) == pytest.approx(35.22, abs=0.005)
    # Conditional mean, by hand: p(γ + x·m̄)/(px + q − 1).
    assert btyd.expected_order_value(CDNOW_GG, [3], [40.0])[0] == pytest.approx(
        6.25 * (15.44 + 3 * 40.0) / (6.25 * 3 + 3.74 - 1), rel=1e-12
    )
    assert np.isnan(btyd.expected_order_value(CDNOW_GG, [0], [np.nan])[0])
    # The density integrates to 1 over m̄ (checked numerically for x = 2).
    grid = np.linspace(0.01, 2000, 400_000)
    density = np.exp(btyd.gamma_gamma_log_likelihood_terms(CDNOW_GG, np.full_like(grid, 2), grid))
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-3)


def simulate_bgnbd(params: btyd.BgNbdParams, n: int, *, seed: int, weeks: float = 52.0):
    """Purchase histories drawn from the model itself: λ ~ Gamma(r, α), p ~ Beta(a, b)."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(params.r, 1 / params.alpha, n)
    drop = rng.beta(params.a, params.b, n)
    T = rng.uniform(weeks / 2, weeks, n)
    x, t_x, clock = np.zeros(n), np.zeros(n), np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():
        clock = clock + rng.exponential(1 / np.maximum(rate, 1e-12))
        bought = alive & (clock <= T)
        x[bought] += 1
        t_x[bought] = clock[bought]
        alive = bought & (rng.random(n) >= drop)  # after each repeat purchase: drop out with p
    return x, t_x, T


def test_bgnbd_fit_recovers_the_parameters_of_simulated_data():
    """Tolerance: every parameter within 15% of the truth for 20,000 simulated customers
    (the sampling error of the MLE at this size is a few percent; the seed is fixed)."""
    truth = btyd.BgNbdParams(r=0.5, alpha=6.0, a=0.8, b=2.5)
    x, t_x, T = simulate_bgnbd(truth, 20_000, seed=7)
    fit = btyd.fit_bgnbd(x, t_x, T)
    for name, value in truth.as_dict().items():
        assert fit.params.as_dict()[name] == pytest.approx(value, rel=0.15), name
    # The optimum beats the truth on this sample (it is the maximum).
    assert fit.log_likelihood >= btyd.bgnbd_log_likelihood(truth, x, t_x, T)


def test_gamma_gamma_fit_recovers_the_parameters_of_simulated_data():
    """Tolerance: each parameter within 15% for 50,000 repeat customers (p and γ trade off
    against each other, so smaller samples wander further), the mean spend E[M] within 3%."""
    truth = btyd.GammaGammaParams(p=6.0, q=4.0, gamma=15.0)
    rng = np.random.default_rng(13)
    n = 50_000
    x = rng.integers(1, 8, n).astype(float)
    nu = rng.gamma(truth.q, 1 / truth.gamma, n)  # ν ~ Gamma(q, γ); each spend ~ Gamma(p, ν)
    m = rng.gamma(truth.p * x, 1 / nu) / x  # the mean of x spends ~ Gamma(px, νx)
    fit = btyd.fit_gamma_gamma(x, m)
    for name, value in truth.as_dict().items():
        assert fit.params.as_dict()[name] == pytest.approx(value, rel=0.15), name
    assert btyd.population_mean_order_value(fit.params) == pytest.approx(
        btyd.population_mean_order_value(truth), rel=0.03
    )
    assert fit.log_likelihood >= btyd.gamma_gamma_log_likelihood(truth, x, m)


def test_fit_fails_with_a_reason_when_nobody_came_back():
    with pytest.raises(btyd.FitError, match="repeat purchase"):
        btyd.fit_bgnbd(np.zeros(50), np.zeros(50), np.full(50, 20.0))
    with pytest.raises(btyd.FitError, match="no customer"):
        btyd.fit_bgnbd(np.zeros(0), np.zeros(0), np.zeros(0))


def test_clv_is_the_discounted_monthly_sum_of_expected_margin():
    x, t_x, T = np.array([2.0]), np.array([30.43]), np.array([38.86])
    units = 365.25 / 12 / 7
    value = btyd.clv(
        CDNOW,
        np.array([50.0]),
        x,
        t_x,
        T,
        months=12,
        monthly_discount=0.01,
        margin=0.3,
        units_per_month=units,
    )
    by_hand = sum(
        0.3
        * 50.0
        * (
            btyd.expected_purchases(CDNOW, k * units, x, t_x, T)[0]
            - btyd.expected_purchases(CDNOW, (k - 1) * units, x, t_x, T)[0]
        )
        / 1.01**k
        for k in range(1, 13)
    )
    assert value[0] == pytest.approx(by_hand, rel=1e-12)
    # Undiscounted, it telescopes to margin × value × E[Y(12 months)].
    flat = btyd.clv(
        CDNOW, np.array([50.0]), x, t_x, T, months=12, monthly_discount=0.0, margin=0.3, units_per_month=units
    )
    assert flat[0] == pytest.approx(
        0.3 * 50 * btyd.expected_purchases(CDNOW, 12 * units, x, t_x, T)[0], rel=1e-12
    )
