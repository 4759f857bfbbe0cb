"""Provider status callbacks: signed reports that move a message to delivered/bounced/complained/failed."""

import hmac
import json
import time

from django.db import transaction
from django.utils import timezone

from cxhub.errors import NotFound

from .. import providers
from ..errors import InvalidMessage, InvalidSignature
from ..models import Message, MessageEvent, MessageStatus, SuppressionReason
from .delivery import suppress

MAX_SKEW_SECONDS = 300
# Which status a report may move a message from (a late "delivered" never undoes a bounce).
ALLOWED_FROM = {
    MessageStatus.DELIVERED: {MessageStatus.SENDING, MessageStatus.SENT},
    MessageStatus.BOUNCED: {MessageStatus.SENDING, MessageStatus.SENT, MessageStatus.DELIVERED},
    MessageStatus.COMPLAINED: {MessageStatus.SENT, MessageStatus.DELIVERED},
    MessageStatus.FAILED: {MessageStatus.QUEUED, MessageStatus.SENDING, MessageStatus.SENT},
}


def verify(*, provider_code: str, raw_body: bytes, signature: str) -> dict:
    """Check the HMAC-SHA256 signature and freshness of a callback; return its JSON body."""
    config = providers.config_for_code(provider_code)
    if config is None or not config.secret:
        raise NotFound(f"No provider {provider_code!r} accepts callbacks.")
    expected = providers.sign(config.secret, raw_body)
    if not signature or not hmac.compare_digest(expected, signature):
        raise InvalidSignature("The X-CXHub-Signature header does not match the body.")
    try:
        body = json.loads(raw_body)
    except ValueError as exc:
        raise InvalidMessage("The body is not JSON.") from exc
    if not isinstance(body, dict):
        raise InvalidMessage("The body must be a JSON object.")
    stamp = body.get("timestamp")
    if not isinstance(stamp, int | float) or abs(time.time() - stamp) > MAX_SKEW_SECONDS:
        raise InvalidSignature("timestamp is missing or more than 5 minutes off.", field="timestamp")
    return body


@transaction.atomic
def record_status(*, provider_code: str, body: dict) -> Message:
    """Apply one verified status report; an out-of-order or repeated report changes nothing."""
    status = body.get("status")
    if status not in ALLOWED_FROM:
        raise InvalidMessage(f"status must be one of {', '.join(ALLOWED_FROM)}.", field="status")
    messages = Message.objects.select_for_update()
    if body.get("message_id") is not None:
        try:
            message = messages.filter(pk=int(body["message_id"])).first()
        except (TypeError, ValueError) as exc:
            raise InvalidMessage("message_id must be an integer.", field="message_id") from exc
    elif body.get("provider_message_id"):
        message = messages.filter(
            provider=provider_code, provider_message_id=str(body["provider_message_id"])
        ).first()
    else:
        raise InvalidMessage("Give message_id or provider_message_id.", field="message_id")
    if message is None or (message.provider and message.provider != provider_code):
        raise NotFound("No such message for this provider.", field="message_id")
    if message.status not in ALLOWED_FROM[status]:
        return message
    now = timezone.now()
    detail = str(body.get("detail") or f"Reported by {provider_code}.")[:300]
    message.status, message.detail, message.updated_at = status, detail, now
    message.save(update_fields=["status", "detail", "updated_at"])
    MessageEvent.objects.create(message=message, status=status, at=now, detail=detail)
    if status == MessageStatus.BOUNCED and body.get("permanent", True) and message.to_address:
        suppress(message, SuppressionReason.HARD_BOUNCE)
    elif status == MessageStatus.COMPLAINED and message.to_address:
        suppress(message, SuppressionReason.COMPLAINT)
    return message
