"""Every CSV the product writes goes through here, so no cell can run as a spreadsheet formula.

OWASP's rule for CSV injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return gets a leading ``'``, which spreadsheets show but never evaluate. Numbers,
dates and other non-text values are written as they are.
"""

import csv
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """The value to write in a CSV cell (text that could start a formula gets a leading ')."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeWriter:
    """``csv.writer`` whose rows are escaped cell by cell; ``writerow`` returns what the stream's
    ``write`` returns (so an echo stream can feed a streaming response)."""

    def __init__(self, stream, **options):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable]) -> None:
        for row in rows:
            self.writerow(row)


def writer(stream, **options) -> SafeWriter:
    return SafeWriter(stream, **options)
