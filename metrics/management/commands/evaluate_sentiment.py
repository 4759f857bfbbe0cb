"""Measure stock VADER, the rules and the learned sentiment model on the labelled verbatims."""

from django.core.management.base import BaseCommand

from metrics import sentiment_model, verbatims
from metrics.sentiment_eval import LABELS, Evaluation, evaluate, labelled_verbatims


class Command(BaseCommand):
    help = (
        "Accuracy, macro-F1 and per-class F1 of stock VADER, of the rules (VADER + domain lexicon "
        "and phrases) and of the model used for survey comments (a logistic regression over the "
        "rules' readings and the words, trained on the training part) on the shipped labelled "
        "verbatims (train and held-out parts). --cv adds the model's 5-fold cross-validation on the "
        "training part. --errors lists the training items the model gets wrong (never the held-out "
        "ones: rules and model are built from the training part only)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--errors", action="store_true", help="List misread training items.")
        parser.add_argument(
            "--cv", action="store_true", help="5-fold cross-validation of the model on the training part."
        )

    def _line(self, split: str, name: str, result: Evaluation) -> None:
        f1 = " ".join(f"{label}={result.f1[label]:.3f}" for label in LABELS)
        self.stdout.write(
            f"{split:<8} {name:<7} n={result.n:<4} accuracy={result.accuracy:.3f} "
            f"macro_f1={result.macro_f1:.3f}  F1: {f1}"
        )

    def handle(self, *args, errors: bool, cv: bool, **options):
        analysers = (
            ("vader", verbatims.vader_sentiment_of),
            ("rules", verbatims.rules_sentiment_of),
            ("model", verbatims.sentiment_of),
        )
        for split in ("train", "heldout"):
            rows = labelled_verbatims(split)
            for name, analyse in analysers:
                self._line(split, name, evaluate(lambda text, analyse=analyse: analyse(text).label, rows))
        if cv:
            result = sentiment_model.cross_validated(labelled_verbatims("train"))
            self._line(f"cv{sentiment_model.CV_FOLDS}", "model", result)
        if errors:
            for row in labelled_verbatims("train"):
                found = verbatims.sentiment_of(row.text)
                if found.label != row.label:
                    self.stdout.write(f"  {row.label} read as {found.label} ({found.compound}): {row.text}")
