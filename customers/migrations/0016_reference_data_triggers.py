"""Changes to business units, merge settings, identity rules and blocked values move the
reference-data version, so ingest's in-memory copies of them are reloaded (cxhub.refdata)."""

from django.db import migrations

from cxhub.refdata import watch_tables


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0015_dirty_marks_for_the_realtime_lane"),
        ("cxhub", "0004_reference_data_version"),
    ]

    operations = [
        watch_tables(
            "customers_businessunit",
            "customers_mergesettings",
            "customers_identityrule",
            "customers_blockedidentityvalue",
        )
    ]
