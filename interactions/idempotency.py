"""``Idempotency-Key``: the first successful response to a key is stored and replayed for 24 hours."""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from cxhub.api.authentication import ApiClientUser
from cxhub.errors import Conflict, DomainError

from .models import IDEMPOTENCY_TTL_HOURS, IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def owner_of(request) -> str:
    if isinstance(request.user, ApiClientUser):
        return f"client:{request.user.client.pk}"
    return f"user:{request.user.pk}"


def fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def purge_expired_keys() -> int:
    """Delete stored responses older than the replay window; return how many."""
    cutoff = timezone.now() - timedelta(hours=IDEMPOTENCY_TTL_HOURS)
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# A claimed key whose request has not finished: ``status_code`` 0 until the response is stored.
PENDING = 0
# A claim left by a process that died mid-request is taken over after this long.
ABANDONED_AFTER = timedelta(minutes=5)


def _claim(*, owner: str, key: str, request_hash: str, now) -> IdempotencyKey | None:
    """Insert the pending row for (owner, key): None when this request won it, else the row
    another request holds. The unique constraint decides, so concurrent requests cannot both win."""
    try:
        with transaction.atomic():
            IdempotencyKey.objects.create(
                owner=owner,
                key=key,
                request_hash=request_hash,
                status_code=PENDING,
                response_body={},
                created_at=now,
            )
        return None
    except IntegrityError:
        return IdempotencyKey.objects.filter(owner=owner, key=key).first()


def _stale(stored: IdempotencyKey, now) -> bool:
    if stored.created_at < now - timedelta(hours=IDEMPOTENCY_TTL_HOURS):
        return True
    return stored.status_code == PENDING and stored.created_at < now - ABANDONED_AFTER


def respond_idempotently(request, handle: Callable[[], Response]) -> Response:
    """Run ``handle`` unless this caller already sent this key: then replay the stored response.

    The request first claims the key (a pending row under the unique constraint), so of several
    concurrent requests with one key exactly one runs; the others get a 409 (another body: the
    key was reused; the same body: the first is still in progress). Only successful (2xx)
    responses are kept: a failed request releases the key and may simply be retried.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return handle()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise DomainError(f"{HEADER}: 1 to {MAX_KEY_LENGTH} printable characters.", field=HEADER)
    owner, request_hash = owner_of(request), fingerprint(request)
    now = timezone.now()
    for _ in range(3):
        stored = _claim(owner=owner, key=key, request_hash=request_hash, now=now)
        if stored is None:
            break
        if _stale(stored, now):
            IdempotencyKey.objects.filter(pk=stored.pk, created_at=stored.created_at).delete()
            continue
        if stored.request_hash != request_hash:
            raise Conflict(
                f"{HEADER} {key!r} was already used with a different request.",
                field=HEADER,
                code="idempotency_key_reused",
            )
        if stored.status_code == PENDING:
            raise Conflict(
                f"A request with {HEADER} {key!r} is still in progress; retry later.",
                field=HEADER,
                code="idempotency_key_in_progress",
            )
        response = Response(stored.response_body, status=stored.status_code)
        response["Idempotent-Replayed"] = "true"
        return response
    else:
        raise Conflict(
            f"{HEADER} {key!r} is busy; retry later.", field=HEADER, code="idempotency_key_in_progress"
        )
    claim = IdempotencyKey.objects.filter(owner=owner, key=key, created_at=now, status_code=PENDING)
    try:
        response = handle()
    except BaseException:
        claim.delete()
        raise
    if 200 <= response.status_code < 300:
        claim.update(status_code=response.status_code, response_body=response.data)
    else:
        claim.delete()
    return response
