"""Where generated rows go: the tables, their columns, COPY text and ORM objects.

A table is described by its model and the attribute names of the generated tuple.
Concrete fields the generator does not fill (added to a model later, for instance)
get the field's default, or NULL when nullable, so the loader keeps working as the
models grow.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from customers.models import CONTACT_PREFERENCE_FIELDS, PROFILE_FIELDS, TIMESTAMP_FIELDS

DAY = 86400


@dataclass(frozen=True)
class Table:
    key: str  # attribute of ChunkRows
    model_label: str  # "app.Model", or "app.Model.m2m_field" for an auto-created through table
    attnames: tuple[str, ...]
    timestamps: frozenset[str] = frozenset()
    json_fields: frozenset[str] = frozenset()

    @property
    def model(self) -> type[models.Model]:
        parts = self.model_label.split(".")
        model = apps.get_model(parts[0], parts[1])
        if len(parts) == 3:
            return model._meta.get_field(parts[2]).remote_field.through
        return model

    def available(self) -> bool:
        """False when the model (or the many-to-many field) does not exist in this code base."""
        try:
            self.model  # noqa: B018 - resolving it is the check
        except (LookupError, FieldDoesNotExist):
            return False
        return True

    def extra_fields(self) -> list[models.Field]:
        """Concrete fields not generated: they are written with their default value."""
        given = set(self.attnames)
        return [
            f
            for f in self.model._meta.concrete_fields
            if f.attname not in given and not (f.primary_key and f.attname == "id")
        ]

    def columns(self) -> list[str]:
        opts = self.model._meta
        generated = [opts.get_field(_field_name(opts, a)).column for a in self.attnames]
        return generated + [f.column for f in self.extra_fields()]


def _field_name(opts, attname: str) -> str:
    for f in opts.concrete_fields:
        if f.attname == attname:
            return f.name
    return attname


TABLES = (
    Table(
        "customers",
        "customers.Customer",
        ("id", *PROFILE_FIELDS, "attributes", *CONTACT_PREFERENCE_FIELDS, *TIMESTAMP_FIELDS),
        timestamps=frozenset({"created_at", "updated_at", "last_seen_at"}),
        json_fields=frozenset({"attributes"}),
    ),
    Table("memberships", "customers.Customer.business_units", ("customer_id", "businessunit_id")),
    Table(
        "identities",
        "customers.Identity",
        ("customer_id", "kind", "namespace", "value", "source", "created_at"),
        timestamps=frozenset({"created_at"}),
    ),
    Table(
        "consents",
        "customers.Consent",
        ("customer_id", "channel", "purpose", "granted", "source", "evidence", "captured_at"),
        timestamps=frozenset({"captured_at"}),
    ),
    Table(
        "interactions",
        "interactions.Interaction",
        (
            "id",
            "customer_id",
            "channel_id",
            "direction",
            "type",
            "occurred_at",
            "received_at",
            "source",
            "external_id",
            "business_unit_id",
            "touchpoint",
            "agent_id",
            "subject",
            "summary",
            "outcome",
            "value",
            "currency",
            "duration_seconds",
            "properties",
        ),
        timestamps=frozenset({"occurred_at", "received_at"}),
        json_fields=frozenset({"properties"}),
    ),
    Table(
        "responses",
        "metrics.SurveyResponse",
        (
            "id",
            "survey_id",
            "kind",
            "customer_id",
            "score",
            "comment",
            "responded_at",
            "received_at",
            "external_id",
            "source",
            "channel_id",
            "touchpoint",
            "business_unit_id",
            "prompted_by_id",
            "sentiment",
            "sentiment_label",
        ),
        timestamps=frozenset({"responded_at", "received_at"}),
    ),
    Table("response_themes", "metrics.SurveyResponse.themes", ("surveyresponse_id", "theme_id")),
)
SURVEY_TABLES = frozenset({"responses", "response_themes"})
TABLES_BY_KEY = {t.key: t for t in TABLES}


# --- COPY text format -------------------------------------------------------------------

_TIMES: list[str] = []
_DAYS: dict[int, str] = {}
_NUMBER_COLUMNS = frozenset({"id", "score", "duration_seconds", "sentiment"})
_BOOL_COLUMNS = frozenset({"granted", "is_flagged"})


def format_timestamp(epoch: int) -> str:
    """'YYYY-MM-DD HH:MM:SS+00' from epoch seconds, from two lookup tables (it runs per row)."""
    if not _TIMES:
        _TIMES.extend(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(DAY))
    day, seconds = divmod(epoch, DAY)
    prefix = _DAYS.get(day)
    if prefix is None:
        prefix = _DAYS[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d ")
    return prefix + _TIMES[seconds]


def escape_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _json_text(value) -> str:
    if not value:
        return "{}"
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return escape_text(text) if "\\" in text or not text.isprintable() else text


def _default_text(field: models.Field) -> str:
    value = field.get_default()
    if value is None and not field.null:
        raise ValueError(f"{field.model.__name__}.{field.name} needs a value the generator does not make")
    if value is None:
        return "\\N"
    if isinstance(value, dict | list):
        return _json_text(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    return escape_text(str(value))


@lru_cache(maxsize=32)
def _line_formatter(table: Table):
    """A function row -> COPY line, compiled once per table so the per-row work is one expression.

    Columns are typed by name: ids and counts as integers, booleans, epoch timestamps,
    JSON, and everything else as text escaped only when it holds a special character.
    """
    cells = []
    for i, name in enumerate(table.attnames):
        v = f"r[{i}]"
        if name in table.timestamps:
            cells.append(f"(N if {v} is None else ts({v}))")
        elif name in table.json_fields:
            cells.append(f"js({v})")
        elif name in _BOOL_COLUMNS:
            cells.append(f"('t' if {v} else 'f')")
        elif name in _NUMBER_COLUMNS or name.endswith("_id"):
            cells.append(f"(N if {v} is None else str({v}))")
        else:
            cells.append(
                f"(N if {v} is None else {v} if {v}.isprintable() and '\\\\' not in {v} else esc({v}))"
            )
    extra = "".join("\t" + _default_text(f) for f in table.extra_fields())
    source = f"lambda r: '\\t'.join(({', '.join(cells)},)) + {extra!r}"
    namespace = {"N": "\\N", "ts": format_timestamp, "js": _json_text, "esc": escape_text}
    return eval(source, namespace)  # noqa: S307 - source built above from column names only


def copy_text(table: Table, rows: list[tuple]) -> bytes:
    """Rows as PostgreSQL COPY text (tab-separated, \\N for NULL)."""
    if not rows:
        return b""
    line = _line_formatter(table)
    return ("\n".join([line(row) for row in rows]) + "\n").encode("utf-8")


# --- ORM objects (the SQLite path) ------------------------------------------------------


def to_datetime(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def model_objects(table: Table, rows: list[tuple]) -> list[models.Model]:
    model = table.model
    ts_positions = [i for i, a in enumerate(table.attnames) if a in table.timestamps]
    out = []
    for row in rows:
        values = list(row)
        for i in ts_positions:
            values[i] = to_datetime(values[i])
        out.append(model(**dict(zip(table.attnames, values, strict=True))))
    return out
