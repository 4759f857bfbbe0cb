"""Import survey responses from a CSV file (idempotent on the survey and external_id)."""

import csv
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.dateparse import parse_datetime

from cxhub.errors import DomainError
from metrics.models import Survey
from metrics.services import record_response

IDENTITY_COLUMNS = ("email", "phone", "anonymous_id", "device_id")


class Command(BaseCommand):
    help = (
        "Import responses for one survey from a CSV with columns external_id, score, responded_at "
        "(ISO 8601), optional comment, channel, touchpoint, business_unit, interaction_id, and the "
        "customer as customer_id or identity columns (email, phone, anonymous_id, device_id, "
        "customer_external_id + namespace). "
        "Re-importing a file adds nothing. Exit code 1 when any row failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("survey_id", type=int)
        parser.add_argument("csv_path", help="Path to the CSV file, or - for standard input.")

    def handle(self, *args, survey_id: int, csv_path: str, **options):
        survey = Survey.objects.filter(pk=survey_id).first()
        if survey is None:
            raise CommandError(f"Survey {survey_id} does not exist.")
        handle = sys.stdin if csv_path == "-" else open(csv_path, newline="", encoding="utf-8")  # noqa: SIM115
        counts = {"created": 0, "duplicate": 0, "error": 0}
        with handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                try:
                    with transaction.atomic():
                        recorded = record_response(survey=survey, source="import", **_fields(row))
                except DomainError as exc:
                    counts["error"] += 1
                    self.stderr.write(f"line {line}: {exc.field or 'row'}: {exc.message}")
                    continue
                counts["created" if recorded.created else "duplicate"] += 1
                done = sum(counts.values())
                if done % 500 == 0:
                    self.stdout.write(f"  {done} rows …")
        self.stdout.write(
            f"{counts['created']} created, {counts['duplicate']} already present, {counts['error']} errors"
        )
        if counts["error"]:
            raise SystemExit(1)


def _fields(row: dict) -> dict:
    row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
    if not row.get("external_id"):
        raise DomainError("external_id is required.", field="external_id")
    try:
        score = int(row.get("score", ""))
    except ValueError as exc:
        raise DomainError("score must be a whole number.", field="score") from exc
    responded_at = parse_datetime(row.get("responded_at", ""))
    if responded_at is None:
        raise DomainError("responded_at must be an ISO 8601 datetime.", field="responded_at")
    fields = {
        "external_id": row["external_id"],
        "score": score,
        "responded_at": responded_at,
        "comment": row.get("comment", ""),
        "channel": row.get("channel", ""),
        "touchpoint": row.get("touchpoint", ""),
        "business_unit": row.get("business_unit", ""),
    }
    if row.get("interaction_id", "").isdigit():
        fields["interaction_id"] = int(row["interaction_id"])
    if row.get("customer_id"):
        fields["customer_id"] = row["customer_id"]
    else:
        customer = {k: row[k] for k in IDENTITY_COLUMNS if row.get(k)}
        if row.get("customer_external_id"):
            customer.update(external_id=row["customer_external_id"], namespace=row.get("namespace", ""))
        fields["customer"] = customer
    return fields
