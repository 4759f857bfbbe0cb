"""Erasure of a person: every profile of theirs becomes a tombstone, every app's rows are blanked
or deleted as its registry declaration says, and their identities go on the suppression list.

``request_erasure`` records the request and queues ``customers.erase_customer``;
``erase_customer`` does the work in one transaction (idempotent: a redelivered task finds the
request done and stops). Non-personal aggregates stay: interaction rows (channel, type, time,
value), survey scores, segment memberships and movements, journey states, the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.context import actor_from
from audit.services import record_audit, record_audit_many
from cxhub.errors import DomainError

from .models import (
    Customer,
    ErasureRequest,
    ErasureStatus,
    Identity,
    IdentityRejection,
    MergeEvent,
    SuppressedIdentity,
)
from .personal_data import ANONYMISE, DELETE, personal_data

logger = logging.getLogger("cxhub.erasure")

MAX_MERGE_DEPTH = 50

# What a tombstone keeps: its id, timestamps, lifecycle stage and business units (aggregates).
TOMBSTONE = {
    "first_name": "",
    "last_name": "",
    "email": "",
    "phone": "",
    "attributes": {},
    "preferred_channel": "",
    "language": "",
    "quiet_hours_start": None,
    "quiet_hours_end": None,
    "source": "",
    "timezone": "",
}


class InvalidErasure(DomainError):
    code = "invalid"


class CustomerErased(DomainError):
    code = "erased"
    status = 410


def identity_hash(value: str) -> str:
    """HMAC-SHA256 of a normalised identity value with ``ERASURE_HASH_KEY`` (hex)."""
    return hmac.new(settings.ERASURE_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def is_suppressed(*, kind: str, value: str, namespace: str = "") -> bool:
    """Was this (normalised) identity erased? Outbound paths may refuse to contact it."""
    return SuppressedIdentity.objects.filter(
        kind=kind, namespace=namespace, value_hash=identity_hash(value)
    ).exists()


def person_profile_ids(customer_id: int) -> list[int]:
    """The customer and every profile merged into it, at any depth (one query per merge level)."""
    ids, frontier = [customer_id], [customer_id]
    for _ in range(MAX_MERGE_DEPTH):
        frontier = [
            pk
            for pk in Customer.objects.filter(merged_into_id__in=frontier).values_list("pk", flat=True)
            if pk not in ids
        ]
        if not frontier:
            break
        ids.extend(frontier)
    return ids


def request_erasure(*, customer: Customer, reason: str, actor=None) -> ErasureRequest:
    """Record a request to erase ``customer`` (and the profiles merged into it) and queue the work."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidErasure(
            "reason: say why the data is erased (e.g. the request's reference).", field="reason"
        )
    if len(reason) > 2000:
        raise InvalidErasure("reason: at most 2000 characters.", field="reason")
    if customer.erased_at is not None:
        raise CustomerErased(f"Customer {customer.pk} was already erased.")
    who = actor_from(actor)
    with transaction.atomic():
        request = ErasureRequest.objects.create(
            customer_id=customer.pk, reason=reason, requested_by=who.label
        )
        record_audit(
            action="customer.erase_requested",
            actor=who,
            customer_id=customer.pk,
            object_type="erasure",
            object_id=request.pk,
        )
        transaction.on_commit(lambda: _queue(request.pk))
    return request


def _queue(request_id: int) -> None:
    from .tasks import erase_customer_task

    try:
        erase_customer_task.delay(request_id)
    except Exception:  # broker down: the sweep (customers.erase_pending) picks it up
        logger.warning("Could not queue erasure %s; the sweep will run it.", request_id, exc_info=True)


def erase_customer(*, request_id: int) -> ErasureRequest:
    """Carry out an erasure request (idempotent). Returns the request, done."""
    with transaction.atomic():
        request = ErasureRequest.objects.select_for_update().get(pk=request_id)
        if request.status == ErasureStatus.DONE:
            return request
        ids = person_profile_ids(request.customer_id)
        # Lock the profiles (id order, as merges do) so no merge moves rows in meanwhile.
        list(Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
        ids = person_profile_ids(request.customer_id)
        summary = {"customers.SuppressedIdentity": _suppress_identities(ids, request)}
        for spec in personal_data():
            count = _erase(spec, ids)
            if count:
                key = spec.label
                summary[key] = summary.get(key, 0) + count
        now = timezone.now()
        summary["customers.Customer"] = Customer.objects.filter(pk__in=ids).update(
            **TOMBSTONE, erased_at=now, updated_at=now
        )
        request.status = ErasureStatus.DONE
        request.completed_at = now
        request.customer_ids = ids
        request.summary = summary
        request.error = ""
        request.save(update_fields=["status", "completed_at", "customer_ids", "summary", "error"])
        record_audit_many(
            action="customer.erased",
            customer_ids=ids,
            object_type="erasure",
            object_id=request.pk,
            detail={"request": request.pk, "person": request.customer_id},
        )
    return request


def _suppress_identities(ids: list[int], request: ErasureRequest) -> int:
    """Hash every identity of the person onto the suppression list: the live ones, and those a
    merge dropped over the per-kind limits (kept in the merge events, which erasure blanks next)."""
    columns = ("kind", "namespace", "value")
    keys = set(Identity.objects.filter(customer_id__in=ids).values_list(*columns))
    keys |= set(IdentityRejection.objects.filter(customer_id__in=ids).values_list(*columns))
    merges = MergeEvent.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids))
    for removed in merges.values_list("removed", flat=True):
        for row in (removed or {}).get("customers.Identity.customer", []):
            keys.add((row.get("kind", ""), row.get("namespace", ""), row.get("value", "")))
    suppressed = [
        SuppressedIdentity(kind=kind, namespace=namespace, value_hash=identity_hash(value), erasure=request)
        for kind, namespace, value in sorted(keys)
        if kind and value
    ]
    SuppressedIdentity.objects.bulk_create(suppressed, ignore_conflicts=True)
    return len(suppressed)


def _erase(spec, ids: list[int]) -> int:
    if spec.erase_rows is not None:
        return spec.erase_rows(ids) or 0
    if spec.erase == DELETE:
        return spec.queryset(ids).delete()[0]
    if spec.erase == ANONYMISE:
        return spec.queryset(ids).update(**spec.blank)
    return 0


def erase_pending() -> int:
    """Run every erasure request still queued (the beat sweep; a lost task is never lost work)."""
    pending = list(
        ErasureRequest.objects.filter(status=ErasureStatus.QUEUED).order_by("pk").values_list("pk", flat=True)
    )
    for request_id in pending:
        erase_customer(request_id=request_id)
    return len(pending)


def record_failure(request_id: int, error: str) -> None:
    ErasureRequest.objects.filter(pk=request_id, status=ErasureStatus.QUEUED).update(error=error[:2000])
    record_audit(action="customer.erase_failed", object_type="erasure", object_id=request_id)


def delete_person(*, customer: Customer, actor=None) -> int:
    """Delete a customer outright with every profile merged into it and their merge history
    (the admin's delete). Rows of other apps go by their foreign keys' CASCADE / SET NULL.
    Returns the number of profiles deleted."""
    with transaction.atomic():
        ids = person_profile_ids(customer.pk)
        list(Customer.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
        MergeEvent.objects.filter(Q(survivor_id__in=ids) | Q(merged_id__in=ids)).delete()
        Customer.objects.filter(pk__in=ids).update(merged_into=None)
        Customer.objects.filter(pk__in=ids).delete()
        record_audit_many(action="customer.delete", customer_ids=ids, actor=actor)
    return len(ids)
