"""CSV formula injection: every CSV the product writes escapes text cells by OWASP's rule."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.conf import settings

from customers.models import Customer
from cxhub.csvsafe import safe_cell
from segments.models import Segment, SegmentMembership

PAYLOADS = [
    '=0+HYPERLINK("http://evil.example","x")',
    "-1+cmd|' /C calc'!A0",
    "+1+1",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_safe_cell_prefixes_every_formula_start(payload):
    assert safe_cell(payload) == "'" + payload


@pytest.mark.parametrize("value", ["Ann", "", "1-2", "ann@example.com", 42, -5, None])
def test_safe_cell_leaves_other_values_alone(value):
    assert safe_cell(value) == value


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _assert_no_formula(rows: list[list[str]]):
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


@pytest.fixture
def evil_customers(db):
    return [
        Customer.objects.create(first_name=payload, last_name=payload, attributes={"note": payload})
        for payload in PAYLOADS
    ]


def test_customer_export_escapes_every_payload(evil_customers, api_client_with):
    response = api_client_with("customers:read").get("/api/v1/customers/export.csv")
    rows = _cells(b"".join(response.streaming_content).decode())
    _assert_no_formula(rows)
    assert {row[1] for row in rows[1:]} == {"'" + p for p in PAYLOADS}


def test_segment_members_csv_escapes_every_payload(evil_customers, api_client_with):
    segment = Segment.objects.create(slug="evil", name="Evil", kind="static")
    from django.utils import timezone

    SegmentMembership.objects.bulk_create(
        SegmentMembership(segment=segment, customer=c, since=timezone.now()) for c in evil_customers
    )
    response = api_client_with("segments:read").get(f"/api/v1/segments/{segment.pk}/members.csv")
    rows = _cells(b"".join(response.streaming_content).decode())
    _assert_no_formula(rows)
    assert {row[1] for row in rows[1:]} == {"'" + p for p in PAYLOADS}


def test_import_error_report_escapes_the_rejected_values(db, tmp_path):
    from django.core.management import CommandError, call_command

    from customers.models import BusinessUnit

    BusinessUnit.objects.get_or_create(code="shop", defaults={"name": "Shop"})
    source = tmp_path / "people.csv"
    source.write_text("email,first_name\n=1+1@x,Ann\n")
    with pytest.raises(CommandError):
        call_command("import_customers", str(source), "--source", "shop", stdout=io.StringIO())
    report = (tmp_path / "people.csv.errors.csv").read_text()
    _assert_no_formula(_cells(report))
    assert "'=1+1@x" in report


def test_no_code_writes_csv_except_through_the_escaping_writer():
    """A new CSV writer must use cxhub.csvsafe (this walks the project's own code)."""
    root = Path(settings.BASE_DIR)
    offenders = []
    for path in root.rglob("*.py"):
        relative = path.relative_to(root).as_posix()
        if relative.startswith((".venv/", "tests/", "staticfiles/")) or relative == "cxhub/csvsafe.py":
            continue
        if re.search(r"csv\.(writer|DictWriter)\(", path.read_text(errors="replace")):
            offenders.append(relative)
    assert offenders == [], f"write CSV with cxhub.csvsafe.writer: {offenders}"
