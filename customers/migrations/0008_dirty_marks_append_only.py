"""Dirty-customer marks become an append-only log (one row per mark, its own id).

With one row per customer, marking was an upsert that waited whenever a worker held the
customer's row; now marking is a plain insert. Pending marks are carried over.
"""

import django.db.models.deletion
from django.db import migrations, models

_pending: list[tuple] = []


def stash_marks(apps, schema_editor):
    DirtyCustomer = apps.get_model("customers", "DirtyCustomer")
    _pending[:] = DirtyCustomer.objects.values_list("customer_id", "marked_at", "reason")


def restore_marks(apps, schema_editor):
    DirtyCustomer = apps.get_model("customers", "DirtyCustomer")
    DirtyCustomer.objects.bulk_create(
        DirtyCustomer(customer_id=customer_id, marked_at=marked_at, reason=reason)
        for customer_id, marked_at, reason in _pending
    )
    _pending.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_customer_hot_last_seen"),
    ]

    operations = [
        migrations.RunPython(stash_marks, migrations.RunPython.noop),
        migrations.DeleteModel(name="DirtyCustomer"),
        migrations.CreateModel(
            name="DirtyCustomer",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("marked_at", models.DateTimeField()),
                ("reason", models.CharField(blank=True, max_length=50)),
                (
                    "customer",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="customers.customer",
                    ),
                ),
            ],
        ),
        migrations.RunPython(restore_marks, migrations.RunPython.noop),
    ]
