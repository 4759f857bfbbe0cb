"""Appending to the audit log (every app calls ``record_audit``) and the retention purge.

The one rule for callers: ``detail`` holds ids, counts, booleans and short codes (slugs,
channel codes, field names) — never free text, names, e-mail addresses or values the person
gave. ``record_audit`` refuses anything else, so the append-only log never needs rewriting
when a person's data is erased.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from django.db import connection, transaction

from cxhub.errors import DomainError

from .context import Actor, actor_from
from .models import AuditEvent

# Codes: letters, digits and _ . : / - + (ISO times, slugs, "app.Model"); no spaces, no "@".
_CODE = re.compile(r"^[A-Za-z0-9_.:/+\-]{0,100}$")
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
MAX_DETAIL_ITEMS = 1000


class NotAnAuditCode(DomainError):
    code = "invalid_audit_detail"


def _check_detail(value, path: str = "detail") -> None:
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, str):
        if not _CODE.match(value):
            raise NotAnAuditCode(f"{path}: audit details hold ids, counts and codes, not text.")
        return
    if isinstance(value, list | tuple):
        if len(value) > MAX_DETAIL_ITEMS:
            raise NotAnAuditCode(f"{path}: at most {MAX_DETAIL_ITEMS} items.")
        for index, item in enumerate(value):
            _check_detail(item, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or not _CODE.match(key):
                raise NotAnAuditCode(f"{path}: keys must be codes.")
            _check_detail(item, f"{path}.{key}")
        return
    raise NotAnAuditCode(f"{path}: unsupported value of type {type(value).__name__}.")


def _event(
    *,
    action: str,
    actor: Actor,
    customer_id: int | None,
    object_type: str,
    object_id,
    row_count: int | None,
    detail: dict | None,
    at: datetime | None,
) -> AuditEvent:
    if not _ACTION.match(action) or len(action) > 64:
        raise ValueError(f"Audit action must look like 'customer.view', got {action!r}.")
    detail = dict(detail or {})
    _check_detail(detail)
    event = AuditEvent(
        action=action,
        actor_user_id=actor.user_id,
        actor_client_id=actor.client_id,
        actor_label=actor.label,
        source=actor.source,
        customer_id=customer_id,
        object_type=object_type[:50],
        object_id=str(object_id)[:64] if object_id is not None else "",
        row_count=row_count,
        detail=detail,
    )
    if at is not None:
        event.at = at
    return event


def record_audit(
    *,
    action: str,
    actor=None,
    customer_id: int | None = None,
    object_type: str = "",
    object_id: int | str | None = None,
    row_count: int | None = None,
    detail: dict | None = None,
    source: str | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one audit event.

    ``actor``: a User, an API client (or the API request's user), an ``Actor``; None means the
    request being served, or the system outside a request. ``action`` is ``<noun>.<verb>``
    (``customer.view``, ``customer.export``, ``segment.update``, ``campaign.send``).
    ``row_count`` is the number of rows an export handed out.
    """
    event = _event(
        action=action,
        actor=actor_from(actor, source=source),
        customer_id=customer_id,
        object_type=object_type,
        object_id=object_id,
        row_count=row_count,
        detail=detail,
        at=at,
    )
    event.save(force_insert=True)
    return event


def record_audit_many(
    *,
    action: str,
    customer_ids: Iterable[int],
    actor=None,
    object_type: str = "",
    object_id: int | str | None = None,
    detail: dict | None = None,
    source: str | None = None,
) -> int:
    """Append the same event for several customers in one INSERT (merges, bulk changes)."""
    who = actor_from(actor, source=source)
    rows = [
        _event(
            action=action,
            actor=who,
            customer_id=customer_id,
            object_type=object_type,
            object_id=object_id,
            row_count=None,
            detail=detail,
            at=None,
        )
        for customer_id in sorted(set(customer_ids))
    ]
    AuditEvent.objects.bulk_create(rows)
    return len(rows)


PURGE_SETTING = "cxhub.audit_purge_before"


def purge_before(cutoff: datetime, *, chunk: int = 10_000) -> int:
    """Delete audit events older than ``cutoff`` (retention), chunk by chunk.

    On PostgreSQL the trigger refuses DELETE unless the transaction set
    ``cxhub.audit_purge_before`` (SET LOCAL) and the row is older than it, so only this
    path, and only for rows past retention, can delete.
    """
    deleted = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config(%s, %s, true)", [PURGE_SETTING, cutoff.isoformat()])
            ids = list(
                AuditEvent.objects.filter(at__lt=cutoff).order_by("id").values_list("id", flat=True)[:chunk]
            )
            if not ids:
                return deleted
            deleted += AuditEvent.objects.filter(id__in=ids)._raw_delete(connection.alias)


def audited_stream(
    chunks: Iterable,
    *,
    action: str,
    actor=None,
    header_rows: int = 1,
    object_type: str = "",
    object_id: int | str | None = None,
    detail: dict | None = None,
):
    """Yield a streamed export's chunks (one per CSV row) and, once all were sent, record the
    export with the number of data rows handed out. The actor is taken now, while the request
    is still being served; a download cut short records the rows sent so far."""
    who = actor_from(actor)
    return _counted(
        chunks,
        action=action,
        who=who,
        header_rows=header_rows,
        object_type=object_type,
        object_id=object_id,
        detail=detail,
    )


def _counted(chunks, *, action, who, header_rows, object_type, object_id, detail):
    sent, complete = 0, False
    try:
        for chunk in chunks:
            sent += 1
            yield chunk
        complete = True
    finally:
        record_audit(
            action=action,
            actor=who,
            row_count=max(sent - header_rows, 0),
            object_type=object_type,
            object_id=object_id,
            detail={**(detail or {}), "complete": complete},
        )
