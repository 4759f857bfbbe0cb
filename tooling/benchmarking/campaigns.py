"""(f) Campaigns: deciding a segment's audience and creating its messages, then delivering them.

1. ``outreach.services.campaigns.decide_and_create`` for a static segment of up to 100,000
   customers (all live customers at smaller scales) vs the same rows written by a hand-written
   ``INSERT … SELECT`` (recipients with their group and reason, then the treated members' messages
   and their first events) on a bare psycopg connection. Rows are deleted between runs (untimed);
   the two row sets are checked to be identical.
2. Delivery: 4 worker processes stream the campaign's queued messages (``deliver_stream``: claim,
   build the MIME message, SMTP, record status, events and the timeline interaction) to a local
   SMTP sink (aiosmtpd in its own process) vs 4 processes sending the same number of plain messages
   over ``smtplib`` to the same sink (no database).
"""

import multiprocessing
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from . import baseline
from .harness import Run, median

AUDIENCE = 100_000
WORKERS = 4
BATCH = 200
# Delivery is timed on at most this many messages (at 100 msg/s the whole audience takes too long).
DELIVERY_SAMPLE = 12_000

RECIPIENTS_SQL = """
INSERT INTO outreach_campaignrecipient (campaign_id, customer_id, "group", reason, segment_id, decided_at)
SELECT %(campaign)s, d.id,
       CASE WHEN d.reason <> '' THEN 'blocked'
            WHEN ('x' || lpad(substr(md5(%(campaign)s::text || ':' || d.id::text), 1, 8), 16, '0'))
                 ::bit(64)::bigint %% 10000 < %(holdout)s THEN 'holdout'
            ELSE 'treated' END,
       d.reason, %(segment)s, %(now)s
FROM (
    SELECT c.id,
        CASE WHEN NOT coalesce(k.granted, false) THEN 'consent'
             WHEN NOT (btrim(c.email) ~ %(pattern)s) OR s.id IS NOT NULL THEN 'unreachable'
             WHEN c.quiet_hours_start IS NOT NULL AND c.quiet_hours_end IS NOT NULL
                  AND c.quiet_hours_start <> c.quiet_hours_end
                  AND CASE WHEN c.quiet_hours_start < c.quiet_hours_end
                           THEN lt.t >= c.quiet_hours_start AND lt.t < c.quiet_hours_end
                           ELSE lt.t >= c.quiet_hours_start OR lt.t < c.quiet_hours_end END THEN 'quiet_hours'
             WHEN coalesce(r.n, 0) >= %(cap)s THEN 'frequency_cap'
             ELSE '' END AS reason
    FROM segments_segmentmembership m
    JOIN customers_customer c ON c.id = m.customer_id AND c.merged_into_id IS NULL
    LEFT JOIN LATERAL (
        SELECT granted FROM customers_consent k
        WHERE k.customer_id = c.id AND k.purpose = 'marketing' AND k.channel IN ('email', 'all')
          AND k.captured_at <= %(now)s
        ORDER BY k.captured_at DESC, k.id DESC LIMIT 1
    ) k ON true
    LEFT JOIN outreach_suppression s ON s.channel = 'email' AND s.address = btrim(c.email)
    LEFT JOIN (
        SELECT customer_id, count(*) AS n FROM outreach_message
        WHERE channel = 'email' AND purpose = 'marketing' AND created_at >= %(since)s
          AND status IN ('queued', 'sending', 'sent', 'delivered')
        GROUP BY customer_id
    ) r ON r.customer_id = c.id
    LEFT JOIN pg_timezone_names z ON z.name = c.timezone
    CROSS JOIN LATERAL (SELECT (%(now)s::timestamptz AT TIME ZONE coalesce(z.name, 'UTC'))::time AS t) lt
    WHERE m.segment_id = %(segment)s
) d
"""

MESSAGES_SQL = """
WITH created AS (
    INSERT INTO outreach_message (customer_id, channel, purpose, origin, campaign_id, to_address, subject,
        body_text, body_html, status, reason, detail, idempotency_key, provider, provider_message_id,
        attempts, context, created_at, updated_at)
    SELECT c.id, 'email', 'marketing', 'campaign', %(campaign)s, btrim(c.email),
           replace(%(subject)s, '{first_name}', c.first_name),
           replace(%(text)s, '{first_name}', c.first_name),
           replace(%(html)s, '{first_name}', replace(replace(replace(replace(replace(c.first_name,
               '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#x27;')),
           'queued', '', '', 'campaign-' || %(campaign)s::text || '-' || c.id::text, '', '', 0, '{}'::jsonb,
           %(now)s, %(now)s
    FROM outreach_campaignrecipient r JOIN customers_customer c ON c.id = r.customer_id
    WHERE r.campaign_id = %(campaign)s AND r."group" = 'treated'
    RETURNING id, customer_id
), linked AS (
    UPDATE outreach_campaignrecipient r SET message_id = created.id FROM created
    WHERE r.campaign_id = %(campaign)s AND r.customer_id = created.customer_id
)
INSERT INTO outreach_messageevent (message_id, status, at, detail)
SELECT id, 'queued', %(now)s, 'Queued by campaign' FROM created
"""


def run(bench: Run) -> None:
    from outreach.models import Campaign, CampaignRecipient, Message
    from outreach.services import campaigns
    from segments.models import Segment, SegmentKind

    segment, size = _segment(Segment, SegmentKind)
    campaign = campaigns.create_campaign(
        name="Bench campaign",
        segment=segment,
        channel="email",
        purpose="marketing",
        subject="Hello {first_name}",
        body_text="Dear {first_name},\nour spring offer is here.",
        holdout_percent=10,
        conversion_events={"type": "order_placed"},
    )
    service, hand, same = [], [], ""
    for attempt in range(bench.scale.repeats):
        now = timezone.now()
        _clear(campaign)
        started = time.perf_counter()
        with transaction.atomic():
            counts = campaigns.decide_and_create(campaign=campaign, now=now)
        service.append(time.perf_counter() - started)
        ours = _fingerprint(campaign)
        _clear(campaign)
        hand.append(_hand_written(campaign, segment, now))
        theirs = _fingerprint(campaign)
        same = "same rows" if ours == theirs else f"ROWS DIFFER: {ours[:2]} vs {theirs[:2]}"
        bench.log(f"  run {attempt + 1}: service {service[-1]:.2f} s, hand-written {hand[-1]:.2f} s ({same})")
    groups = dict(
        CampaignRecipient.objects.filter(campaign=campaign)
        .values_list("group")
        .annotate(n=_count())
        .order_by()
    )
    bench.add(
        f"campaign to {size:,} customers: decide audience + create messages",
        median(service),
        median(hand),
        "s",
        note=(
            f"{counts['decided']:,} decided: {groups.get('treated', 0):,} treated, "
            f"{groups.get('holdout', 0):,} holdout, {groups.get('blocked', 0):,} blocked; {same}; "
            "hand-written INSERT … SELECT baseline"
        ),
    )
    # Deliver the hand-written run's messages (identical rows) with 4 workers.
    Campaign.objects.filter(pk=campaign.pk).update(status="sent", sent_at=timezone.now())
    queued = Message.objects.filter(campaign=campaign, status="queued").count()
    _deliver(bench, campaign, queued)


def _count():
    from django.db.models import Count

    return Count("id")


def _segment(Segment, SegmentKind):
    segment = Segment.objects.create(
        slug="bench-campaign", name="Bench campaign audience", kind=SegmentKind.STATIC
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO segments_segmentmembership (segment_id, customer_id, since) "
            "SELECT %s, id, now() FROM customers_customer WHERE merged_into_id IS NULL ORDER BY id LIMIT %s",
            [segment.pk, AUDIENCE],
        )
        size = cursor.rowcount
        cursor.execute("ANALYZE segments_segmentmembership")
    return segment, size


def _clear(campaign) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM outreach_messageevent WHERE message_id IN "
            "(SELECT id FROM outreach_message WHERE campaign_id = %s)",
            [campaign.pk],
        )
        cursor.execute(
            "UPDATE outreach_campaignrecipient SET message_id = NULL WHERE campaign_id = %s", [campaign.pk]
        )
        cursor.execute("DELETE FROM outreach_message WHERE campaign_id = %s", [campaign.pk])
        cursor.execute("DELETE FROM outreach_campaignrecipient WHERE campaign_id = %s", [campaign.pk])


def _fingerprint(campaign) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), md5(string_agg(r.customer_id::text || r.\"group\" || r.reason, ',' "
            "ORDER BY r.customer_id)), count(m.id), md5(string_agg(coalesce(m.subject || m.body_text "
            "|| m.body_html || m.to_address, ''), ',' ORDER BY r.customer_id)) "
            "FROM outreach_campaignrecipient r LEFT JOIN outreach_message m ON m.id = r.message_id "
            "WHERE r.campaign_id = %s",
            [campaign.pk],
        )
        return tuple(cursor.fetchone())


def _hand_written(campaign, segment, now) -> float:
    from django.utils.html import escape, linebreaks

    from outreach import policy

    cap = policy.frequency_cap("email")
    params = {
        "campaign": campaign.pk,
        "segment": segment.pk,
        "now": now,
        "holdout": int(round(float(campaign.holdout_percent) * 100)),
        "pattern": policy.SQL_PATTERNS["email"],
        "cap": cap.max_messages if cap else 1 << 30,
        "since": now - timedelta(days=cap.window_days if cap else 0),
        "subject": campaign.subject,
        "text": campaign.body_text,
        "html": linebreaks(escape(campaign.body_text)),
    }
    with baseline.raw_connection() as conn:
        conn.autocommit = False
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.execute(RECIPIENTS_SQL, params)
            cursor.execute(MESSAGES_SQL, params)
        conn.commit()
        return time.perf_counter() - started


# --- delivery -----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _sink(port: int, received, ready) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with received.get_lock():
                received.value += 1
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


def _worker(campaign_id: int, port: int, max_batches: int) -> None:
    connections.close_all()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_RATE_PER_MINUTE = 0  # measure the pipeline, not the configured provider rate
    from outreach.services.delivery import deliver_stream

    deliver_stream(campaign_id=campaign_id, batch_size=BATCH, max_batches=max_batches)
    connections.close_all()


def _raw_sender(port: int, count: int, body: str) -> None:
    import smtplib
    from email.message import EmailMessage

    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for i in range(count):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "a@example.org", f"p{i}@example.org", "Hello"
            message.set_content(body)
            smtp.send_message(message)


def _deliver(bench: Run, campaign, queued: int) -> None:
    from outreach.models import Message

    if not queued:
        bench.skip("campaign delivery to a local SMTP sink (4 workers)", "no treated customers", "msg/s")
        return
    context = multiprocessing.get_context("fork")
    port = _free_port()
    received, ready = context.Value("i", 0), context.Event()
    sink = context.Process(target=_sink, args=(port, received, ready), daemon=True)
    sink.start()
    ready.wait(30)
    try:
        connections.close_all()
        started = time.perf_counter()
        max_batches = -(-min(queued, DELIVERY_SAMPLE) // (WORKERS * BATCH))
        workers = [
            context.Process(target=_worker, args=(campaign.pk, port, max_batches)) for _ in range(WORKERS)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
        sent = Message.objects.filter(campaign=campaign, status="sent").count()
        body = Message.objects.filter(campaign=campaign).values_list("body_text", flat=True).first() or ""
        before = received.value
        per_worker = [sent // WORKERS + (1 if i < sent % WORKERS else 0) for i in range(WORKERS)]
        raw_started = time.perf_counter()
        senders = [context.Process(target=_raw_sender, args=(port, n, body)) for n in per_worker]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        raw_elapsed = time.perf_counter() - raw_started
        raw_sent = received.value - before
    finally:
        sink.terminate()
    bench.add(
        "campaign delivery to a local SMTP sink (4 workers)",
        sent / elapsed,
        raw_sent / raw_elapsed if raw_elapsed else None,
        "msg/s",
        better="higher",
        note=(
            f"{sent:,} of {queued:,} delivered in {elapsed:.1f} s (claim, MIME with text+HTML, SMTP, "
            f"status, event, timeline interaction); baseline: 4 processes sending {raw_sent:,} plain "
            "messages over smtplib"
        ),
    )
