"""python manage.py export_customers [FILE.csv] [--business-unit CODE]"""

import sys

from django.core.management.base import BaseCommand

from audit.context import acting_as
from audit.services import audited_stream
from customers.exporting import customer_csv_rows
from customers.selectors import customer_list


class Command(BaseCommand):
    help = "Export live customers with their identities as CSV (to a file, or stdout with '-')."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default="-")
        parser.add_argument("--business-unit", default="")
        parser.add_argument("--q", default="", help="Text query as in the customer list.")

    def handle(self, *args, **options):
        queryset = customer_list(business_unit=options["business_unit"], q=options["q"])
        if options["file"] == "-":
            self._write(queryset, sys.stdout)
            return
        with open(options["file"], "w", encoding="utf-8", newline="") as handle:
            count = self._write(queryset, handle)
        self.stdout.write(f"{count:,} customers written to {options['file']}")

    @staticmethod
    def _write(queryset, target) -> int:
        """Write the CSV; the audit log records the export with its row count."""
        lines = 0
        with acting_as(source="command"):
            for line in audited_stream(customer_csv_rows(queryset), action="customers.export_csv"):
                target.write(line)
                lines += 1
        return max(lines - 1, 0)
