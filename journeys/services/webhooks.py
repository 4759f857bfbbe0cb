"""Signed webhook deliveries: HMAC-SHA256 of the exact body, a timestamp header, a log per attempt.

Receivers verify ``X-CXHub-Signature: sha256=<hex>`` = HMAC-SHA256(secret, raw body) and
may reject stale ``X-CXHub-Timestamp`` values; the body carries the same ``timestamp`` so
it is covered by the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import ActionAudit, ActionResult, DeliveryStatus, WebhookAttempt, WebhookDelivery
from . import webhook_targets

SIGNATURE_HEADER = "X-CXHub-Signature"
TIMESTAMP_HEADER = "X-CXHub-Timestamp"
EVENT_HEADER = "X-CXHub-Event"
DELIVERY_HEADER = "X-CXHub-Delivery"
RETRYABLE_STATUSES = frozenset({408, 425, 429})
# A delivery whose next attempt is this late was lost (broker outage, worker crash): queue it again.
REQUEUE_GRACE = timedelta(minutes=2)


def sign_body(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def build_body(payload: dict, timestamp: int) -> bytes:
    return json.dumps({**payload, "timestamp": timestamp}, sort_keys=True, separators=(",", ":")).encode()


def attempt_delivery(*, delivery_id: int) -> str:
    """Send one attempt and log it; return the delivery's new status (``retrying`` means try again)."""
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    if delivery.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):
        return delivery.status
    endpoint = delivery.endpoint
    number = delivery.attempts + 1
    timestamp = int(time.time())
    body = build_body(delivery.payload, timestamp)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "CXHub-Webhooks/1.0",
        SIGNATURE_HEADER: sign_body(endpoint.secret, body),
        TIMESTAMP_HEADER: str(timestamp),
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.pk),
    }
    status_code, error, refused = None, "", False
    started = time.monotonic()
    try:
        # Checked again at every delivery: the name may resolve elsewhere than when it was saved.
        allowed_host = webhook_targets.check_target(endpoint.url)
    except webhook_targets.RefusedTarget as exc:
        error, refused = exc.message[:500], True
    if not refused:
        try:
            with webhook_targets.delivery_session(allowed_host=allowed_host) as session:
                response = session.post(
                    endpoint.url,
                    data=body,
                    headers=headers,
                    timeout=endpoint.timeout_seconds,
                    allow_redirects=False,
                )
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            refused = webhook_targets.REFUSED_MARKER in str(exc)
    elapsed_ms = round((time.monotonic() - started) * 1000, 2)
    if status_code is not None and 200 <= status_code < 300:
        status = DeliveryStatus.SUCCEEDED
    elif not refused and _retryable(status_code) and number < endpoint.max_attempts:
        status = DeliveryStatus.RETRYING
    else:
        status = DeliveryStatus.FAILED
    now = timezone.now()
    next_attempt_at = None
    if status == DeliveryStatus.RETRYING:
        next_attempt_at = now + timedelta(seconds=backoff_seconds(number - 1, base=backoff_base()))
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            at=now,
            status_code=status_code,
            response_ms=elapsed_ms,
            error=error,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=status,
            attempts=number,
            last_status_code=status_code,
            last_response_ms=elapsed_ms,
            last_error=error,
            delivered_at=now if status == DeliveryStatus.SUCCEEDED else None,
            next_attempt_at=next_attempt_at,
        )
    return status


def _retryable(status_code: int | None) -> bool:
    return status_code is None or status_code >= 500 or status_code in RETRYABLE_STATUSES


def backoff_base() -> float:
    return float(getattr(settings, "JOURNEY_WEBHOOK_BACKOFF_SECONDS", 10.0))


def backoff_seconds(retries: int, *, base: float = 10.0, cap: float = 3600.0) -> float:
    """Exponential backoff: base, 2×base, 4×base … capped."""
    return min(base * (2**retries), cap)


def retry_countdown(delivery_id: int, *, now: datetime | None = None) -> float:
    """Seconds until the delivery's next attempt is due (0 when unknown or past)."""
    due = WebhookDelivery.objects.filter(pk=delivery_id).values_list("next_attempt_at", flat=True).first()
    if due is None:
        return 0.0
    return max((due - (now or timezone.now())).total_seconds(), 0.0)


def requeue_due_deliveries(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue again the pending or retrying deliveries whose attempt is overdue (lost tasks)."""
    from .actions import enqueue_delivery

    now = now or timezone.now()
    with transaction.atomic():
        due = WebhookDelivery.objects.filter(
            status__in=(DeliveryStatus.PENDING, DeliveryStatus.RETRYING),
            next_attempt_at__lte=now - REQUEUE_GRACE,
            endpoint__active=True,
        )
        ids = list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
        # Push the due time on so the next sweep does not queue them again while they wait.
        WebhookDelivery.objects.filter(pk__in=ids).update(next_attempt_at=now + 2 * REQUEUE_GRACE)
        for delivery_id in ids:
            enqueue_delivery(delivery_id)
    return len(ids)


@transaction.atomic
def replay_delivery(*, delivery: WebhookDelivery, user=None) -> WebhookDelivery:
    """Send a delivery's payload again as a new delivery (new timestamp and signature), audited."""
    from .actions import enqueue_delivery

    replay = WebhookDelivery.objects.create(
        endpoint=delivery.endpoint,
        action=delivery.action,
        event=delivery.event,
        payload=delivery.payload,
        replay_of=delivery,
        next_attempt_at=timezone.now(),
    )
    instance_id = (delivery.payload.get("instance") or {}).get("id")
    ActionAudit.objects.create(
        at=timezone.now(),
        action=delivery.action,
        kind="webhook",
        trigger="",
        reason=f"Replay of delivery {delivery.pk}",
        instance_id=instance_id if _instance_exists(instance_id) else None,
        customer_id=None,
        result=ActionResult.WEBHOOK_REPLAYED,
        detail=f"Delivery {replay.pk} to {delivery.endpoint.name}",
        actor=user,
    )
    enqueue_delivery(replay.pk)
    return replay


def _instance_exists(instance_id) -> bool:
    from ..models import JourneyInstance

    return bool(instance_id) and JourneyInstance.objects.filter(pk=instance_id).exists()
