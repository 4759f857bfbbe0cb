"""Fast, seeded random draws and the calendar of the 24-month window."""

import bisect
import random
from datetime import UTC, datetime, timedelta

from . import vocab

DAY = 86400
WINDOW_DAYS = 730


class Calendar:
    """Weighted day picking over the 24-month window (weekly + seasonal + slow growth)."""

    def __init__(self, end_epoch: int):
        self.start = end_epoch - WINDOW_DAYS * DAY
        self.end = end_epoch
        start_date = datetime.fromtimestamp(self.start, UTC).date()
        cumulative, total = [0.0], 0.0
        for d in range(WINDOW_DAYS):
            day = start_date + timedelta(days=d)
            total += (
                vocab.WEEKDAY_WEIGHTS[day.weekday()]
                * vocab.MONTH_WEIGHTS[day.month - 1]
                * (0.8 + 0.4 * d / WINDOW_DAYS)
            )
            cumulative.append(total)
        self.cumulative = cumulative
        hours, acc = [], 0
        for w in vocab.HOUR_WEIGHTS:
            acc += w
            hours.append(acc)
        self.hour_cumulative = hours

    def moment(self, rng: random.Random, lo_day: int, hi_day: int) -> int:
        """A timestamp on a day in [lo_day, hi_day) drawn by day weight, at a likely hour."""
        lo, hi = self.cumulative[lo_day], self.cumulative[hi_day]
        day = bisect.bisect_right(self.cumulative, lo + rng.random() * (hi - lo)) - 1
        day = min(max(day, lo_day), hi_day - 1)
        hour = bisect.bisect_right(self.hour_cumulative, rng.random() * self.hour_cumulative[-1])
        return self.start + day * DAY + min(hour, 23) * 3600 + between(rng, 0, 3600)


def weighted(pairs: tuple[tuple[str, int], ...]) -> tuple[tuple[str, ...], list[int]]:
    names, cumulative, acc = [], [], 0
    for name, weight in pairs:
        acc += weight
        names.append(name)
        cumulative.append(acc)
    return tuple(names), cumulative


def cumulative(weights) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def between(rng: random.Random, lo: int, hi: int) -> int:
    """An int in [lo, hi): ``randrange`` without its (slow, exact) rejection sampling."""
    return lo + int(rng.random() * (hi - lo))


def choose(rng: random.Random, options):
    return options[int(rng.random() * len(options))]


def pick(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
