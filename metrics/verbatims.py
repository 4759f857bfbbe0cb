"""Sentiment and themes for survey comments.

Sentiment is VADER (``vaderSentiment``: a lexicon and rules shipped in the package, no
model download) with a customer-service layer on top: a domain lexicon merged over
VADER's own (``DOMAIN_LEXICON``: "overcharged", "crashes", "hassle"…), phrase rules whose
feeling lies in the words together ("took weeks", "hard to read", "never arrived", "on
time"), weighed 1.5× after a contrast word and 0.5× before it, and a sarcasm rule (a
compliment opening a sentence that goes on to a grievance); a comment left neutral by all
of that but saying something did not happen ("never got", "didn't even knock") leans
negative (``rules_sentiment_of``: compound ≥ 0.05 positive, ≤ −0.05 negative, neutral
between). ``sentiment_of`` — what surveys, cases and the dashboard use — puts a small
logistic regression over those readings and the comment's words, trained on the shipped
training verbatims at first use (``metrics/sentiment_model.py``). ``manage.py
evaluate_sentiment`` measures stock VADER, the rules and the model on the shipped labelled
set (``metrics/sentiment_eval.py``).

Themes come from the keyword taxonomy in ``Theme`` (editable in the admin): a theme
matches when one of its keywords appears in the comment as whole words, case-insensitively.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
ANALYSER = "vader+cx-lexicon+logreg"

# Words customers use about service that VADER's general lexicon misses or weighs for
# another register (valence on VADER's −4…4 scale). "please", "like" and "number" carry
# no feeling in a service request ("please send…", "I would like…", "account number").
DOMAIN_LEXICON: dict[str, float] = {
    "overcharged": -2.5,
    "overcharge": -2.3,
    "overpriced": -2.0,
    "expensive": -1.2,
    "rip-off": -2.8,
    "nightmare": -2.6,
    "dismissive": -2.0,
    "unhelpful": -2.0,
    "unreachable": -1.8,
    "rude": -2.2,
    "late": -1.3,
    "delayed": -1.5,
    "expired": -1.2,
    "crashes": -2.0,
    "crashed": -2.0,
    "crashing": -2.0,
    "freezes": -1.6,
    "freezing": -1.2,
    "chase": -1.4,
    "chasing": -1.6,
    "confusing": -1.8,
    "jargon": -1.2,
    "impossible": -1.8,
    "hassle": -1.6,
    "fuss": -1.2,
    "downtime": -1.2,
    "waiting": -1.2,
    "wait": -0.9,
    "misleading": -2.2,
    "disappeared": -2.4,
    "aggressive": -2.3,
    "fees": -0.8,
    "fee": -0.6,
    "mistake": -1.6,
    "incorrect": -1.8,
    "damaged": -2.0,
    "dirty": -1.8,
    "dead": -1.5,
    "cut": -0.6,
    "lost": -1.8,
    "losing": -1.6,
    "missed": -1.3,
    "suspended": -1.5,
    "fixed": 1.4,
    "fix": 1.0,
    "sorted": 1.4,
    "sorting": 1.0,
    "quick": 1.4,
    "quickly": 1.3,
    "fast": 1.3,
    "smooth": 1.6,
    "professional": 1.6,
    "convenient": 1.4,
    "tidy": 1.0,
    "efficient": 1.8,
    "courteous": 1.8,
    "patient": 1.4,
    "knowledgeable": 1.6,
    "polite": 1.4,
    "reliable": 1.6,
    "accurate": 1.2,
    "thorough": 1.5,
    "responsive": 1.5,
    "early": 0.8,
    "unanswered": -1.8,
    "unresolved": -1.8,
    "escalated": -1.0,
    "leaking": -1.5,
    "slow": -1.4,
    "slower": -1.4,
    "waited": -1.0,
    "queue": -0.8,
    "queues": -0.8,
    "transferred": -0.6,
    "extortionate": -2.6,
    "pricey": -0.8,
    "costly": -1.0,
    "outage": -1.8,
    "glitch": -1.5,
    "glitchy": -1.8,
    "buggy": -1.8,
    "unusable": -2.4,
    "complicated": -1.3,
    "illegible": -1.8,
    "chased": -1.5,
    "refused": -1.6,
    "cancelled": -0.6,
    "hike": -1.2,
    "clunky": -1.6,
    "prompt": 1.4,
    "promptly": 1.5,
    "speedy": 1.5,
    "seamless": 1.8,
    "effortless": 1.8,
    "hassle-free": 2.0,
    "attentive": 1.7,
    "understanding": 1.0,
    "exceeded": 1.6,
    "spotless": 1.6,
    "again": -0.8,
    "twice": -1.0,
    "supposed": -0.8,
    "excuses": -1.4,
    "overdue": -1.0,
    "removed": -1.0,
    "rescheduled": -1.0,
    "endless": -1.5,
    "voucher": 0.0,
    "pay": 0.0,
    "please": 0.0,
    "like": 0.0,
    "number": 0.0,
    "promised": 0.0,
    "apologised": 0.4,
    "overdrawn": -2.0,
    "deleted": -1.4,
    "undid": -1.6,
    "no-show": -2.0,
    "downhill": -1.8,
    "mud": -1.0,
    "gift": 0.0,
    "cancel": 0.0,
    "wrongly": -1.5,
    "clearer": 1.2,
}

# Phrases whose feeling lies in the words together (weight on the compound scale).
NEGATIVE_PHRASES = [
    r"\bnever (?:arrived|came|arrives|turned up|showed up|came back)\b",
    r"\btook (?:ages|forever|weeks|months|a (?:week|month|fortnight)|\w+ (?:weeks|months|days))\b",
    r"\btake (?:weeks|months|a month)\b",
    r"\b(?:weeks|a month|a fortnight) (?:to|for|later)\b",
    r"\bstill (?:waiting|not|no|hasn't|haven't|isn't|doesn't|out of pocket|don't)\b",
    r"\b(?:hard|difficult|impossible) to (?:read|understand|follow|find|use|cancel|return|get)\b",
    r"\b(?:nobody|no one|no-one) (?:called|answered|could|knows|has|seems|warned|told|contacting)\b",
    r"\bwithout (?:any |a )?(?:notice|explanation|warning|asking|telling)\b",
    r"\b(?:charged|billed) twice\b|\bdouble (?:billed|charged)\b",
    r"\bon hold\b",
    r"\bthanks for nothing\b|\bsaid no one ever\b|\bif you enjoy\b",
    r"\b(?:wrong|old) (?:address|size|colour|color|amount|date|information|city|house)\b",
    r"\b(?:over|and over) again\b|\bevery (?:single )?time\b",
    r"\bin circles\b|\bgo(?:ne)? dead\b|\bhung up\b|\bcut off\b|\blogging me out\b|\blogged me out\b",
    r"\bdidn't (?:work|turn up|show up|fix|listen)\b|\bdoesn't work\b|\bdid not (?:receive|arrive)\b",
    r"\binstead of\b|\bnot as described\b|\bout of stock\b|\bwhat i paid for\b",
    r"\b(?:can't|cannot|could not|couldn't) (?:get through|speak|find|read|print)\b",
    r"\bhigher (?:price|than)\b|\bprice (?:went up|rise)\b|\bwithout me asking\b(?!)",
    r"\bno (?:response|reply|answer|update|compensation|idea)\b",
    r"\b(?:haven't|hasn't|have not|has not) (?:heard|reached|arrived|come)\b",
    r"\bnot told\b|\bwasn't told\b|\bnever explained\b|\bnot once did\b",
    r"\bhalf the items\b|\bitems were missing\b|\bnothing came\b|\bnever again\b",
    r"\binstead\b|\bover and over\b|\bsomeone else's\b|\b(?:three|four|five|several) times\b",
    r"\bshame about\b|\b(?:rarely|never|hardly|seldom) works\b|\bis a mess\b|\ba struggle\b",
    r"\bused to be (?:great|good|better|fine)\b|\bbank charges\b|\bout of pocket\b",
    r"\b(?:still |yet )?(?:yet to|no longer)\b|\black of\b|\bno way to\b|\bleft (?:me )?waiting\b",
    r"\bhad to (?:call|chase|ring|repeat|explain|email|phone|ask|go) (?:\w+ )?(?:again|back|times|twice)\b",
    r"\b(?:days|weeks|months) later\b",
    r"\bafter (?:two|three|four|five|six|\d+) (?:weeks|calls|emails|months)\b",
    r"\bwaste of\b|\bwasted\b|\bkeeps? (?:crashing|failing|asking|happening|sending|freezing)\b",
    r"\bno (?:refund|apology|explanation|callback|call back|one|help)\b",
    r"\bby mistake\b|\bfor no reason\b|\bin error\b|\bnot (?:received|delivered|refunded|turned up)\b",
    r"\bgot nowhere\b|\bdoes nothing\b|\bdid nothing\b|\bpassed (?:from|between|around)\b",
    r"\bnever (?:appeared|informed|got|received|met|heard|replied|rang)\b",
    r"\b(?:doesn't|don't|won't|wouldn't|didn't|wasn't|weren't|isn't|hasn't been) "
    r"(?:even |properly |actually )?"
    r"(?:print|load|let me|knock|answer|appear|respond|reply|save|applied|turn up)\b",
    r"\b(?:nobody|no one|no-one) (?:to help|came|rang|replied|returned|bothered)\b",
    r"\bless than (?:what )?i paid\b|\balready (?:due|overdue|paid)\b",
    r"\b(?:an|one|two|\d+) (?:hours?|minutes) on the (?:phone|line)\b|\ball (?:afternoon|morning|day)\b",
    r"\b(?:six|seven|eight|nine|ten|\d+) times\b|\bfor the (?:third|fourth|fifth|sixth|\w+th) time\b",
    r"\bonly had to (?:call|wait|ask|ring|chase)\b",
    r"\bnothing (?:has )?changed\b|\b(?:has|have|had) run out\b|\bin a loop\b|\bthin air\b",
    r"\b(?:an hour|\w+ hours|\w+ days) (?:after|late)\b|\b(?:was|is|been|went) down\b",
    r"\b(?:isn't|wasn't|aren't|weren't|not) working\b|\bmore interested in\b",
    r"\byou get what you pay for\b|\b(?:won't|will never) get (?:that |it )?back\b",
    r"\bone thing and\b.*\banother\b",
]
POSITIVE_PHRASES = [
    r"\bon time\b|\bon the spot\b|\bstraight away\b|\bfirst call\b|\bsame day\b|\bnext day\b",
    r"\bwithin (?:the hour|24 hours|a day|minutes)\b|\bin (?:five |a few )?minutes\b|\bin a minute\b",
    r"\bwent (?:above and beyond|out of (?:his|her|their|my) way)\b|\bfive stars\b",
    r"\bnothing but (?:praise|good)\b",
    r"\bdidn't (?:take long|have to (?:wait|repeat|chase|call|ask))\b|\bnot once have i\b|\bcan't fault\b",
    r"\bno (?:questions asked|downtime|hassle|fuss|issues?|problems?|complaints?|trouble)\b",
    r"\bwithout me (?:having to )?ask(?:ing)?\b|\b(?:kept|keeping) (?:me )?(?:updated|informed|posted)\b",
    r"\bwould buy again\b|\bworth every penny\b",
    r"\b(?:fixed|solved|resolved|sorted)(?: it)? (?:quickly|fast|on|in|straight)\b",
    r"\bhandled\b.*\bwell\b|\brefunded me\b|\bnot bad\b",
    r"\bmade (?:it|things|everything|a [\w ]+?) (?:easy|simple)\b",
    r"\b(?:exactly|just) (?:when|as) promised\b",
    r"\bspot on\b|\bsorted (?:it )?out\b|\bin no time\b|\bfirst time\b|\bwell done\b",
    r"\bextra mile\b|\bmade up for\b|\bcost (?:me )?a penny\b|\bno need to (?:chase|call|ask|worry)\b",
    r"\bcould(?:n't| not) (?:be|have been) (?:happier|better|easier|simpler)\b",
    r"\bcould(?:n't| not)? have been more\b",
    r"\bfound (?:the|what|exactly)\b[\w ]*\bneeded\b",
    r"\bnothing (?:was|is) too much\b|\bnever let (?:me|us) down\b",
    r"\bcould(?:n't| not) believe how (?:fast|quick|quickly|easy|good|helpful)\b",
    r"\buntil (?:it|everything) (?:worked|was (?:fixed|sorted|working))\b",
]
PHRASE_WEIGHT = 0.6
QUESTION_NEUTRAL_BAND = 0.35

# A compliment opening a sentence that goes on to a grievance reads as sarcasm.
SARCASTIC_OPENER = re.compile(
    r"^\W*(?:oh,? )?(?:great|wonderful|brilliant|fantastic|perfect|lovely|amazing|excellent|nice"
    r"|well done|thanks a lot|thanks so much|so glad|really impressive|really helpful(?=,)|what a treat"
    r"|great to see|love)\b",
    re.IGNORECASE,
)
GRIEVANCE = re.compile(
    r"\b(?:again|another|nothing|nobody|no one|wrong|losing|lost|late fee|on hold|hung up|crashed"
    r"|can't|didn't|weeks?|three-week|a month|ignored|take my money|missed|broke|without a single"
    r"|(?:third|fourth|fifth|sixth|\w+th) time|(?:six|seven|eight|nine|ten|\d+) times|only had to)\b",
    re.IGNORECASE,
)
# A comment with no feeling word that still says something did not happen ("the courier
# didn't even knock", "I never got the confirmation") is a complaint in a service survey;
# "nothing else to add" and "no comment" are not.
NEGATION = re.compile(r"\b(?:not|no|never|nobody|nothing|none|without)\b|n't\b", re.IGNORECASE)
NOTHING_TO_SAY = re.compile(
    r"\b(?:nothing|no) (?:else|further|more|other)?\s*(?:to (?:add|say|report)|comments?)\b"
    r"|^\W*no comments?\b",
    re.IGNORECASE,
)
REQUEST = re.compile(r"^\W*(?:please|i'd like|i would like)\b", re.IGNORECASE)
NEGATION_LEAN = -0.3
CONTRAST = re.compile(r"\b(?:but|however|although|though|otherwise|yet)\b|;", re.IGNORECASE)

_NEGATIVE = [re.compile(p, re.IGNORECASE) for p in NEGATIVE_PHRASES]
_POSITIVE = [re.compile(p, re.IGNORECASE) for p in POSITIVE_PHRASES]


@lru_cache(maxsize=1)
def _vader():
    """VADER's stock analyser (the baseline the domain analyser is measured against)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=1)
def _analyzer():
    """VADER with the domain lexicon layered over its own (a separate instance)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon = {**analyzer.lexicon, **DOMAIN_LEXICON}
    return analyzer


@dataclass(frozen=True)
class Sentiment:
    compound: float
    label: str


def _label(compound: float) -> str:
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


def _phrase_score(text: str) -> float:
    """Σ of phrase weights; after the last contrast word ("but", "however"…) a phrase
    counts 1.5×, before it 0.5× (the clause after the contrast carries the verdict)."""
    cut = None
    for match in CONTRAST.finditer(text):
        cut = match.end()
    total = 0.0
    for patterns, sign in ((_NEGATIVE, -1), (_POSITIVE, 1)):
        for pattern in patterns:
            for match in pattern.finditer(text):
                weight = 1.0 if cut is None else (1.5 if match.start() >= cut else 0.5)
                total += sign * PHRASE_WEIGHT * weight
    return total


def domain_compound(text: str) -> float:
    """Compound score −1…1 of VADER with the domain lexicon, phrase rules and sarcasm; a
    positive reading whose last clause after a contrast word ("…, but half the buttons
    don't do anything") is not positive by itself leans negative: that clause is the verdict."""
    total = _clause_compound(text)
    cut = None
    for match in CONTRAST.finditer(text):
        cut = match.end()
    if cut is not None and total > 0:
        tail = text[cut:].strip(" ,.;")
        verdict = _clause_compound(tail) < POSITIVE_THRESHOLD and not NOTHING_TO_SAY.search(tail)
        if len(tail.split()) >= 3 and verdict:
            return NEGATION_LEAN
    return total


def _clause_compound(text: str) -> float:
    if SARCASTIC_OPENER.search(text) and GRIEVANCE.search(text):
        return -0.6
    phrases = _phrase_score(text)
    compound = _analyzer().polarity_scores(text)["compound"]
    plain = not phrases and abs(compound) < QUESTION_NEUTRAL_BAND
    if plain and (text.rstrip().endswith("?") or NOTHING_TO_SAY.search(text)):
        return 0.0  # a plain question is a request, "no comment" is no feeling
    total = max(-1.0, min(1.0, compound + phrases))
    if abs(total) < POSITIVE_THRESHOLD and NEGATION.search(text) and not REQUEST.search(text):
        return NEGATION_LEAN
    return total


def rules_sentiment_of(text: str) -> Sentiment | None:
    """The rules alone (VADER + domain lexicon, phrases, sarcasm); None for an empty comment."""
    if not text or not text.strip():
        return None
    compound = round(domain_compound(text), 4)
    return Sentiment(compound=compound, label=_label(compound))


def sentiment_of(text: str) -> Sentiment | None:
    """Label and compound −1…1 for ``text``; None for an empty comment.

    The label is the learned layer's most probable one (``metrics.sentiment_model``: the
    rules' readings and the words, trained on the shipped training verbatims); the compound
    is P(positive) − P(negative).
    """
    if not text or not text.strip():
        return None
    from .sentiment_model import label_and_compound, shipped_model

    label, compound = label_and_compound(shipped_model(), text)
    return Sentiment(compound=round(compound, 4), label=label)


def vader_sentiment_of(text: str) -> Sentiment | None:
    """The stock VADER reading (kept for comparison: ``manage.py evaluate_sentiment``)."""
    if not text or not text.strip():
        return None
    compound = _vader().polarity_scores(text)["compound"]
    return Sentiment(compound=compound, label=_label(compound))


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
