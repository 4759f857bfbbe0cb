import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from customers.models import Customer, Identity, ImportRun
from tests.factories import BusinessUnitFactory, IdentityFactory

pytestmark = pytest.mark.django_db

MESSY = """Customer ID,E-mail,Mobile,First Name,Surname,Stage,Tier
R-1, Ann.Lee@Example.com ,020 7946 0018,Ann,Lee,active,gold
R-2,bob@example.org,not-a-phone,Bob,Stone,Active,silver
R-3,,,Cara,,zombie,
,,12,Nobody,,,
R-1,ann.lee@example.com,,Ann,Lee-Smith,,gold
R-4,ANN.LEE@EXAMPLE.COM,,,,,
R-5,dave@example,+44 20 7946 0019,Dave,,,bronze
"""


def run_import(tmp_path, content, *args):
    path = tmp_path / "customers.csv"
    path.write_text(content, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_customers", str(path), *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    return code, out.getvalue(), err.getvalue(), path


def test_messy_csv_imports_good_rows_and_reports_the_rest(tmp_path):
    unit = BusinessUnitFactory(code="retail")
    code, out, err, path = run_import(tmp_path, MESSY, "--source", "retail", "--business-unit", "retail")
    assert code == 2, (out, err)
    assert "7 rows" in out and "rows/s" in out
    report = list(csv.DictReader((tmp_path / "customers.csv.errors.csv").open()))
    problems = {(r["row"], r["column"]) for r in report}
    assert ("3", "Mobile") in problems  # bad phone rejected, row kept
    assert ("4", "Stage") in problems  # unknown lifecycle stage
    assert ("5", "Mobile") in problems  # a row whose only identity is invalid
    assert ("8", "E-mail") in problems  # invalid email
    ann = Customer.objects.get(email="ann.lee@example.com")
    assert ann.phone == "+442079460018" and ann.last_name == "Lee-Smith"  # the later row updated it
    assert ann.attributes == {"tier": "gold"}
    assert set(ann.identities.filter(kind="external_id").values_list("value", flat=True)) == {"R-1"}
    # R-4 shares Ann's email; the default rules allow one customer id per source on a profile,
    # so R-4 is not attached and no second profile is created for it.
    assert not Identity.objects.filter(value="R-4").exists()
    bob = Customer.objects.get(email="bob@example.org")
    assert bob.phone == "" and bob.lifecycle_stage == "active"
    assert Customer.objects.get(identities__value="R-3").first_name == "Cara"
    assert Customer.objects.filter(business_units=unit).count() == Customer.objects.count()
    run = ImportRun.objects.get()
    assert run.rows == 7 and run.rejected_rows == 1 and run.rejected_values >= 4
    assert len(run.errors) == len(report)


def test_rerunning_an_import_creates_no_duplicates(tmp_path):
    run_import(tmp_path, MESSY, "--source", "retail")
    customers, identities = Customer.objects.count(), Identity.objects.count()
    code, out, _, _ = run_import(tmp_path, MESSY, "--source", "retail")
    assert code == 2
    assert "0 created" in out
    assert (Customer.objects.count(), Identity.objects.count()) == (customers, identities)


def test_import_merges_with_existing_customers(tmp_path):
    by_email = IdentityFactory(kind="email", value="ann@example.org").customer
    by_phone = IdentityFactory(kind="phone", value="+442079460018").customer
    code, out, _, _ = run_import(tmp_path, "email;phone\nann@example.org;02079460018\n", "--source", "crm")
    assert code == 0, out
    assert "1 merged" in out
    by_phone.refresh_from_db()
    assert by_phone.merged_into_id == by_email.pk


def test_file_without_identity_columns_is_refused_clearly(tmp_path):
    code, _, err, _ = run_import(tmp_path, "name,city\nAnn,Leeds\n", "--source", "crm")
    assert code == 1
    assert "No identity column" in err and "name, city" in err
    assert not Customer.objects.exists()


def test_unknown_business_unit_and_missing_file_are_errors(tmp_path):
    code, _, err, _ = run_import(
        tmp_path, "email\na@example.org\n", "--source", "crm", "--business-unit", "nope"
    )
    assert code == 1 and "Unknown business unit" in err
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_customers", str(tmp_path / "missing.csv"), "--source", "crm")


def test_explicit_column_mapping(tmp_path):
    code, _, _, _ = run_import(
        tmp_path,
        "Handy,Kundennr\n02079460018,K-9\n",
        "--source",
        "crm",
        "--map",
        "Handy=phone",
        "--map",
        "Kundennr=external_id",
    )
    assert code == 0
    customer = Customer.objects.get()
    assert customer.phone == "+442079460018"
    assert customer.identities.get(kind="external_id").value == "K-9"


def test_export_command_writes_customers_with_identities(tmp_path):
    IdentityFactory(kind="email", value="ann@example.org")
    target = tmp_path / "out.csv"
    out = io.StringIO()
    call_command("export_customers", str(target), stdout=out)
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 1 and rows[0]["emails"] == "ann@example.org"
    assert "1 customers written" in out.getvalue()


def test_binary_and_non_utf8_files_are_refused(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"email\x00,phone\n\x00\x01\x02")
    with pytest.raises(CommandError, match="NUL"):
        call_command("import_customers", str(path), "--source", "crm", stdout=io.StringIO())
    path.write_bytes("email,name\nann@example.org,Zoë\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_customers", str(path), "--source", "crm", stdout=io.StringIO())
