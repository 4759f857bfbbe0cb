"""Marks left from before lanes were for every handler: the real-time lane gets its copy of each."""

from django.db import migrations

# DirtyLane.REALTIME, DirtyLane.STANDARD as of this migration
REALTIME, STANDARD = 1, 2


def copy_to_realtime(apps, schema_editor):
    DirtyCustomer = apps.get_model("customers", "DirtyCustomer")
    table = DirtyCustomer._meta.db_table
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (customer_id, lane, marked_at, reason) "
            f"SELECT customer_id, %s, marked_at, reason FROM {table} WHERE lane = %s ORDER BY id",
            [REALTIME, STANDARD],
        )


def drop_realtime(apps, schema_editor):
    DirtyCustomer = apps.get_model("customers", "DirtyCustomer")
    DirtyCustomer.objects.filter(lane=REALTIME).delete()


class Migration(migrations.Migration):
    dependencies = [("customers", "0014_dirty_lanes")]

    operations = [migrations.RunPython(copy_to_realtime, drop_realtime)]
