"""Create the Team lead role group (its permissions are synced after every migrate,
as for the other roles: cxhub.roles.sync_role_permissions)."""

from django.db import migrations

TEAM_LEAD = "Team lead"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=TEAM_LEAD)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=TEAM_LEAD).delete()


class Migration(migrations.Migration):
    dependencies = [("cxhub", "0002_role_groups")]

    operations = [migrations.RunPython(create_group, delete_group)]
