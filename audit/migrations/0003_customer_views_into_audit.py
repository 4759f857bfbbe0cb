"""The 360 page's view log (customers.CustomerView) becomes ``customer.view`` audit events."""

from django.db import migrations


def copy_views(apps, schema_editor):
    CustomerView = apps.get_model("customers", "CustomerView")
    AuditEvent = apps.get_model("audit", "AuditEvent")
    User = apps.get_model("auth", "User")
    names = dict(User.objects.values_list("pk", "username"))
    batch = []
    for view in CustomerView.objects.order_by("pk").iterator(chunk_size=5000):
        batch.append(
            AuditEvent(
                at=view.viewed_at,
                action="customer.view",
                actor_user_id=view.user_id,
                actor_label=names.get(view.user_id, "")[:150],
                source="page",
                customer_id=view.customer_id,
                detail={},
            )
        )
        if len(batch) >= 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only_trigger"),
        ("customers", "0009_leaner_identity_indexes"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(copy_views, migrations.RunPython.noop)]
