"""python manage.py import_customers FILE.csv --source CODE [--business-unit CODE]"""

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from customers.importing import (
    ImportFileError,
    count_rows,
    import_customers,
    schedule_recompute,
    write_error_report,
)

EXIT_ROWS_REJECTED = 2


class Command(BaseCommand):
    help = (
        "Import customers from a CSV file: columns are mapped by name (email, phone, "
        "customer_id/external_id, first_name, last_name, ...; others become attributes), "
        "each row is resolved against existing customers (merging per the merge rules), "
        "and rejected values are written to an error report. "
        "Safe to re-run. Exit codes: 0 all rows imported, 1 the file could not be imported, "
        f"{EXIT_ROWS_REJECTED} some rows or values were rejected (see the report)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file (UTF-8; comma, semicolon or tab separated).")
        parser.add_argument(
            "--source", required=True, help="Source system code: namespace of its external ids."
        )
        parser.add_argument("--business-unit", default="", help="Business unit code the customers belong to.")
        parser.add_argument(
            "--errors", default="", help="Where to write the error report (default: FILE.errors.csv)."
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=TARGET",
            help="Map a column explicitly, e.g. --map 'Mobile Nr=phone' or --map 'Tier=attributes.tier'.",
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        overrides = {}
        for item in options["map"]:
            column, sep, target = item.partition("=")
            if not sep or not column or not target:
                raise CommandError(f"--map needs COLUMN=TARGET, got {item!r}")
            overrides[column] = target
        total = count_rows(str(path))
        started = time.monotonic()
        interactive = self.stdout.isatty() if hasattr(self.stdout, "isatty") else sys.stdout.isatty()

        def progress(done: int) -> None:
            elapsed = max(time.monotonic() - started, 1e-6)
            share = done / total if total else 1
            bar = "#" * int(share * 30)
            line = f"[{bar:<30}] {done:,}/{total:,} rows ({share:.0%}) {done / elapsed:,.0f} rows/s"
            if interactive:
                self.stdout.write("\r" + line, ending="")
            else:
                self.stdout.write(line)
            self.stdout.flush()

        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                result = import_customers(
                    stream,
                    source=options["source"],
                    business_unit=options["business_unit"],
                    file_name=path.name,
                    overrides=overrides,
                    progress=progress,
                    batch_size=options["batch_size"],
                    recompute=False,
                )
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}") from exc
        if interactive:
            self.stdout.write("")
        self.stdout.write(
            f"{result.rows:,} rows in {result.seconds:.1f}s ({result.rate:,.0f} rows/s): "
            f"{result.created:,} created, {result.matched:,} matched, {result.merged:,} merged, "
            f"{result.rejected_rows:,} rows rejected, {result.rejected_values:,} values rejected."
        )
        recompute_started = time.monotonic()
        schedule_recompute()
        self.stdout.write(
            f"Segments, journeys and scores for the imported customers: recompute scheduled "
            f"({time.monotonic() - recompute_started:.1f}s; runs in-process when no broker is configured)."
        )
        if result.errors:
            report = Path(options["errors"] or f"{path}.errors.csv")
            with report.open("w", encoding="utf-8", newline="") as handle:
                write_error_report(result.errors, handle)
            self.stderr.write(f"{len(result.errors):,} problems written to {report}")
            raise CommandError("Some rows or values were rejected.", returncode=EXIT_ROWS_REJECTED)
        self.stdout.write(self.style.SUCCESS("Import finished without errors."))
