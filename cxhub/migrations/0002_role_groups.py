"""Create the role groups. Their permissions are synced after every migrate
(cxhub.roles.sync_role_permissions), because permissions of later apps do not
exist yet while this migration runs."""

from django.db import migrations

ROLES = ("Agent", "Marketer", "Admin")


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cxhub", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
