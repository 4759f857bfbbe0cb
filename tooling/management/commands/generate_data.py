import argparse
import os
import sys
import time
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tooling.datagen.generator import Spec
from tooling.datagen.loader import load

ORM_LIMIT = 1_000_000  # interactions; past this the SQLite/ORM path is too slow to be useful


class Command(BaseCommand):
    help = (
        "Generate realistic customers, identities, consents, interactions and survey responses "
        "(deterministic for a seed). Loads with COPY on PostgreSQL, bulk ORM inserts on SQLite."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, required=True, help="Customer profiles to create.")
        parser.add_argument("--interactions", type=int, required=True, help="Interactions to create (exact).")
        parser.add_argument(
            "--responses", type=int, default=0, help="Survey responses (needs metrics surveys)."
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=2026,
            help="Random seed: same seed and --as-of, same data (ids continue after existing rows).",
        )
        parser.add_argument(
            "--as-of",
            type=date.fromisoformat,
            default=None,
            help="Last day of the 24-month window, YYYY-MM-DD (default: today, UTC).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=max(1, min(4, (os.cpu_count() or 2) - 1)),
            help="Generator processes feeding COPY on PostgreSQL; 0 generates in-process "
            "(default: CPUs - 1, at most 4).",
        )
        parser.add_argument("--chunk-size", type=int, default=5000, help="Customers per chunk.")
        parser.add_argument(
            "--defer-indexes",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="PostgreSQL: drop secondary indexes and foreign keys during the load and rebuild them "
            "after (default: on from 1,000,000 interactions).",
        )

    def handle(self, *args, customers, interactions, responses, seed, as_of, workers, chunk_size, **options):
        defer_indexes = options["defer_indexes"]
        if customers < 1 or interactions < 0 or responses < 0 or workers < 0:
            raise CommandError("--customers must be at least 1; counts cannot be negative.")
        if connection.vendor != "postgresql" and interactions > ORM_LIMIT:
            raise CommandError(
                f"More than {ORM_LIMIT:,} interactions needs PostgreSQL (COPY); set DATABASE_URL=postgres://…"
            )
        spec = Spec(
            customers=customers, interactions=interactions, seed=seed, responses=responses, as_of=as_of
        )
        path = "COPY" if connection.vendor == "postgresql" else "ORM bulk inserts"
        self.stdout.write(
            f"Generating {customers:,} customers and {interactions:,} interactions "
            f"(seed {seed}, {path} on {connection.vendor}) …"
        )
        started = time.perf_counter()
        result = load(
            spec,
            workers=workers,
            chunk_size=chunk_size,
            progress=self._progress(started),
            defer_indexes=defer_indexes,
        )
        if self._tty:
            self.stdout.write("")
        if result.responses_skipped:
            self.stderr.write(f"Survey responses skipped: {result.responses_skipped}.")
        for key, count in result.rows.items():
            self.stdout.write(f"  {key:<13} {count:>12,}")
        rate = result.total_rows / result.seconds if result.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.total_rows:,} rows in {result.seconds:.1f} s ({rate:,.0f} rows/s)."
            )
        )

    @property
    def _tty(self) -> bool:
        return sys.stdout.isatty()

    def _progress(self, started: float):
        last = {"shown": -1.0}

        def show(done_customers: int, customers: int, done_interactions: int, interactions: int) -> None:
            share = done_customers / customers if customers else 1.0
            if not self._tty and share < 1.0 and share - last["shown"] < 0.1:
                return
            last["shown"] = share
            elapsed = time.perf_counter() - started
            width = 30
            bar = "#" * int(share * width) + "-" * (width - int(share * width))
            line = (
                f"[{bar}] {share:6.1%}  customers {done_customers:,}/{customers:,}  "
                f"interactions {done_interactions:,}/{interactions:,}  {elapsed:5.0f} s"
            )
            if self._tty:
                self.stdout.write("\r" + line, ending="")
                self.stdout.flush()
            else:
                self.stdout.write(line)

        return show
