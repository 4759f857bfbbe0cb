"""Run the benchmarks in order inside the bench database and collect their results."""

import importlib
import traceback
from collections.abc import Callable

from .harness import Result, Run, Scale

BENCHMARKS = ("load", "ingest", "page360", "segments", "nps", "campaigns", "scoring")
# Run only when asked for with --only (they start servers): `make bench-ingest`, `make bench-load`.
ON_REQUEST = ("ingest_http", "load_agents")


def run_benchmarks(
    scale: Scale,
    *,
    seed: int,
    only: list[str] | None = None,
    log: Callable[[str], None] = print,
    partitioned: bool = False,
    reuse: bool = False,
) -> list[Result]:
    """Every benchmark in ``BENCHMARKS`` (``load`` always: the others need its data, unless
    ``reuse`` says an earlier run loaded it); with ``partitioned`` the interactions table is
    partitioned by month right after the load."""
    bench = Run(scale=scale, seed=seed, log=log, reuse=reuse)
    if reuse:
        log("[reusing the data set loaded by an earlier run]")
        _settle(log)
    for name in BENCHMARKS + ON_REQUEST:
        if name in ON_REQUEST and name not in (only or ()):
            continue
        if name == "load" and reuse:
            continue
        if only and name not in only and name != "load":
            continue
        log(f"[{name}]")
        module = importlib.import_module(f"{__package__}.{name}")
        try:
            module.run(bench)
        except Exception as exc:
            # A broken benchmark is reported as such; it never stops the others or invents a number.
            log(traceback.format_exc())
            if name == "load":
                raise
            bench.skip(f"{name}", f"error: {type(exc).__name__}: {str(exc)[:200]}")
        if name == "load" and partitioned:
            from interactions.partitioning import convert_to_partitioned

            log("[partition interactions by month]")
            convert_to_partitioned(log=lambda line: None)
            log("  partitioned")
            _settle(log)
    return bench.results


def _settle(log) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
    log("  vacuumed and checkpointed")
