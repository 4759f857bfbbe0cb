"""Lift of a treatment over its holdout: a two-proportion z-test (pure functions, known answers in tests).

Conversion rates p_t = x_t / n_t (treated) and p_h = x_h / n_h (holdout). Absolute lift
p_t − p_h with a 95% Wald interval ± 1.96 × sqrt(p_t(1−p_t)/n_t + p_h(1−p_h)/n_h); relative lift
(p_t − p_h) / p_h (None when p_h = 0). The p-value is two-sided from the pooled z statistic
z = (p_t − p_h) / sqrt(p(1−p)(1/n_t + 1/n_h)), p = (x_t + x_h) / (n_t + n_h).
"""

import math
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Lift:
    treated_rate: float | None
    holdout_rate: float | None
    absolute: float | None
    relative: float | None
    ci95: tuple[float, float] | None
    p_value: float | None

    def as_dict(self, digits: int = 4) -> dict:
        def r(value):
            return None if value is None else round(value, digits)

        return {
            "treated_rate": r(self.treated_rate),
            "holdout_rate": r(self.holdout_rate),
            "absolute": r(self.absolute),
            "relative": r(self.relative),
            "ci95": None if self.ci95 is None else [r(self.ci95[0]), r(self.ci95[1])],
            "p_value": r(self.p_value),
        }


def two_proportion_lift(x_t: int, n_t: int, x_h: int, n_h: int) -> Lift:
    if n_t <= 0 or n_h <= 0:
        rate_t = x_t / n_t if n_t > 0 else None
        rate_h = x_h / n_h if n_h > 0 else None
        return Lift(rate_t, rate_h, None, None, None, None)
    p_t, p_h = x_t / n_t, x_h / n_h
    diff = p_t - p_h
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_h * (1 - p_h) / n_h)
    pooled = (x_t + x_h) / (n_t + n_h)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_h))
    # Both groups all-or-nothing alike (se 0): no evidence of a difference.
    p_value = 1.0 if se_pooled == 0 else math.erfc(abs(diff / se_pooled) / math.sqrt(2))
    relative = diff / p_h if p_h > 0 else None
    return Lift(p_t, p_h, diff, relative, (diff - Z95 * se, diff + Z95 * se), p_value)
