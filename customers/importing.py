"""CSV import of customers: map columns, normalise, resolve in batches, report rejected values.

Safe to re-run: every row resolves through its identities, so a second run finds the
customers the first one created. Used by ``manage.py import_customers`` and the admin.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from cxhub import csvsafe

from .identities import InvalidIdentity, normalize_identity
from .models import BusinessUnit, Customer, IdentityKind, ImportRun, LifecycleStage
from .services import resolve_customers

BATCH_SIZE = 1000
KEPT_ERRORS = 500

# Accepted header spellings (lower-cased, spaces/dashes as underscores) per target.
COLUMN_ALIASES = {
    "email": ("email", "e_mail", "email_address", "mail"),
    "phone": ("phone", "phone_number", "mobile", "mobile_phone", "telephone", "tel", "msisdn"),
    "external_id": ("external_id", "customer_id", "customer_number", "account_id", "crm_id", "id"),
    "anonymous_id": ("anonymous_id",),
    "device_id": ("device_id",),
    "first_name": ("first_name", "firstname", "given_name", "forename"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "lifecycle_stage": ("lifecycle_stage", "stage", "status"),
    "language": ("language", "lang", "locale"),
    "preferred_channel": ("preferred_channel", "channel"),
}
IDENTITY_TARGETS = ("email", "phone", "external_id", "anonymous_id", "device_id")
FIELD_LIMITS = {"first_name": 150, "last_name": 150, "language": 10, "preferred_channel": 50}


class ImportFileError(Exception):
    """The file cannot be imported at all (unreadable, no identity column)."""


@dataclass
class RowError:
    row: int
    column: str
    value: str
    error: str

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "error": self.error}


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    matched: int = 0
    merged: int = 0
    rejected_rows: int = 0
    rejected_values: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    run: ImportRun | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def _canonical(header: str) -> str:
    return header.strip().lower().replace(" ", "_").replace("-", "_")


def map_columns(headers: list[str], overrides: dict[str, str] | None = None) -> dict[str, str]:
    """{csv header: target}; a target is an identity kind, a profile field or ``attributes.<key>``."""
    lookup = {alias: target for target, aliases in COLUMN_ALIASES.items() for alias in aliases}
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        if not header:
            continue
        if overrides and header in overrides:
            target = overrides[header]
        else:
            target = lookup.get(_canonical(header)) or f"attributes.{_canonical(header)}"
        if target in taken and not target.startswith("attributes."):
            target = f"attributes.{_canonical(header)}"  # a second email column etc. is kept as data
        taken.add(target)
        mapping[header] = target
    if not any(t in IDENTITY_TARGETS for t in mapping.values()):
        raise ImportFileError(
            "No identity column found: the file needs at least one of email, phone, external_id "
            f"(or customer_id), anonymous_id, device_id. Columns seen: {', '.join(h for h in headers if h)}."
        )
    return mapping


def open_csv(stream: io.TextIOBase) -> csv.DictReader:
    sample = stream.read(8192)
    if "\x00" in sample:
        raise ImportFileError("This is not a text CSV file (it contains NUL bytes).")
    stream.seek(0)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(stream, dialect=dialect)
    if not reader.fieldnames:
        raise ImportFileError("The file is empty or has no header row.")
    return reader


@dataclass
class _ParsedRow:
    number: int
    identities: list[tuple[str, str, str]]
    fields: dict
    attributes: dict


def parse_row(number: int, row: dict, mapping: dict[str, str], namespace: str, errors: list[RowError]):
    identities, fields, attributes = [], {}, {}
    for header, target in mapping.items():
        raw = row.get(header)
        if raw is None:
            continue
        value = raw.strip()
        if not value:
            continue
        if target in IDENTITY_TARGETS:
            try:
                identities.append(
                    normalize_identity(target, value, namespace if target == "external_id" else "")
                )
            except InvalidIdentity as exc:
                errors.append(RowError(number, header, value[:200], exc.message))
        elif target.startswith("attributes."):
            attributes[target.removeprefix("attributes.")] = value[:1000]
        elif target == "lifecycle_stage":
            stage = _canonical(value)
            if stage in LifecycleStage.values:
                fields["lifecycle_stage"] = stage
            else:
                errors.append(RowError(number, header, value[:200], f"Unknown lifecycle stage {value!r}."))
        else:
            fields[target] = value[: FIELD_LIMITS.get(target, 150)]
    return _ParsedRow(number, identities, fields, attributes)


def import_customers(
    stream: io.TextIOBase,
    *,
    source: str,
    business_unit: str = "",
    file_name: str = "",
    overrides: dict[str, str] | None = None,
    actor=None,
    progress: Callable[[int], None] | None = None,
    batch_size: int = BATCH_SIZE,
    recompute: bool = True,
) -> ImportResult:
    """Import a CSV stream; returns counts and every rejected value (the row error report)."""
    if not source:
        raise ImportFileError("A source code is required (the namespace of external ids).")
    unit = None
    if business_unit:
        unit = BusinessUnit.objects.filter(code=business_unit).first()
        if unit is None:
            raise ImportFileError(f"Unknown business unit {business_unit!r}.")
    reader = open_csv(stream)
    mapping = map_columns(list(reader.fieldnames or []), overrides)
    result = ImportResult()
    run = ImportRun.objects.create(file_name=file_name[:255], source=source, business_unit=unit, actor=actor)
    started = time.monotonic()
    for batch in _batches(_numbered(reader), batch_size):
        parsed = []
        for number, row in batch:
            before = len(result.errors)
            item = parse_row(number, row, mapping, source, result.errors)
            result.rejected_values += len(result.errors) - before
            if not item.identities:
                if len(result.errors) == before:
                    result.errors.append(RowError(number, "", "", "No identity value in this row."))
                result.rejected_rows += 1
                continue
            parsed.append(item)
        result.rows += len(batch)
        _import_batch(parsed, source=source, unit=unit, result=result, actor=actor)
        if progress:
            progress(result.rows)
    result.seconds = time.monotonic() - started
    if recompute:
        schedule_recompute()
    run.rows, run.created, run.matched, run.merged = (
        result.rows,
        result.created,
        result.matched,
        result.merged,
    )
    run.rejected_rows, run.rejected_values = result.rejected_rows, result.rejected_values
    run.errors = [e.as_dict() for e in result.errors[:KEPT_ERRORS]]
    run.finished_at = timezone.now()
    run.save()
    result.run = run
    return result


def _numbered(reader: csv.DictReader) -> Iterator[tuple[int, dict]]:
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as exc:  # NUL bytes, a field over the size limit: the rest cannot be read
        raise ImportFileError(
            f"Line {reader.line_num}: {exc}. Rows before it were imported; fix the file and re-run."
        ) from exc


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@transaction.atomic
def _import_batch(rows: list[_ParsedRow], *, source: str, unit, result: ImportResult, actor) -> None:
    if not rows:
        return
    resolutions = resolve_customers(
        identity_sets=[r.identities for r in rows],
        traits=[{**r.attributes, **r.fields} for r in rows],
        source=source,
        actor=actor,
        schedule_dirty=False,
    )
    for resolution in resolutions:
        if resolution.created:
            result.created += 1
        else:
            result.matched += 1
        result.merged += len(resolution.merged_ids)
    if unit is not None:
        through = Customer.business_units.through
        through.objects.bulk_create(
            [through(customer_id=r.customer_id, businessunit_id=unit.pk) for r in resolutions],
            ignore_conflicts=True,
        )


def schedule_recompute() -> None:
    """Ask the workers to process the customers the import marked dirty (eager: runs now)."""
    from .pipeline import schedule_processing

    schedule_processing()


def write_error_report(errors: list[RowError], stream) -> None:
    writer = csvsafe.writer(stream)
    writer.writerow(["row", "column", "value", "error"])
    for error in errors:
        writer.writerow([error.row, error.column, error.value, error.error])


def count_rows(path: str) -> int:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        return max(0, sum(1 for _ in handle) - 1)


__all__ = ["IdentityKind", "ImportFileError", "ImportResult", "import_customers", "write_error_report"]
