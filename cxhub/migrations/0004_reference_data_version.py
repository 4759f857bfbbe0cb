"""The reference-data version row (cxhub.refdata) and, on PostgreSQL, the function the
watched tables' triggers call to move it."""

from django.db import migrations, models

from cxhub.refdata import create_version_sql, drop_version_sql, first_version_sql


def create_bump(apps, schema_editor):
    for statement in create_version_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)
    schema_editor.execute(first_version_sql(schema_editor.connection.vendor))


def drop_bump(apps, schema_editor):
    for statement in drop_version_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("cxhub", "0003_team_lead_role")]

    operations = [
        migrations.CreateModel(
            name="ReferenceDataVersion",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("version", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(create_bump, drop_bump),
    ]
