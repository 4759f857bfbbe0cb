"""The registry of personal data: every app declares the rows it holds about a person.

``customers`` cannot import the apps above it, so each app tells it, in its wiring, which of
its models hold a person's data, how to export them and what erasure does to them::

    from customers.personal_data import ANONYMISE, register_personal_data
    register_personal_data(
        Interaction,
        section="interactions",
        export_fields=("id", "occurred_at", "channel_id", "type", "subject", "summary", ...),
        erase=ANONYMISE,
        blank={"subject": "", "summary": "", "properties": {}, "context": {}},
    )

Erasure modes: ``DELETE`` the rows; ``ANONYMISE`` them (set the ``blank`` fields, keep the row
for counts and aggregates: NPS, cost to serve, segment sizes); ``KEEP`` rows that hold nothing
personal once the profile is a tombstone (memberships, movements). ``customer_field`` is the ORM
path from the model to the customer (``"instance__customer"`` for rows owned through another);
``covers`` names the foreign keys to ``Customer`` the declaration accounts for (default: the
direct ``customer_field``), which ``tests/customers/test_personal_data_registry.py`` checks for
every model. For rows that no path reaches (a JSON payload naming the customer), give
``export_rows(customer_ids) -> list[dict]`` and/or ``erase_rows(customer_ids) -> int`` instead.

Every export and every erasure runs one statement per declaration, whatever the person's
history: no Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import models

DELETE = "delete"
ANONYMISE = "anonymise"
KEEP = "keep"
ERASE_MODES = (DELETE, ANONYMISE, KEEP)


@dataclass(frozen=True)
class PersonalData:
    model: type[models.Model]
    section: str
    customer_field: str = "customer"
    export_fields: tuple[str, ...] = ()
    erase: str = DELETE
    blank: Mapping[str, Any] = field(default_factory=dict)
    covers: tuple[str, ...] = ()
    export_rows: Callable[[list[int]], list[dict]] | None = None
    erase_rows: Callable[[list[int]], int] | None = None
    why: str = ""

    @property
    def label(self) -> str:
        return self.model._meta.label

    def queryset(self, customer_ids: Sequence[int]):
        return self.model._default_manager.filter(**{f"{self.customer_field}__in": list(customer_ids)})


_registry: dict[str, PersonalData] = {}


def register_personal_data(
    model: type[models.Model],
    *,
    section: str,
    customer_field: str = "customer",
    export_fields: Sequence[str] = (),
    erase: str = DELETE,
    blank: Mapping[str, Any] | None = None,
    covers: Sequence[str] | None = None,
    export_rows: Callable[[list[int]], list[dict]] | None = None,
    erase_rows: Callable[[list[int]], int] | None = None,
    why: str = "",
) -> PersonalData:
    """Declare (or re-declare) the personal data ``model`` holds; see the module docstring."""
    if erase not in ERASE_MODES:
        raise ValueError(f"erase must be one of {ERASE_MODES}, not {erase!r}")
    if erase == ANONYMISE and not blank and erase_rows is None:
        raise ValueError(f"{model._meta.label}: ANONYMISE needs the fields to blank")
    if covers is None:
        covers = (customer_field,) if "__" not in customer_field else ()
    spec = PersonalData(
        model=model,
        section=section,
        customer_field=customer_field,
        export_fields=tuple(export_fields),
        erase=erase,
        blank=dict(blank or {}),
        covers=tuple(covers),
        export_rows=export_rows,
        erase_rows=erase_rows,
        why=why,
    )
    _registry[f"{spec.label}:{section}"] = spec
    return spec


def personal_data() -> list[PersonalData]:
    return list(_registry.values())


def covered_foreign_keys() -> set[tuple[str, str]]:
    """{(model label, field name)} of foreign keys to Customer some declaration accounts for."""
    return {(spec.label, name) for spec in _registry.values() for name in spec.covers}


def customer_foreign_keys() -> list[tuple[type[models.Model], models.Field]]:
    """Every (model, field) in the project whose foreign key points at Customer."""
    from django.apps import apps

    from .models import Customer

    found = []
    for model in apps.get_models(include_auto_created=True):
        for model_field in model._meta.get_fields():
            if (
                isinstance(model_field, models.ForeignKey | models.OneToOneField)
                and model_field.related_model is Customer
                and model_field.model is model
            ):
                found.append((model, model_field))
    return found


def uncovered_foreign_keys() -> list[str]:
    """What is missing from the registry, each as the instruction to fix it."""
    covered = covered_foreign_keys()
    missing = []
    for model, model_field in customer_foreign_keys():
        if (model._meta.label, model_field.name) in covered:
            continue
        app = model._meta.app_label
        missing.append(
            f"{model._meta.label}.{model_field.name} points at a customer but no app declares what it "
            f"holds. In {app}/wiring.py connect(), call "
            f"customers.personal_data.register_personal_data({model.__name__}, section=..., "
            f'customer_field="{model_field.name}", export_fields=(...), '
            f"erase=DELETE|ANONYMISE|KEEP, blank={{...}})."
        )
    return missing
