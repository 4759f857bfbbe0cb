"""Changes to channels move the reference-data version, so ingest's in-memory copy of the
active channels is reloaded (cxhub.refdata)."""

from django.db import migrations

from cxhub.refdata import watch_tables


class Migration(migrations.Migration):
    dependencies = [
        ("interactions", "0005_lean_indexes_context_default"),
        ("cxhub", "0004_reference_data_version"),
    ]

    operations = [watch_tables("interactions_channel")]
