import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from tooling.benchmarking.harness import SCALES, format_table, markdown_table, read_results, write_results
from tooling.benchmarking.runner import BENCHMARKS, ON_REQUEST, run_benchmarks

DEFAULT_URL = "postgres://root@127.0.0.1:5432/cxhub_bench"


class Command(BaseCommand):
    help = (
        "Run every benchmark against PostgreSQL in a database of its own (created, migrated, loaded "
        "with generated data, dropped afterwards), each with its raw-PostgreSQL baseline measured in "
        "the same run; print one table and write bench/results.json."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", choices=sorted(SCALES), default="small", help="Data size (default small)."
        )
        parser.add_argument(
            "--database-url",
            default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
            help="PostgreSQL URL of the bench database; it is DROPPED and re-created "
            "(default $BENCH_DATABASE_URL or %(default)s).",
        )
        parser.add_argument("--output", type=Path, default=settings.BASE_DIR / "bench" / "results.json")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--only", nargs="*", choices=BENCHMARKS + ON_REQUEST, help="Run only these (load always runs)."
        )
        parser.add_argument("--keep-db", action="store_true", help="Keep the bench database afterwards.")
        parser.add_argument(
            "--reuse-db",
            action="store_true",
            help="Reuse the data set an earlier --keep-db run of the same scale left in the bench "
            "database: migrate it, skip the load, run the benchmarks, keep the database.",
        )
        parser.add_argument(
            "--partitioned",
            action="store_true",
            help="Partition interactions by month after loading (partition_interactions --convert).",
        )
        parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args, **options):
        if options["inside"]:
            return self._inside(**options)
        url = options["database_url"]
        parts = urlsplit(url)
        name = parts.path.lstrip("/")
        if parts.scheme not in ("postgres", "postgresql", "pgsql") or not name:
            raise CommandError(f"--database-url must be a postgres:// URL with a database name, not {url!r}")
        main = settings.DATABASES["default"]
        if (
            settings.USING_POSTGRES
            and main.get("NAME") == name
            and (main.get("HOST") or "") == (parts.hostname or "")
        ):
            raise CommandError(f"Refusing to use the application database {name!r} for benchmarks.")
        admin_url = urlunsplit(parts._replace(path="/postgres"))
        reuse = options["reuse_db"]
        if reuse:
            if not self._exists(admin_url, name):
                raise CommandError(f"--reuse-db: no bench database {name!r}; run once with --keep-db.")
            self.stdout.write(f"Bench database {name!r}: reusing its data set …")
        else:
            self.stdout.write(f"Bench database {name!r}: creating …")
            self._recreate(admin_url, name)
        # Tasks are queued in memory and never run, as with a broker and busy workers: a benchmark
        # times the request or service itself, not the work it hands to Celery.
        env = dict(
            os.environ,
            DATABASE_URL=url,
            CELERY_BROKER_URL="memory://",
            CELERY_RESULT_BACKEND="cache+memory://",
            DEBUG="false",
            # The load test starts real workers: they need a real broker.
            BENCH_BROKER_URL=os.environ.get("BENCH_BROKER_URL") or os.environ.get("CELERY_BROKER_URL", ""),
        )
        command = [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "bench",
            "--inside",
            "--scale",
            options["scale"],
            "--output",
            str(options["output"]),
            "--seed",
            str(options["seed"]),
        ]
        if options["only"]:
            command += ["--only", *options["only"]]
        if options["partitioned"]:
            command.append("--partitioned")
        if reuse:
            command.append("--reuse-db")
        try:
            code = subprocess.run(command, env=env, check=False).returncode
        finally:
            if not (options["keep_db"] or reuse):
                self._drop(admin_url, name)
        if code:
            raise CommandError(f"The benchmark run failed (exit code {code}).")

    @staticmethod
    def _recreate(admin_url: str, name: str) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')

    @staticmethod
    def _exists(admin_url: str, name: str) -> bool:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None

    @staticmethod
    def _drop(admin_url: str, name: str) -> None:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _inside(self, *, scale, output, seed, only, partitioned=False, reuse_db=False, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Benchmarks run against PostgreSQL only.")
        started = time.perf_counter()
        self.stdout.write("Migrating …")
        call_command("migrate", verbosity=0, interactive=False)
        results = run_benchmarks(
            SCALES[scale], seed=seed, only=only, log=self._log, partitioned=partitioned, reuse=reuse_db
        )
        self.stdout.write("")
        self.stdout.write(format_table(results))
        write_results(output, results)
        machine = self._machine()
        snippet = output.with_suffix(".md")
        snippet.write_text(
            f"Scale `{scale}` ({SCALES[scale].customers:,} customers, {SCALES[scale].interactions:,} "
            f"interactions), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine}.\n\n"
            f"{markdown_table(read_results(output))}\n"
        )
        self.stdout.write(f"\nMachine: {machine}")
        self.stdout.write(
            self.style.SUCCESS(f"Wrote {output} and {snippet} in {time.perf_counter() - started:.0f} s.")
        )

    def _log(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()

    @staticmethod
    def _machine() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0].split()[0]
        memory = ""
        try:
            with open("/proc/meminfo") as meminfo:
                kib = int(meminfo.readline().split()[1])
            memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
        except (OSError, ValueError, IndexError):
            pass
        return f"{os.cpu_count()} CPUs{memory}, PostgreSQL {version}, Python {platform.python_version()}"
