"""A BRIN index on occurred_at, on PostgreSQL only (SQLite has no BRIN).

Interactions arrive roughly in time order, so a BRIN index answers time-window scans over
hundreds of millions of rows at a tiny fraction of a B-tree's size and write cost.
"""

from django.db import migrations

INDEX = "interaction_occurred_brin"


class PostgresBrinIndex(migrations.operations.base.Operation):
    """Create a BRIN index when the connection is PostgreSQL; a no-op elsewhere (state unchanged)."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, table: str, column: str, name: str):
        self.table, self.column, self.name = table, column, name

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            qn = schema_editor.quote_name
            schema_editor.execute(
                f"CREATE INDEX IF NOT EXISTS {qn(self.name)} ON {qn(self.table)} USING brin ({qn(self.column)})"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(self.name)}")

    def describe(self) -> str:
        return f"BRIN index {self.name} on {self.table}({self.column}) (PostgreSQL only)"

    def deconstruct(self):
        return (self.__class__.__name__, [], {"table": self.table, "column": self.column, "name": self.name})


class Migration(migrations.Migration):
    dependencies = [("interactions", "0003_interaction_context_idempotency_keys")]

    operations = [PostgresBrinIndex(table="interactions_interaction", column="occurred_at", name=INDEX)]
