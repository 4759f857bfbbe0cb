"""Measuring a sentiment analyser on the labelled customer-service verbatims shipped in
``metrics/data/verbatims_labelled.csv`` (text, label, kind, split).

The split is fixed in the file by a hash of the text (``split_for``: about 30% held out), so
a verbatim added later lands where the hash puts it. The domain lexicon and rules in
``metrics.verbatims`` were written from the ``train`` part only and the model of
``metrics.sentiment_model`` is trained on it; the ``heldout`` part is for measuring.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

LABELS = ("positive", "neutral", "negative")
DATA_FILE = Path(__file__).resolve().parent / "data" / "verbatims_labelled.csv"


HELD_OUT_TENTHS = 3


def split_for(text: str) -> str:
    """``heldout`` when the first byte of the text's SHA-256 ends in 0, 1 or 2, else ``train``."""
    return "heldout" if hashlib.sha256(text.encode()).digest()[0] % 10 < HELD_OUT_TENTHS else "train"


@dataclass(frozen=True)
class Verbatim:
    text: str
    label: str
    kind: str
    split: str


def labelled_verbatims(split: str | None = None) -> list[Verbatim]:
    with DATA_FILE.open(newline="", encoding="utf-8") as fh:
        rows = [Verbatim(**row) for row in csv.DictReader(fh)]
    return [r for r in rows if split is None or r.split == split]


@dataclass(frozen=True)
class Evaluation:
    n: int
    accuracy: float
    macro_f1: float
    f1: dict[str, float]
    confusion: dict[str, dict[str, int]]  # true label → predicted label → count

    def as_dict(self) -> dict:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 3),
            "macro_f1": round(self.macro_f1, 3),
            "f1": {k: round(v, 3) for k, v in self.f1.items()},
        }


def evaluate(label_of: Callable[[str], str], rows: Iterable[Verbatim]) -> Evaluation:
    """Accuracy, per-class F1 and macro-F1 (unweighted mean over the three labels)."""
    confusion = {t: dict.fromkeys(LABELS, 0) for t in LABELS}
    n = 0
    for row in rows:
        confusion[row.label][label_of(row.text)] += 1
        n += 1
    correct = sum(confusion[label][label] for label in LABELS)
    f1 = {}
    for label in LABELS:
        tp = confusion[label][label]
        predicted = sum(confusion[t][label] for t in LABELS)
        actual = sum(confusion[label].values())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Evaluation(
        n=n,
        accuracy=correct / n if n else 0.0,
        macro_f1=sum(f1.values()) / len(LABELS),
        f1=f1,
        confusion=confusion,
    )
