"""How scores read to people: labels for P(alive), RFM cells and detractor drivers, money as text."""

from __future__ import annotations

from decimal import Decimal

from .compute import RFM_LABELS
from .detractor import FEATURE_LABELS

# P(alive) bands shown beside the figure (active / at risk / lapsed).
ACTIVE_FROM = 0.7
LAPSED_BELOW = 0.3


def alive_label(p_alive: float | None) -> str | None:
    if p_alive is None:
        return None
    if p_alive >= ACTIVE_FROM:
        return "active"
    if p_alive >= LAPSED_BELOW:
        return "at risk"
    return "lapsed"


def rfm_label(cell: str) -> str:
    return RFM_LABELS.get(cell, "")


def drivers_with_labels(drivers: list[dict] | None) -> list[dict]:
    return [
        {
            "feature": d["feature"],
            "label": FEATURE_LABELS.get(d["feature"], d["feature"]),
            "contribution": d["contribution"],
        }
        for d in drivers or []
    ]


def money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return f"{value:,.2f}"
