"""The benchmark harness: scales, results, timing helpers, the table and results.json.

Every benchmark measures its own raw-PostgreSQL baseline in the same run, so a result
is a ratio on this machine today, not an absolute number from somewhere else.
``ratio`` is always ``value / baseline``; ``better`` says which direction is good.
A benchmark whose feature does not exist yet reports ``skipped: <reason>`` and no numbers.
"""

import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    interactions: int
    responses: int
    ingest_items: int  # sent in 1,000-item batches
    page_interactions: int  # interactions of the customer whose 360 page is timed
    page_requests: int
    repeats: int  # timed repetitions of queries (segments, NPS)
    http_items: int  # posted to gunicorn by `make bench-ingest` (issue 5's default: 200,000)


SCALES = {
    "tiny": Scale("tiny", 300, 3_000, 500, 2_000, 500, 8, 2, 2_000),
    "small": Scale("small", 20_000, 200_000, 20_000, 20_000, 10_000, 30, 3, 200_000),
    # 100,000 customers: the campaign benchmark's audience without the 1M-customer load.
    "medium": Scale("medium", 100_000, 1_000_000, 100_000, 20_000, 10_000, 30, 3, 200_000),
    "large": Scale("large", 1_000_000, 10_000_000, 1_000_000, 200_000, 10_000, 50, 3, 200_000),
}


@dataclass
class Result:
    name: str
    value: float | None
    baseline: float | None
    unit: str
    scale: str
    timestamp: str
    better: str = "lower"  # "lower" for times, "higher" for rates
    note: str = ""
    ratio: float | None = field(default=None)

    def __post_init__(self):
        if self.ratio is None and self.value is not None and self.baseline:
            # four significant digits: three decimals would turn 0.0395 into 0.04 (1% off)
            self.ratio = float(f"{self.value / self.baseline:.4g}")

    def as_dict(self) -> dict:
        data = asdict(self)
        order = ("name", "value", "baseline", "ratio", "unit", "scale", "timestamp", "better", "note")
        return {k: data[k] for k in order}


@dataclass
class Run:
    """What a benchmark module receives: the scale, a clock, a log and the results so far."""

    scale: Scale
    seed: int
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat())
    results: list[Result] = field(default_factory=list)
    log: Callable[[str], None] = print
    state: dict = field(default_factory=dict)  # shared between benchmarks (e.g. the loaded data)
    reuse: bool = False  # the data set was loaded by an earlier run (``bench --reuse-db``)

    def add(self, name: str, value, baseline, unit: str, *, better: str = "lower", note: str = "") -> Result:
        result = Result(
            name=name,
            value=_round(value),
            baseline=_round(baseline),
            unit=unit,
            scale=self.scale.name,
            timestamp=self.timestamp,
            better=better,
            note=note,
        )
        self.results.append(result)
        self.log(f"  {format_row(result)}")
        return result

    def skip(self, name: str, reason: str, unit: str = "") -> Result:
        return self.add(name, None, None, unit, note=f"skipped: {reason}")


def remember(key: str, value: int) -> None:
    """Keep ``value`` in the bench database, for a later run with ``--reuse-db``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_state (key text PRIMARY KEY, value bigint NOT NULL)")
        cursor.execute(
            "INSERT INTO bench_state VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, value],
        )


def recall(key: str) -> int | None:
    """What an earlier run kept with ``remember`` in this bench database, or None."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_state') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT value FROM bench_state WHERE key = %s", [key])
        row = cursor.fetchone()
    return row[0] if row else None


def _round(value):
    if value is None:
        return None
    return round(float(value), 3 if abs(value) < 100 else 1)


def timed(func: Callable, *args, **kwargs) -> tuple[float, object]:
    """(seconds, return value) of one call."""
    started = time.perf_counter()
    value = func(*args, **kwargs)
    return time.perf_counter() - started, value


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def format_value(value) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def format_row(result: Result, width: int = 46) -> str:
    ratio = "—" if result.ratio is None else f"{result.ratio:.2f}"
    note = f"  ({result.note})" if result.note else ""
    return (
        f"{result.name:<{width}} {format_value(result.value):>12} {format_value(result.baseline):>12} "
        f"{ratio:>7}  {result.unit}{note}"
    )


def format_table(results: list[Result]) -> str:
    width = max([46, *(len(r.name) for r in results)])
    header = f"{'benchmark':<{width}} {'value':>12} {'baseline':>12} {'ratio':>7}  unit"
    return "\n".join([header, "-" * len(header), *(format_row(r, width) for r in results)])


def markdown_table(results: list[Result]) -> str:
    """The README form: one row per result, notes kept (they say what the baseline is)."""
    lines = [
        "| benchmark | value | baseline | ratio | unit | note |",
        "|---|---:|---:|---:|---|---|",
    ]
    for r in results:
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}"
        value, base = format_value(r.value), format_value(r.baseline)
        lines.append(f"| {r.name} | {value} | {base} | {ratio} | {r.unit} | {r.note} |")
    return "\n".join(lines)


def write_results(path: Path, results: list[Result]) -> None:
    """Write ``results`` to ``path``, keeping rows of benchmarks this run did not measure
    (``make bench-ingest`` adds its row beside the ones ``make bench`` wrote)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [r.as_dict() for r in results]
    fresh = {row["name"] for row in rows}
    try:
        kept = [row for row in json.loads(path.read_text()) if row.get("name") not in fresh]
    except (OSError, ValueError, AttributeError, TypeError):
        kept = []
    path.write_text(json.dumps(kept + rows, indent=2) + "\n")


def read_results(path: Path) -> list[Result]:
    return [Result(**row) for row in json.loads(path.read_text())]
