"""Sentiment and themes for survey comments.

Sentiment is VADER's compound score (a lexicon and rules, shipped inside the
``vaderSentiment`` package: no model download): ≥ 0.05 positive, ≤ −0.05 negative,
neutral between — the thresholds VADER's authors recommend. Themes come from the
keyword taxonomy in ``Theme`` (editable in the admin): a theme matches when one of its
keywords appears in the comment as whole words, case-insensitively.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@dataclass(frozen=True)
class Sentiment:
    compound: float
    label: str


def sentiment_of(text: str) -> Sentiment | None:
    """VADER compound score and label for ``text``; None for an empty comment."""
    if not text or not text.strip():
        return None
    compound = _analyzer().polarity_scores(text)["compound"]
    if compound >= POSITIVE_THRESHOLD:
        label = "positive"
    elif compound <= NEGATIVE_THRESHOLD:
        label = "negative"
    else:
        label = "neutral"
    return Sentiment(compound=compound, label=label)


def _keyword_pattern(keyword: str) -> re.Pattern:
    words = [re.escape(w) for w in keyword.split()]
    return re.compile(r"\b" + r"\s+".join(words) + r"\b", re.IGNORECASE)


def themes_in(text: str, taxonomy: dict[str, list[str]]) -> list[str]:
    """Theme codes whose keywords occur in ``text``; ``taxonomy`` maps code → keywords."""
    if not text:
        return []
    return sorted(
        code
        for code, keywords in taxonomy.items()
        if any(_keyword_pattern(k).search(text) for k in keywords if k)
    )


def current_taxonomy() -> dict[str, list[str]]:
    from .models import Theme

    return {theme.code: theme.keyword_list() for theme in Theme.objects.all()}
