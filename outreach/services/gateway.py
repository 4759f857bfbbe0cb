"""The one outbound gateway: every message the product sends goes through ``send_message``.

It checks consent, reachability, quiet hours and the marketing frequency cap
(``outreach.policy``), renders the template, records the decision (a ``Message`` with its
first ``MessageEvent``: queued, or blocked and why), writes the outbound interaction on the
customer's timeline through the interactions writer, and queues delivery on commit.
"""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import ConsentPurpose, Customer
from customers.selectors import survivor_id
from cxhub.errors import NotFound
from interactions.models import Channel

from .. import policy, rendering, timeline
from ..errors import InvalidMessage
from ..models import Message, MessageEvent, MessageOrigin, MessageStatus

logger = logging.getLogger("cxhub.outreach")

MAX_BODY = 20000


def _live_customer(customer) -> Customer:
    pk = customer.pk if isinstance(customer, Customer) else customer
    try:
        live = survivor_id(int(pk))
    except (TypeError, ValueError) as exc:
        raise InvalidMessage("customer_id must be an integer.", field="customer_id") from exc
    found = Customer.objects.filter(pk=live).first() if live else None
    if found is None:
        raise NotFound(f"Customer {pk} does not exist.", field="customer_id")
    return found


def _channel(code: str) -> Channel:
    channel = Channel.objects.filter(code=code or "", active=True).first()
    if channel is None:
        raise InvalidMessage(f"Unknown or inactive channel {code!r}.", field="channel")
    return channel


def send_message(
    *,
    customer,
    channel: str,
    purpose: str,
    body: str,
    subject: str = "",
    body_html: str = "",
    idempotency_key: str | None = None,
    origin: str = MessageOrigin.API,
    values: dict | None = None,
    context: dict | None = None,
    timeline_entry: dict | None = None,
    user=None,
    now: datetime | None = None,
) -> Message:
    """Decide, record and queue one message; returns it (status ``queued`` or ``blocked``).

    ``values`` fill the template's placeholders beside the customer's names; ``timeline_entry``
    overrides the outbound interaction's ``type``, ``source``, ``external_id``, ``agent_id``,
    ``touchpoint`` and ``properties``. The same ``idempotency_key`` returns the first message.
    """
    if purpose not in ConsentPurpose.values:
        raise InvalidMessage(
            f"Unknown purpose {purpose!r}; use one of {', '.join(ConsentPurpose.values)}.", field="purpose"
        )
    if not (body or "").strip():
        raise InvalidMessage("body is required.", field="body")
    if len(body) > MAX_BODY or len(body_html or "") > MAX_BODY:
        raise InvalidMessage(f"body is longer than {MAX_BODY} characters.", field="body")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
        raise InvalidMessage("idempotency_key must be 1-200 characters.", field="idempotency_key")
    if idempotency_key:
        existing = Message.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    live = _live_customer(customer)
    channel_row = _channel(channel)
    now = now or timezone.now()
    decision = policy.decide(customer=live, channel=channel_row.code, purpose=purpose, now=now)
    fill = rendering.placeholders(live, values)
    text = rendering.render_text(body, fill)
    message = Message(
        customer=live,
        channel=channel_row.code,
        purpose=purpose,
        origin=origin,
        to_address=decision.address,
        subject=rendering.render_text(subject or "", fill)[:255],
        body_text=text,
        body_html=rendering.render_html(body_html or "", text, fill) if channel_row.code == "email" else "",
        status=MessageStatus.QUEUED if decision.allowed else MessageStatus.BLOCKED,
        reason=decision.reason,
        detail=decision.detail[:300],
        idempotency_key=idempotency_key or None,
        context=context or {},
        created_by=user if getattr(user, "pk", None) else None,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            message.save()
            MessageEvent.objects.create(
                message=message,
                status=message.status,
                at=now,
                detail=decision.detail or "Queued for delivery.",
            )
            if decision.allowed:
                entry = dict(timeline_entry or {})
                row = timeline.interaction_row(
                    message=message, channel_id=channel_row.pk, occurred_at=now, **entry
                )
                message.interaction_id = timeline.record_outbound([row])[0]
                message.save(update_fields=["interaction"])
    except IntegrityError:
        if idempotency_key:  # a concurrent call with the same key won
            return Message.objects.get(idempotency_key=idempotency_key)
        raise
    if decision.allowed:
        from .delivery import enqueue_message

        enqueue_message(message.pk)
    else:
        logger.info("Message %s blocked: %s", message.pk, decision.detail)
    return message
