"""Trigram GIN indexes behind the agent customer search (PostgreSQL only).

The search matches with ``icontains`` (SQL ``UPPER(col::text) LIKE UPPER('%…%')``), so the
indexes are on the same ``UPPER(col)`` expressions. SQLite keeps the plain scan.
"""

from django.db import migrations

INDEXES = (
    ("customer_first_name_trgm", "customers_customer", "first_name"),
    ("customer_last_name_trgm", "customers_customer", "last_name"),
    ("customer_email_trgm", "customers_customer", "email"),
    ("customer_phone_trgm", "customers_customer", "phone"),
    ("identity_value_trgm", "customers_identity", "value"),
)


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_default_merge_rules"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
