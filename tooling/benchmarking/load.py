"""(a) Loading the data set: ``generate_data`` (generate + COPY) vs raw COPY of the same rows.

The baseline exports exactly the rows the generator wrote (COPY TO) and loads them again
with COPY into scratch tables with the same columns, defaults and indexes (foreign keys
are not copied by ``LIKE``, so the baseline skips their checks: it is the ceiling).
"""

import os
import tempfile

from tooling.datagen.generator import Spec
from tooling.datagen.loader import DEFER_THRESHOLD, active_tables, load

from . import baseline
from .harness import Run

NAME = "generate_data load (all tables)"


def run(bench: Run) -> None:
    scale = bench.scale
    spec = Spec(
        customers=scale.customers,
        interactions=scale.interactions,
        responses=scale.responses,
        seed=bench.seed,
    )
    workers = max(1, min(4, (os.cpu_count() or 2) - 1))
    bench.log(f"  generating {scale.customers:,} customers / {scale.interactions:,} interactions …")
    result = load(spec, workers=workers)
    bench.state["load"] = result
    if result.responses_skipped:
        bench.log(f"  survey responses skipped: {result.responses_skipped}")
    rows = result.total_rows
    plan = result.plan
    deferred = " (indexes and FKs rebuilt after)" if spec.interactions >= DEFER_THRESHOLD else ""
    seconds = 0.0
    with baseline.raw_cursor() as cursor:
        for table in active_tables(plan):
            db_table = table.model._meta.db_table
            columns = ", ".join(f'"{c}"' for c in table.columns())
            with tempfile.TemporaryFile() as data:
                baseline.export_to_file(cursor, f"SELECT {columns} FROM {db_table}", data)
                scratch = baseline.scratch_table_like(cursor, db_table)
                seconds += baseline.copy_file_in(cursor, scratch, columns, data)
            cursor.execute(f"DROP TABLE {scratch}")
        settle(cursor)
    bench.add(
        NAME,
        rows / result.seconds,
        rows / seconds,
        "rows/s",
        better="higher",
        note=f"{rows:,} rows in {result.seconds:.1f} s{deferred}; raw COPY {seconds:.1f} s into tables "
        "with the same indexes, no FK checks",
    )


def settle(cursor) -> None:
    """Start every later benchmark from a settled database, as a live one would be.

    Right after a bulk load the first reads of each row set its hint bits (writes), and the
    next checkpoint flushes the load's dirty pages in the middle of whatever runs then;
    VACUUM and CHECKPOINT do both now, for our code and the raw baselines alike.
    """
    cursor.execute("VACUUM (ANALYZE)")
    cursor.execute("CHECKPOINT")
