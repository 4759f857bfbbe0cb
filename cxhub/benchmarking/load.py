"""(a) Loading the data set: ``generate_data`` (generate + COPY) vs raw COPY of the same rows.

The baseline exports exactly the rows the generator wrote (COPY TO) and loads them again
with COPY into scratch tables with the same columns, defaults and indexes (foreign keys
are not copied by ``LIKE``, so the baseline skips their checks: it is the ceiling).
"""

import os
import time

from cxhub.datagen.generator import Spec
from cxhub.datagen.loader import active_tables, load

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
    seconds = 0.0
    with baseline.raw_cursor() as cursor:
        for table in active_tables(plan):
            db_table = table.model._meta.db_table
            columns = ", ".join(f'"{c}"' for c in table.columns())
            data = baseline.export_copy(cursor, f"SELECT {columns} FROM {db_table}")
            scratch = baseline.scratch_table_like(cursor, db_table)
            seconds += _timed_copy(cursor, scratch, columns, data)
            cursor.execute(f"DROP TABLE {scratch}")
    bench.add(
        NAME,
        rows / result.seconds,
        rows / seconds,
        "rows/s",
        better="higher",
        note=f"{rows:,} rows in {result.seconds:.1f} s; raw COPY {seconds:.1f} s (no FK checks)",
    )


def _timed_copy(cursor, table: str, columns: str, data: bytes) -> float:
    started = time.perf_counter()
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        copy.write(data)
    return time.perf_counter() - started
