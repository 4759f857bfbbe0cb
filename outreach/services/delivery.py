"""Delivery: claim queued messages, hand them to their provider, record what happened.

At least once, never twice: a worker claims a message with one status transition in the
database (``queued`` → ``sending``, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so a
redelivered task finds nothing left to claim. Transient failures go back to ``queued`` and
are retried with exponential backoff up to the provider's ``max_attempts``; providers are
rate-limited per minute through the cache (Redis in production). A message stuck in
``sending`` (a worker killed mid-send) is requeued by the sweep; its Message-ID /
``Idempotency-Key`` stays the same, so a provider can drop the duplicate.
"""

import logging
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from cxhub.db import array_literal, bulk_write

from .. import providers, timeline
from ..models import Message, MessageEvent, MessageStatus, Suppression, SuppressionReason

logger = logging.getLogger("cxhub.outreach")

STALE_SENDING = timedelta(minutes=10)


def enqueue_message(message_id: int) -> None:
    """Queue delivery of one message once the current transaction commits."""

    def send() -> None:
        from ..tasks import deliver_message

        try:
            deliver_message.delay(message_id)
        except Exception:  # broker down: the sweep (requeue_pending) queues it again
            logger.warning("Could not queue delivery of message %s", message_id, exc_info=True)

    transaction.on_commit(send)


def enqueue_stream(*, campaign_id: int | None = None, workers: int | None = None) -> None:
    """Start ``workers`` streaming tasks that drain the queued messages (of one campaign) in batches."""
    count = workers or settings.OUTREACH_STREAM_WORKERS

    def send() -> None:
        from ..tasks import deliver_pending

        for _ in range(count):
            try:
                deliver_pending.delay(campaign_id)
            except Exception:
                logger.warning("Could not queue streaming delivery", exc_info=True)
                return

    transaction.on_commit(send)


def claim(*, ids: list[int] | None = None, campaign_id: int | None = None, limit: int = 200) -> list[Message]:
    """Move up to ``limit`` queued messages to ``sending`` for this worker; return them."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        where, params = ["status = 'queued'", "(next_attempt_at IS NULL OR next_attempt_at <= %s)"], [now]
        if ids is not None:
            where.append("id = ANY(%s::bigint[])")
            params.append(array_literal(ids))
        if campaign_id is not None:
            where.append("campaign_id = %s")
            params.append(campaign_id)
        table = Message._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = 'sending', attempts = attempts + 1, updated_at = %s "
                f"WHERE id IN (SELECT id FROM {table} WHERE {' AND '.join(where)} "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id",
                [now, *params, limit],
            )
            claimed = [row[0] for row in cursor.fetchall()]
    else:
        with transaction.atomic():
            pending = Message.objects.filter(status=MessageStatus.QUEUED).filter(
                Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
            )
            if ids is not None:
                pending = pending.filter(pk__in=ids)
            if campaign_id is not None:
                pending = pending.filter(campaign_id=campaign_id)
            claimed = list(pending.order_by("pk").values_list("pk", flat=True)[:limit])
            Message.objects.filter(pk__in=claimed, status=MessageStatus.QUEUED).update(
                status=MessageStatus.SENDING, attempts=F("attempts") + 1, updated_at=now
            )
    return list(Message.objects.filter(pk__in=claimed).order_by("pk"))


def rate_allowance(config: providers.ProviderConfig, wanted: int) -> tuple[int, float]:
    """How many of ``wanted`` sends the provider's rate allows this minute, and seconds to the next one."""
    if not config.rate_per_minute:
        return wanted, 0.0
    now = time.time()
    window = int(now // 60)
    key = f"outreach:rate:{config.code}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        after = cache.incr(key, wanted)
    except ValueError:  # evicted between add and incr
        cache.set(key, wanted, timeout=120)
        after = wanted
    granted = max(0, min(wanted, config.rate_per_minute - (after - wanted)))
    return granted, 60 - (now % 60)


def deliver(messages: list[Message]) -> dict[str, int]:
    """Send claimed messages through their providers and record the outcomes; returns counts."""
    counts: dict[str, int] = defaultdict(int)
    rows = list(providers.DeliveryProvider.objects.filter(active=True))
    by_provider: dict[str, list[Message]] = defaultdict(list)
    configs: dict[str, providers.ProviderConfig] = {}
    for message in messages:
        config = providers.config_for_channel(message.channel, rows)
        configs[config.code] = config
        by_provider[config.code].append(message)
    for code, batch in by_provider.items():
        config = configs[code]
        granted, wait = rate_allowance(config, len(batch))
        if granted < len(batch):
            release(batch[granted:], detail=f"Rate limit of {config.rate_per_minute}/min on {code}.")
            retry_later(batch[granted:], countdown=wait)
            counts["deferred"] += len(batch) - granted
            batch = batch[:granted]
        if not batch:
            continue
        outcomes = providers.send(batch, config)
        apply_outcomes(batch, outcomes, config)
        for outcome in outcomes:
            counts[outcome.status] += 1
    return dict(counts)


def release(messages: list[Message], *, detail: str) -> None:
    """Back to ``queued`` without counting the attempt (rate limit)."""
    Message.objects.filter(pk__in=[m.pk for m in messages], status=MessageStatus.SENDING).update(
        status=MessageStatus.QUEUED, attempts=F("attempts") - 1, updated_at=timezone.now()
    )


def retry_later(messages: list[Message], *, countdown: float) -> None:
    from ..tasks import deliver_message

    def send() -> None:
        for message in messages:
            try:
                deliver_message.apply_async((message.pk,), countdown=countdown)
            except Exception:
                logger.warning("Could not schedule a retry of message %s", message.pk, exc_info=True)

    transaction.on_commit(send)


def backoff_seconds(attempts: int) -> float:
    return settings.OUTREACH_RETRY_BACKOFF_SECONDS * (2 ** max(0, attempts - 1))


@transaction.atomic
def apply_outcomes(messages: list[Message], outcomes: list, config: providers.ProviderConfig) -> None:
    """Record each outcome: status, event, suppression of dead addresses, the timeline entry."""
    now = timezone.now()
    events, to_record, retries = [], [], defaultdict(list)
    for message, outcome in zip(messages, outcomes, strict=True):
        message.provider = config.code
        message.updated_at = now
        if outcome.status == "retry" and message.attempts < config.max_attempts:
            message.status = MessageStatus.QUEUED
            wait = backoff_seconds(message.attempts)
            message.next_attempt_at = now + timedelta(seconds=wait)
            retries[wait].append(message)
            detail = f"Attempt {message.attempts} failed, will retry: {outcome.detail}"
        elif outcome.status == "retry":
            message.status = MessageStatus.FAILED
            detail = f"Gave up after {message.attempts} attempts: {outcome.detail}"
        elif outcome.status == "sent":
            message.status = MessageStatus.SENT
            message.sent_at = now
            message.provider_message_id = outcome.provider_message_id or message.provider_message_id
            detail = outcome.detail
            if message.interaction_id is None:
                to_record.append(message)
        else:
            message.status = MessageStatus.BOUNCED if outcome.status == "bounced" else MessageStatus.FAILED
            detail = outcome.detail
            if outcome.status == "bounced" and message.to_address:
                suppress(message, SuppressionReason.HARD_BOUNCE)
        message.detail = detail[:300]
        events.append(MessageEvent(message=message, status=message.status, at=now, detail=detail[:500]))
    if to_record:
        ids = timeline.channel_ids()
        rows = [
            timeline.interaction_row(message=m, channel_id=ids[m.channel], occurred_at=now)
            for m in to_record
            if m.channel in ids
        ]
        for message, pk in zip(
            [m for m in to_record if m.channel in ids], timeline.record_outbound(rows), strict=True
        ):
            message.interaction_id = pk
    bulk_write(
        messages,
        [
            "status",
            "provider",
            "provider_message_id",
            "sent_at",
            "next_attempt_at",
            "detail",
            "updated_at",
            "interaction",
        ],
    )
    MessageEvent.objects.bulk_create(events)
    for countdown, batch in retries.items():
        retry_later(batch, countdown=countdown)


def suppress(message: Message, reason: str) -> None:
    Suppression.objects.get_or_create(
        channel=message.channel, address=message.to_address, defaults={"reason": reason, "message": message}
    )


def deliver_ids(ids: list[int]) -> dict[str, int]:
    claimed = claim(ids=ids, limit=len(ids))
    return deliver(claimed) if claimed else {}


def deliver_stream(
    *, campaign_id: int | None = None, batch_size: int = 200, max_batches: int | None = None
) -> int:
    """Claim and deliver batches until nothing queued is left; returns messages handled."""
    handled = batches = 0
    while max_batches is None or batches < max_batches:
        claimed = claim(campaign_id=campaign_id, limit=batch_size)
        if not claimed:
            break
        counts = deliver(claimed)
        handled += len(claimed)
        batches += 1
        if counts.get("deferred"):
            break  # rate limited: the deferred messages are scheduled; stop hammering the provider
    return handled


def requeue_stale(*, now=None) -> int:
    """Messages left in ``sending`` by a lost worker go back to ``queued``; queued ones get a worker."""
    now = now or timezone.now()
    stale = Message.objects.filter(status=MessageStatus.SENDING, updated_at__lt=now - STALE_SENDING)
    moved = stale.update(status=MessageStatus.QUEUED, updated_at=now)
    waiting = Message.objects.filter(
        status=MessageStatus.QUEUED, updated_at__lt=now - timedelta(minutes=1)
    ).filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    if waiting.exists():
        enqueue_stream()
    return moved
