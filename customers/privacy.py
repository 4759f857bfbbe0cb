"""What ``customers`` itself holds on a person, for export and erasure (see ``personal_data``)."""

from django.db.models import Q

from audit.models import AuditEvent

from .models import (
    Consent,
    Customer,
    DirtyCustomer,
    DirtyHandlerFailure,
    Identity,
    IdentityRejection,
    MergeEvent,
)
from .personal_data import DELETE, KEEP, register_personal_data

MERGE_EXPORT_FIELDS = (
    "id",
    "survivor_id",
    "merged_id",
    "rule",
    "reason",
    "created_at",
    "survivor_changes",
    "removed",
    "undone_at",
)
AUDIT_EXPORT_FIELDS = (
    "id",
    "at",
    "action",
    "actor_label",
    "source",
    "customer_id",
    "object_type",
    "object_id",
    "row_count",
    "detail",
)


def _merges(ids):
    return MergeEvent.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids))


def export_merges(ids: list[int]) -> list[dict]:
    return list(_merges(ids).order_by("pk").values(*MERGE_EXPORT_FIELDS))


def erase_merges(ids: list[int]) -> int:
    """Keep which profiles merged when (ids only); drop the old field values, removed rows and reason."""
    return _merges(ids).update(survivor_changes={}, removed={}, reason="")


def export_audit(ids: list[int]) -> list[dict]:
    return list(AuditEvent.objects.filter(customer_id__in=ids).order_by("id").values(*AUDIT_EXPORT_FIELDS))


def register() -> None:
    register_personal_data(
        Customer,
        section="profile",
        customer_field="pk",
        covers=("merged_into",),
        erase=KEEP,
        why="The profile is exported apart and becomes a tombstone (erasure.TOMBSTONE).",
    )
    register_personal_data(
        Customer.business_units.through,
        section="business_units",
        export_fields=("customer_id", "businessunit__code", "businessunit__name"),
        erase=KEEP,
        why="Membership of a business unit counts towards the unit's size; nothing personal on a tombstone.",
    )
    register_personal_data(
        Identity,
        section="identities",
        export_fields=("kind", "namespace", "value", "source", "is_flagged", "created_at"),
        erase=DELETE,
        why="Hashed onto the suppression list first.",
    )
    register_personal_data(
        Consent,
        section="consents",
        export_fields=("channel", "purpose", "granted", "source", "evidence", "captured_at"),
        erase=DELETE,
    )
    register_personal_data(
        IdentityRejection,
        section="rejected_identities",
        export_fields=("kind", "namespace", "value", "reason", "source", "at"),
        erase=DELETE,
        why="Identity values refused over the per-kind limits: the person's values all the same.",
    )
    register_personal_data(DirtyCustomer, section="dirty_marks", erase=DELETE)
    register_personal_data(DirtyHandlerFailure, section="dirty_handler_failures", erase=DELETE)
    register_personal_data(
        MergeEvent,
        section="merges",
        customer_field="survivor",
        covers=("survivor", "merged"),
        export_rows=export_merges,
        erase_rows=erase_merges,
    )
    register_personal_data(
        AuditEvent,
        section="audit",
        customer_field="customer_id",
        covers=(),
        export_rows=export_audit,
        erase=KEEP,
        why="Audit events hold ids and codes only (no free text); the log is append-only.",
    )
