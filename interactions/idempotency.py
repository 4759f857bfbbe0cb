"""``Idempotency-Key``: the first successful response to a key is stored and replayed for 24 hours."""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

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


def respond_idempotently(request, handle: Callable[[], Response]) -> Response:
    """Run ``handle`` unless this caller already sent this key: then replay the stored response.

    The same key with a different request is a 409. Only successful (2xx) responses are
    stored: a failed request changed nothing and may simply be retried.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return handle()
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise DomainError(f"{HEADER}: 1 to {MAX_KEY_LENGTH} printable characters.", field=HEADER)
    owner, request_hash = owner_of(request), fingerprint(request)
    now = timezone.now()
    stored = IdempotencyKey.objects.filter(owner=owner, key=key).first()
    if stored is not None and stored.created_at < now - timedelta(hours=IDEMPOTENCY_TTL_HOURS):
        stored.delete()
        stored = None
    if stored is not None:
        if stored.request_hash != request_hash:
            raise Conflict(
                f"{HEADER} {key!r} was already used with a different request.",
                field=HEADER,
                code="idempotency_key_reused",
            )
        response = Response(stored.response_body, status=stored.status_code)
        response["Idempotent-Replayed"] = "true"
        return response
    response = handle()
    if 200 <= response.status_code < 300:
        IdempotencyKey.objects.bulk_create(
            [
                IdempotencyKey(
                    owner=owner,
                    key=key,
                    request_hash=request_hash,
                    status_code=response.status_code,
                    response_body=response.data,
                    created_at=now,
                )
            ],
            ignore_conflicts=True,
        )
    return response
