"""Measure the stock VADER reading and the domain analyser on the labelled verbatims."""

from django.core.management.base import BaseCommand

from metrics import verbatims
from metrics.sentiment_eval import LABELS, evaluate, labelled_verbatims


class Command(BaseCommand):
    help = (
        "Accuracy, macro-F1 and per-class F1 of the stock VADER analyser and of the domain analyser "
        "on the shipped labelled verbatims (train and held-out parts). --errors lists the training "
        "items the domain analyser gets wrong (never the held-out ones: the lexicon is written from "
        "the training part only)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--errors", action="store_true", help="List misread training items.")

    def handle(self, *args, errors: bool, **options):
        analysers = (("vader", verbatims.vader_sentiment_of), ("domain", verbatims.sentiment_of))
        for split in ("train", "heldout"):
            rows = labelled_verbatims(split)
            for name, analyse in analysers:
                result = evaluate(lambda text, analyse=analyse: analyse(text).label, rows)
                f1 = " ".join(f"{label}={result.f1[label]:.3f}" for label in LABELS)
                self.stdout.write(
                    f"{split:<8} {name:<7} n={result.n:<4} accuracy={result.accuracy:.3f} "
                    f"macro_f1={result.macro_f1:.3f}  F1: {f1}"
                )
        if errors:
            for row in labelled_verbatims("train"):
                found = verbatims.sentiment_of(row.text)
                if found.label != row.label:
                    self.stdout.write(f"  {row.label} read as {found.label} ({found.compound}): {row.text}")
