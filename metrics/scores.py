"""Exact survey scores: pure functions, no database, no rounding.

Formulas
--------
NPS (0–10 scale)
    promoters score 9–10, passives 7–8, detractors 0–6; n = promoters + passives + detractors.
    p_P = promoters / n, p_D = detractors / n.
    NPS = (p_P − p_D) × 100, in points from −100 to 100.
    The 95% margin of error is the half-width of the normal-approximation interval of the
    difference of the two (dependent, multinomial) proportions:
        Var(p_P − p_D) = (p_P + p_D − (p_P − p_D)²) / n
        margin_of_error = 1.96 × sqrt(Var) × 100   (points)
    With n = 0 both NPS and the margin are None (undefined, not zero).

CES (1–7 scale)
    average = Σ score × count / n; the distribution maps every scale point to its count.

CSAT (1–5 scale)
    satisfied = responses scoring 4 or 5; satisfied_share = satisfied / n × 100 (percent).

Every function takes counts (a distribution ``{score: count}``) so callers can feed it the
result of one grouped SQL query, or raw scores through ``distribution_of``.
"""

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Z_95 = 1.96

NPS_SCALE = range(0, 11)
CES_SCALE = range(1, 8)
CSAT_SCALE = range(1, 6)
SCALES = {"nps": NPS_SCALE, "ces": CES_SCALE, "csat": CSAT_SCALE}

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
CSAT_SATISFIED_MIN = 4


def nps_category(score: int) -> str:
    """'promoter' (9–10), 'passive' (7–8) or 'detractor' (0–6)."""
    if score not in NPS_SCALE:
        raise ValueError(f"NPS score must be 0–10, got {score!r}")
    if score >= PROMOTER_MIN:
        return "promoter"
    if score > DETRACTOR_MAX:
        return "passive"
    return "detractor"


def distribution_of(scores: Iterable[int]) -> dict[int, int]:
    return dict(Counter(int(s) for s in scores))


def _full_distribution(distribution: Mapping[int, int], scale: range) -> dict[int, int]:
    for score, count in distribution.items():
        if int(score) not in scale:
            raise ValueError(f"score {score!r} outside the scale {scale.start}–{scale.stop - 1}")
        if count < 0:
            raise ValueError("counts cannot be negative")
    return {point: int(distribution.get(point, 0)) for point in scale}


@dataclass(frozen=True)
class NpsResult:
    n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None
    margin_of_error: float | None

    def as_dict(self, digits: int | None = 1) -> dict:
        return {
            "n": self.n,
            "promoters": self.promoters,
            "passives": self.passives,
            "detractors": self.detractors,
            "nps": _round(self.nps, digits),
            "margin_of_error": _round(self.margin_of_error, digits),
        }


def nps_from_counts(*, promoters: int, passives: int, detractors: int) -> NpsResult:
    """NPS and its 95% margin of error from category counts."""
    if min(promoters, passives, detractors) < 0:
        raise ValueError("counts cannot be negative")
    n = promoters + passives + detractors
    if n == 0:
        return NpsResult(0, 0, 0, 0, None, None)
    p_promoter = promoters / n
    p_detractor = detractors / n
    difference = p_promoter - p_detractor
    # Clamp tiny negative rounding noise (e.g. all promoters gives exactly 0 in theory).
    variance = max(p_promoter + p_detractor - difference**2, 0.0) / n
    return NpsResult(
        n=n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        nps=difference * 100,
        margin_of_error=Z_95 * math.sqrt(variance) * 100,
    )


def nps_from_distribution(distribution: Mapping[int, int]) -> NpsResult:
    full = _full_distribution(distribution, NPS_SCALE)
    return nps_from_counts(
        promoters=sum(c for s, c in full.items() if s >= PROMOTER_MIN),
        passives=sum(c for s, c in full.items() if DETRACTOR_MAX < s < PROMOTER_MIN),
        detractors=sum(c for s, c in full.items() if s <= DETRACTOR_MAX),
    )


def nps(scores: Iterable[int]) -> NpsResult:
    return nps_from_distribution(distribution_of(scores))


@dataclass(frozen=True)
class CesResult:
    n: int
    average: float | None
    distribution: dict[int, int]

    def as_dict(self, digits: int | None = 2) -> dict:
        return {
            "n": self.n,
            "average": _round(self.average, digits),
            "distribution": {str(k): v for k, v in self.distribution.items()},
        }


def ces_from_distribution(distribution: Mapping[int, int]) -> CesResult:
    """Mean effort score (1–7) and the count at every scale point; average None when n = 0."""
    full = _full_distribution(distribution, CES_SCALE)
    n = sum(full.values())
    average = sum(s * c for s, c in full.items()) / n if n else None
    return CesResult(n=n, average=average, distribution=full)


def ces(scores: Iterable[int]) -> CesResult:
    return ces_from_distribution(distribution_of(scores))


@dataclass(frozen=True)
class CsatResult:
    n: int
    satisfied: int
    satisfied_share: float | None
    distribution: dict[int, int]

    def as_dict(self, digits: int | None = 1) -> dict:
        return {
            "n": self.n,
            "satisfied": self.satisfied,
            "satisfied_share": _round(self.satisfied_share, digits),
            "distribution": {str(k): v for k, v in self.distribution.items()},
        }


def csat_from_distribution(distribution: Mapping[int, int]) -> CsatResult:
    """Share (percent) of responses scoring 4–5 on the 1–5 scale; None when n = 0."""
    full = _full_distribution(distribution, CSAT_SCALE)
    n = sum(full.values())
    satisfied = sum(c for s, c in full.items() if s >= CSAT_SATISFIED_MIN)
    share = satisfied / n * 100 if n else None
    return CsatResult(n=n, satisfied=satisfied, satisfied_share=share, distribution=full)


def csat(scores: Iterable[int]) -> CsatResult:
    return csat_from_distribution(distribution_of(scores))


def summarise(kind: str, distribution: Mapping[int, int]) -> NpsResult | CesResult | CsatResult:
    """The result for a survey kind ('nps', 'ces' or 'csat') from a distribution."""
    if kind == "nps":
        return nps_from_distribution(distribution)
    if kind == "ces":
        return ces_from_distribution(distribution)
    if kind == "csat":
        return csat_from_distribution(distribution)
    raise ValueError(f"unknown survey kind {kind!r}")


def _round(value: float | None, digits: int | None) -> float | None:
    if value is None or digits is None:
        return value
    return round(value, digits)
