"""Operate the month partitions of interactions (PostgreSQL): status, convert, ensure, detach, revert."""

from datetime import date

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from interactions import partitioning


class Command(BaseCommand):
    help = (
        "Month partitions of interactions (PostgreSQL). Without options: show the partitions. "
        "--convert turns the plain table into the partitioned one, data included (one transaction, "
        "the table locked throughout: a maintenance window); --ensure creates the coming months; "
        "--detach YYYY-MM takes a month out as a plain table for archiving; --revert goes back."
    )

    def add_arguments(self, parser):
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--convert", action="store_true", help="Partition the table by month.")
        action.add_argument("--ensure", action="store_true", help="Create this month's and the coming ones.")
        action.add_argument("--detach", metavar="YYYY-MM", help="Detach one month's partition.")
        action.add_argument("--revert", action="store_true", help="Back to one plain table.")
        parser.add_argument("--months-ahead", type=int, default=settings.INTERACTION_PARTITIONS_AHEAD)
        parser.add_argument(
            "--forget-keys",
            action="store_true",
            help="With --detach: drop the month's idempotency keys too (re-sent events are stored again).",
        )

    def handle(self, *args, convert, ensure, detach, revert, months_ahead, forget_keys, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Partitioning needs PostgreSQL; SQLite keeps one plain table.")
        try:
            if convert:
                partitioning.convert_to_partitioned(months_ahead=months_ahead, log=self._log)
            elif revert:
                partitioning.convert_to_plain(log=self._log)
            elif ensure:
                created = partitioning.ensure_partitions(months_ahead=months_ahead)
                self._log(f"created: {', '.join(created) or 'nothing (all there, or not partitioned)'}")
            elif detach:
                year, month = (int(part) for part in detach.split("-"))
                name = partitioning.detach_partition(month=date(year, month, 1), forget_keys=forget_keys)
                self._log(f"detached {name}: now a plain table; archive it (pg_dump -t {name}) and drop it")
        except (RuntimeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self._status()

    def _status(self) -> None:
        with connection.cursor() as cursor:
            if not partitioning.is_partitioned(cursor):
                self._log(f"{partitioning.TABLE}: one plain table (not partitioned)")
                return
            for name, bound in partitioning.month_partitions(cursor):
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [name])
                self._log(f"{name:<40} ~{max(cursor.fetchone()[0], 0):>12,} rows  {bound}")

    def _log(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
