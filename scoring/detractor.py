"""Predicted detractor risk: the probability that a customer's next NPS answer is 0–6."""

from __future__ import annotations

import numpy as np


class DetractorFitError(Exception):
    pass


def fit(run, *, progress=None) -> dict:
    return {"status": "skipped", "reason": "not fitted yet"}


def score(run, customer_ids: np.ndarray, *, as_of) -> tuple[np.ndarray, np.ndarray]:
    n = len(customer_ids)
    return np.full(n, np.nan), np.full(n, "[]", dtype=object)
