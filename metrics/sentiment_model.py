"""A small learned layer over the rule-based sentiment of ``metrics.verbatims``.

A logistic regression reads the comment's words (TF-IDF of words and word pairs) together
with the rule analyser's own readings (stock VADER compound, domain compound, phrase score,
sarcasm, question and contrast flags). It is trained on the ``train`` part of the shipped
labelled verbatims (``metrics/data/verbatims_labelled.csv``) the first time a process needs
it — under a second, deterministic, nothing downloaded or stored — and never
sees the ``heldout`` part. The words let it learn complaints the rules have no phrase for
("sat in the depot", "automated reply"); the rule readings carry what 500 examples cannot
teach (negation, intensity, sarcasm).

Why this design and its settings: 5-fold cross-validation on the training part only
(``cross_validated``; ``manage.py evaluate_sentiment --cv``), compared with the rules alone,
with words alone, with character n-grams added, and with other regularisations (README,
*Verbatims: measured sentiment*).
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings

from . import verbatims
from .sentiment_eval import LABELS, Evaluation, Verbatim, evaluate, labelled_verbatims

logger = logging.getLogger("cxhub.metrics")

REGULARISATION_C = 10.0
RULE_FEATURE_SCALE = 3.0  # the rule readings weigh against ~100 active TF-IDF columns
CV_FOLDS = 5
CV_SEED = 0


def rule_features(text: str) -> list[float]:
    """The rule analyser's readings of ``text``, as model inputs."""
    sarcastic = verbatims.SARCASTIC_OPENER.search(text) and verbatims.GRIEVANCE.search(text)
    return [
        verbatims._vader().polarity_scores(text)["compound"],
        verbatims.domain_compound(text),
        verbatims._phrase_score(text),
        1.0 if sarcastic else 0.0,
        1.0 if text.rstrip().endswith("?") else 0.0,
        1.0 if verbatims.CONTRAST.search(text) else 0.0,
    ]


def _matrix(vectoriser, texts: Sequence[str]):
    from scipy.sparse import csr_matrix, hstack

    rules = csr_matrix([[v * RULE_FEATURE_SCALE for v in rule_features(t)] for t in texts])
    return hstack([vectoriser.transform(texts), rules]).tocsr()


@dataclass(frozen=True)
class SentimentModel:
    vectoriser: object  # sklearn TfidfVectorizer, fitted
    classifier: object  # sklearn LogisticRegression, fitted on _matrix(vectoriser, …)

    def probabilities(self, text: str) -> dict[str, float]:
        """P(label) for each of positive / neutral / negative.

        The same arithmetic as ``predict_proba`` over ``_matrix`` (TF-IDF with sublinear tf
        and L2 norm, then the regression's softmax), done by hand for one comment: sklearn's
        input checks cost ten times the arithmetic on the ingest path."""
        import numpy as np

        vocabulary, idf = self.vectoriser.vocabulary_, self.vectoriser.idf_
        counts = Counter(t for t in self.vectoriser.build_analyzer()(text) if t in vocabulary)
        columns = [vocabulary[t] for t in counts]
        weights = np.array([(1.0 + math.log(n)) * idf[vocabulary[t]] for t, n in counts.items()])
        if columns:
            weights /= np.sqrt((weights**2).sum())
        coef = self.classifier.coef_
        words = coef[:, columns] @ weights if columns else np.zeros(coef.shape[0])
        rules = coef[:, len(vocabulary) :] @ (np.array(rule_features(text)) * RULE_FEATURE_SCALE)
        scores = words + rules + self.classifier.intercept_
        exp = np.exp(scores - scores.max())
        return dict(zip(self.classifier.classes_, (float(p) for p in exp / exp.sum()), strict=True))


def train(rows: Sequence[Verbatim]) -> SentimentModel:
    """Fit the vectoriser and the regression on ``rows`` (deterministic: lbfgs, no sampling)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    texts = [r.text for r in rows]
    vectoriser = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True)
    vectoriser.fit(texts)
    classifier = LogisticRegression(C=REGULARISATION_C, max_iter=2000, class_weight="balanced")
    # One BLAS thread: on a loaded machine a thread pool makes this small fit 50× slower.
    with threadpool_limits(limits=1):
        classifier.fit(_matrix(vectoriser, texts), [r.label for r in rows])
    return SentimentModel(vectoriser=vectoriser, classifier=classifier)


@lru_cache(maxsize=1)
def shipped_model() -> SentimentModel:
    """The model trained on the shipped training verbatims (once per process)."""
    return train(labelled_verbatims("train"))


def warm_at_start() -> bool:
    """Train the shipped model now, at process start, when ``SENTIMENT_WARM_AT_START`` is on.

    Called from gunicorn's ``post_worker_init`` and Celery's ``worker_process_init``: the first
    request or task that reads a comment then does not wait seconds for the training. Returns
    whether the model is loaded; a failure is logged as a warning and never stops the worker
    (the first comment read then trains the model, or fails, as without warming).
    """
    if not settings.SENTIMENT_WARM_AT_START:
        return False
    started = time.monotonic()
    try:
        # One reading also loads the rule analysers (VADER and its lexicons) the model reads.
        label_and_compound(shipped_model(), "Warm-up: the service was quick and helpful.")
    except Exception:
        logger.warning("Could not warm the sentiment model at start; the first comment will.", exc_info=True)
        return False
    logger.info("Sentiment model warmed in %.1f s.", time.monotonic() - started)
    return True


def label_and_compound(model: SentimentModel, text: str) -> tuple[str, float]:
    """The most probable label, and P(positive) − P(negative) as the compound −1…1."""
    probabilities = model.probabilities(text)
    label = max(LABELS, key=lambda name: probabilities[name])
    return label, probabilities["positive"] - probabilities["negative"]


def cross_validated(rows: Sequence[Verbatim], folds: int = CV_FOLDS, seed: int = CV_SEED) -> Evaluation:
    """Stratified ``folds``-fold cross-validation of ``train`` on ``rows``: every row is read
    by a model fitted without it; the pooled predictions are scored."""
    from sklearn.model_selection import StratifiedKFold

    rows = list(rows)
    predicted: dict[str, str] = {}
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_index, test_index in splitter.split(rows, [r.label for r in rows]):
        model = train([rows[i] for i in fit_index])
        for i in test_index:
            predicted[rows[i].text] = label_and_compound(model, rows[i].text)[0]
    return evaluate(predicted.__getitem__, rows)
