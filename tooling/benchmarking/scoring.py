"""(f) Value models: nightly refit + rescore of every customer (``scoring.services.run_fit``).

Four rows from one run on the loaded data (as of today, weeks, ``order_placed``):
- fit: BG/NBD + Gamma-Gamma maximum likelihood (seconds; no raw baseline);
- scoring throughput (customers/s): reading the per-customer summary into numpy (binary COPY),
  computing every score and reading every customer's detractor features, against the same
  summary statement run on a bare psycopg connection and fetched (the raw SQL pass reading the
  same per-customer summary), measured in the same run;
- write-back (rows/s): formatting and COPYing the rows into the staging table, the upsert into
  ``scoring_customerscore`` (an update of every row when a pass has run before, as nightly) and
  the month's snapshot, against a raw COPY of the same rows into a scratch table of the same shape
  (same indexes), measured in the same run;
- the whole nightly job end to end (seconds), with the issue's aim (1M customers < 5 minutes).
"""

import tempfile
import time

from django.utils import timezone

from scoring import services
from scoring.models import CustomerScore, RunStatus
from scoring.summary import summary_sql

from . import baseline
from .harness import Run

NAMES = (
    "value models: fit BG/NBD + Gamma-Gamma",
    "value models: scoring throughput (read + compute)",
    "value models: write scores back (COPY + upsert)",
    "value models: nightly refit + rescore, end to end",
)


def run(bench: Run) -> None:
    today = timezone.now().date()
    existing = CustomerScore.objects.count()  # a nightly pass updates every row; the first one inserts
    queued = services.request_fit(calibration_end=today, trigger="bench", queue=False)
    started = time.perf_counter()
    result = services.run_fit(run=queued, progress=lambda stage, done, total: None)
    total = time.perf_counter() - started
    if result.status != RunStatus.SUCCEEDED:
        for name in NAMES:
            bench.skip(name, f"the fit failed: {result.error[:150]}")
        return
    seconds = result.checks["seconds"]
    customers = result.scored_customers
    fit = seconds["fit_bgnbd"] + seconds["fit_gamma_gamma"]
    bench.add(
        NAMES[0],
        fit,
        None,
        "s",
        note=f"{result.n_customers:,} buyers, {result.n_repeat_customers:,} repeat; BG/NBD "
        f"{seconds['fit_bgnbd']:.1f} s, Gamma-Gamma {seconds['fit_gamma_gamma']:.1f} s; "
        f"detractor model {seconds['fit_detractor']:.1f} s ({result.detractor.get('status')})",
    )

    spec = services._spec(result, until=services.end_of_day(today))
    sql, params = summary_sql(spec)
    with baseline.raw_cursor() as cursor:
        mark = time.perf_counter()
        cursor.execute(sql, params)
        raw_rows = len(cursor.fetchall())
        raw_read = time.perf_counter() - mark
    ours = seconds["read_summary"] + seconds["score_compute"] + seconds["score_detractor"]
    check = "same rows" if raw_rows == customers else f"ROWS DIFFER: {customers} vs {raw_rows}"
    # Ours: the summary by binary COPY into numpy, every score, the detractor features of everyone.
    bench.add(
        NAMES[1],
        customers / ours,
        raw_rows / raw_read,
        "customers/s",
        better="higher",
        note=f"{customers:,} customers ({check}): read {seconds['read_summary']:.1f} s, compute "
        f"{seconds['score_compute']:.1f} s, detractor features {seconds['score_detractor']:.1f} s; "
        f"raw summary query {raw_read:.1f} s",
    )

    columns = ", ".join(f'"{c.column}"' for c in CustomerScore._meta.concrete_fields)
    with baseline.raw_cursor() as cursor, tempfile.TemporaryFile() as data:
        baseline.export_to_file(cursor, f"SELECT {columns} FROM scoring_customerscore", data)
        scratch = baseline.scratch_table_like(cursor, "scoring_customerscore")
        copy_seconds = baseline.copy_file_in(cursor, scratch, columns, data)
        cursor.execute(f"DROP TABLE {scratch}")
    bench.add(
        NAMES[2],
        customers / seconds["write"],
        customers / copy_seconds,
        "rows/s",
        better="higher",
        note=f"{customers:,} rows in {seconds['write']:.1f} s: COPY text formatted "
        f"{seconds.get('write_format', 0):.1f} s, COPY into staging {seconds.get('write_copy', 0):.1f} s, "
        f"{_method(result.checks.get('write_method'), existing)} {seconds.get('write_upsert', 0):.1f} s, "
        f"monthly snapshot {seconds.get('write_snapshot', 0):.1f} s; "
        f"raw COPY into a scratch copy of the table {copy_seconds:.1f} s",
    )
    bench.add(
        NAMES[3],
        total,
        None,
        "s",
        note=f"{customers:,} customers read, fitted, scored and written in one transaction; "
        "aim for 1M customers: < 300 s on 2 cores",
    )


def _method(method: str | None, existing: int) -> str:
    if method == "swap":
        return f"new scores table built and swapped in (for {existing:,} rows)"
    return f"upsert ({'updating' if existing else 'inserting'} rows, {method}) + delete stale"
