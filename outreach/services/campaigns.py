"""Campaigns: decide a segment's audience set-based, draw the holdout, create messages in bulk.

``send_campaign`` writes one ``CampaignRecipient`` per audience member — treated, holdout or
blocked (consent, unreachable, quiet hours, frequency cap: the gateway's rules) — in one
``INSERT … SELECT`` on PostgreSQL, then the treated members' messages (and their first events)
in one more statement; workers stream delivery. ``UNIQUE (campaign, customer)`` and each
message's idempotency key make a re-send (or a segment entry seen twice) send nothing twice.
SQLite takes the gateway's Python rules per customer with the same results.
"""

import logging
import string
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone
from django.utils.html import escape, linebreaks

from audit.services import record_audit
from customers.models import ConsentPurpose, Customer
from customers.selectors import ALL_CHANNELS, OPT_OUT_PURPOSES
from cxhub.db import bulk_write
from cxhub.errors import Conflict, DomainError
from interactions.models import Channel, Interaction

from .. import policy
from ..errors import InvalidCampaign
from ..models import (
    CAPPED_STATUSES,
    Campaign,
    CampaignRecipient,
    CampaignSchedule,
    CampaignStatus,
    Message,
    MessageEvent,
    MessageOrigin,
    MessageStatus,
    RecipientGroup,
    Suppression,
)
from ..next_best import NEXT_BEST, choose_for_sending

logger = logging.getLogger("cxhub.outreach")

PLACEHOLDERS = {"first_name", "last_name"}


# --- creating -----------------------------------------------------------------------------------


def _check_template(text: str, field: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text or "") if name is not None}
    except ValueError as exc:
        raise InvalidCampaign(f"{field}: {exc}.", field=field) from exc
    unknown = names - PLACEHOLDERS
    if unknown:
        raise InvalidCampaign(
            f"{field}: unknown placeholder {{{sorted(unknown)[0]}}}; use {{first_name}} or {{last_name}}.",
            field=field,
        )


def validate_conversion(events: dict, *, field: str = "conversion.events") -> dict:
    """An events filter as in segment rules (validated by the same schema and compiler)."""
    from segments.conditions import event_filter
    from segments.errors import InvalidRule
    from segments.registry import CompileContext
    from segments.validation import validate_rules

    events = events or {}
    if not isinstance(events, dict):
        raise InvalidCampaign("conversion.events must be an object.", field=field)
    try:
        validate_rules({"events": events}, prefix="conversion")
        event_filter(events, CompileContext(now=timezone.now(), path=field))
    except InvalidRule as exc:
        raise InvalidCampaign(exc.message, field=exc.field or field) from exc
    return events


def validate_campaign(campaign: Campaign) -> Campaign:
    if (
        campaign.channel != NEXT_BEST
        and not Channel.objects.filter(code=campaign.channel, active=True).exists()
    ):
        raise InvalidCampaign(
            f"Unknown or inactive channel {campaign.channel!r}; use an active channel code or {NEXT_BEST!r}.",
            field="channel",
        )
    if campaign.purpose not in ConsentPurpose.values:
        raise InvalidCampaign(f"Unknown purpose {campaign.purpose!r}.", field="purpose")
    if not (campaign.body_text or "").strip():
        raise InvalidCampaign("body is required.", field="body")
    for field, text in (
        ("subject", campaign.subject),
        ("body", campaign.body_text),
        ("body_html", campaign.body_html),
    ):
        _check_template(text, field)
    if not 0 <= float(campaign.holdout_percent) <= 90:
        raise InvalidCampaign("holdout_percent must be between 0 and 90.", field="holdout_percent")
    if campaign.schedule == CampaignSchedule.AT and campaign.send_at is None:
        raise InvalidCampaign("A campaign scheduled at a time needs send_at.", field="send_at")
    if not 1 <= campaign.conversion_within_days <= 365:
        raise InvalidCampaign("conversion.within_days must be 1-365.", field="conversion.within_days")
    validate_conversion(campaign.conversion_events)
    return campaign


def create_campaign(*, user=None, **fields) -> Campaign:
    campaign = Campaign(**fields)
    validate_campaign(campaign)
    if campaign.schedule == CampaignSchedule.AT:
        campaign.status = CampaignStatus.SCHEDULED
    campaign.created_by = user if getattr(user, "pk", None) else None
    campaign.save()
    return campaign


# --- sending ------------------------------------------------------------------------------------


def send_campaign(*, campaign: Campaign, user=None, now: datetime | None = None) -> dict:
    """Send (or, for ``on_entry``, start) a campaign; returns counts of what was decided now."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status == CampaignStatus.STOPPED:
            raise Conflict("This campaign is stopped.", code="stopped")
        validate_campaign(campaign)
        if campaign.schedule == CampaignSchedule.ON_ENTRY:
            if campaign.status != CampaignStatus.ACTIVE:
                campaign.status, campaign.entries_since, campaign.sent_at = CampaignStatus.ACTIVE, now, now
                campaign.save(update_fields=["status", "entries_since", "sent_at"])
            return {"decided": 0, "messages": 0}
        counts = decide_and_create(campaign=campaign, now=now)
        campaign.status, campaign.sent_at = CampaignStatus.SENT, campaign.sent_at or now
        campaign.save(update_fields=["status", "sent_at"])
        _audit(campaign, user, counts)
    if counts["messages"]:
        from .delivery import enqueue_stream

        enqueue_stream(campaign_id=campaign.pk)
    return counts


def _audit(campaign: Campaign, user, counts: dict) -> None:
    detail = {"decided": counts["decided"], "messages": counts["messages"]}
    if "channels" in counts:  # next best: how many messages each chosen channel got
        detail["channels"] = counts["channels"]
    record_audit(
        action="campaign.send",
        actor=user,
        object_type="campaign",
        object_id=campaign.pk,
        row_count=counts["messages"],
        detail=detail,
    )


def decide_and_create(*, campaign: Campaign, now: datetime, customer_ids: list[int] | None = None) -> dict:
    """Recipients (with their group) and the treated members' messages, for the whole segment or some ids."""
    if campaign.channel == NEXT_BEST:
        return _decide_next_best(campaign, now, customer_ids)
    if connection.vendor == "postgresql":
        decided = _decide_postgres(campaign, now, customer_ids)
        created = _create_messages_postgres(campaign, now)
    else:
        decided = _decide_python(campaign, now, customer_ids)
        created = _create_messages_python(campaign, now)
    return {"decided": decided, "messages": created}


def _cap_params(campaign: Campaign) -> tuple[int, datetime | None]:
    cap = policy.frequency_cap(campaign.channel) if campaign.purpose == policy.MARKETING else None
    return (cap.max_messages, cap.window_days) if cap else (0, None)


def _decide_postgres(campaign: Campaign, now: datetime, customer_ids: list[int] | None) -> int:
    from cxhub.db import array_literal
    from segments.models import SegmentMembership

    field = policy.ADDRESS_FIELDS.get(campaign.channel)
    address = f"btrim(c.{field})" if field else "''"
    valid = "a.address ~ %(pattern)s" if field else "true"
    cap_max, cap_days = _cap_params(campaign)
    restrict = "AND m.customer_id = ANY(%(ids)s::bigint[])" if customer_ids is not None else ""
    sql = f"""
        WITH audience AS MATERIALIZED (
            SELECT c.id AS customer_id, {address} AS address, c.timezone,
                   c.quiet_hours_start, c.quiet_hours_end
            FROM {SegmentMembership._meta.db_table} m
            JOIN {Customer._meta.db_table} c ON c.id = m.customer_id
            WHERE m.segment_id = %(segment)s AND c.merged_into_id IS NULL {restrict}
        ),
        consent AS (
            SELECT DISTINCT ON (k.customer_id) k.customer_id, k.granted
            FROM customers_consent k
            WHERE k.customer_id IN (SELECT customer_id FROM audience)
              AND k.purpose = %(purpose)s AND k.channel IN (%(channel)s, %(all)s) AND k.captured_at <= %(now)s
            ORDER BY k.customer_id, k.captured_at DESC, k.id DESC
        ),
        recent AS (
            SELECT customer_id, count(*) AS n FROM {Message._meta.db_table}
            WHERE %(cap_max)s > 0 AND customer_id IN (SELECT customer_id FROM audience)
              AND channel = %(channel)s AND purpose = %(marketing)s
              AND status = ANY(%(capped)s) AND created_at >= %(cap_since)s
            GROUP BY customer_id
        ),
        decided AS (
            SELECT a.customer_id,
                CASE
                    WHEN NOT coalesce(k.granted, %(opt_out)s) THEN 'consent'
                    WHEN NOT ({valid}) THEN 'unreachable'
                    WHEN s.id IS NOT NULL THEN 'unreachable'
                    WHEN a.quiet_hours_start IS NOT NULL AND a.quiet_hours_end IS NOT NULL
                         AND a.quiet_hours_start <> a.quiet_hours_end
                         AND CASE WHEN a.quiet_hours_start < a.quiet_hours_end
                             THEN local.t >= a.quiet_hours_start AND local.t < a.quiet_hours_end
                             ELSE local.t >= a.quiet_hours_start OR local.t < a.quiet_hours_end END
                        THEN 'quiet_hours'
                    WHEN %(cap_max)s > 0 AND coalesce(r.n, 0) >= %(cap_max)s THEN 'frequency_cap'
                    ELSE ''
                END AS reason
            FROM audience a
            LEFT JOIN consent k ON k.customer_id = a.customer_id
            LEFT JOIN {Suppression._meta.db_table} s ON s.channel = %(channel)s AND s.address = a.address
            LEFT JOIN recent r ON r.customer_id = a.customer_id
            LEFT JOIN pg_timezone_names z ON z.name = a.timezone
            CROSS JOIN LATERAL (
                SELECT (%(now)s::timestamptz AT TIME ZONE coalesce(z.name, %(default_zone)s))::time AS t
            ) local
        )
        INSERT INTO {CampaignRecipient._meta.db_table}
            (campaign_id, customer_id, "group", reason, channel, segment_id, decided_at)
        SELECT %(campaign)s, customer_id,
            CASE WHEN reason <> '' THEN 'blocked'
                 WHEN ('x' || lpad(substr(md5(%(campaign)s::text || ':' || customer_id::text), 1, 8),
                                   16, '0'))::bit(64)::bigint %% 10000 < %(holdout)s THEN 'holdout'
                 ELSE 'treated' END,
            reason, CASE WHEN reason <> '' THEN '' ELSE %(channel)s END, %(segment)s, %(now)s
        FROM decided
        ON CONFLICT (campaign_id, customer_id) DO NOTHING
    """
    params = {
        "segment": campaign.segment_id,
        "campaign": campaign.pk,
        "purpose": campaign.purpose,
        "channel": campaign.channel,
        "all": ALL_CHANNELS,
        "now": now,
        "opt_out": campaign.purpose in OPT_OUT_PURPOSES,
        "pattern": policy.SQL_PATTERNS.get(field or "", ""),
        "cap_max": cap_max,
        "cap_since": now - timedelta(days=cap_days or 0),
        "marketing": policy.MARKETING,
        "capped": array_literal([str(s) for s in CAPPED_STATUSES]),
        "default_zone": settings.TIME_ZONE,
        "holdout": int(round(float(campaign.holdout_percent) * 100)),
        "ids": array_literal(customer_ids or []),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _templates(campaign: Campaign) -> tuple[str, str, str]:
    html = campaign.body_html or linebreaks(escape(campaign.body_text))
    return campaign.subject, campaign.body_text, html


def _create_messages_postgres(campaign: Campaign, now: datetime) -> int:
    subject, text, html = _templates(campaign)

    def filled(template: str, escaped: bool) -> str:
        first = "c.first_name" if not escaped else _sql_escape("c.first_name")
        last = "c.last_name" if not escaped else _sql_escape("c.last_name")
        return f"replace(replace(%({template})s, '{{first_name}}', {first}), '{{last_name}}', {last})"

    html_part = filled("html", True) if campaign.channel == "email" else "''"
    field = policy.ADDRESS_FIELDS.get(campaign.channel)
    address = f"btrim(c.{field})" if field else "''"
    table, recipients, events = (
        Message._meta.db_table,
        CampaignRecipient._meta.db_table,
        MessageEvent._meta.db_table,
    )
    sql = f"""
        WITH pending AS (
            SELECT r.customer_id FROM {recipients} r
            WHERE r.campaign_id = %(campaign)s AND r."group" = 'treated' AND r.message_id IS NULL
        ),
        created AS (
            INSERT INTO {table} (customer_id, channel, purpose, origin, campaign_id, to_address, subject,
                body_text, body_html, status, reason, detail, idempotency_key, provider, provider_message_id,
                attempts, context, created_at, updated_at)
            SELECT c.id, %(channel)s, %(purpose)s, %(origin)s, %(campaign)s, {address},
                left({filled("subject", False)}, 255), {filled("text", False)}, {html_part},
                'queued', '', '', 'campaign-' || %(campaign)s::text || '-' || c.id::text, '', '',
                0, '{{}}'::jsonb, %(now)s, %(now)s
            FROM pending p JOIN customers_customer c ON c.id = p.customer_id
            ON CONFLICT (idempotency_key) DO NOTHING
            RETURNING id, customer_id
        ),
        linked AS (
            UPDATE {recipients} r SET message_id = created.id FROM created
            WHERE r.campaign_id = %(campaign)s AND r.customer_id = created.customer_id
        )
        INSERT INTO {events} (message_id, status, at, detail)
        SELECT id, 'queued', %(now)s, %(detail)s FROM created
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "campaign": campaign.pk,
                "channel": campaign.channel,
                "purpose": campaign.purpose,
                "origin": MessageOrigin.CAMPAIGN,
                "subject": subject,
                "text": text,
                "html": html,
                "now": now,
                "detail": f"Queued by campaign {campaign.name}"[:500],
            },
        )
        return cursor.rowcount


def _sql_escape(column: str) -> str:
    return (
        f"replace(replace(replace(replace(replace({column}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'),"
        f" '\"', '&quot;'), '''', '&#x27;')"
    )


def _decide_python(campaign: Campaign, now: datetime, customer_ids: list[int] | None) -> int:
    from segments.models import SegmentMembership

    members = SegmentMembership.objects.filter(segment_id=campaign.segment_id)
    if customer_ids is not None:
        members = members.filter(customer_id__in=customer_ids)
    decided_ids = set(
        CampaignRecipient.objects.filter(campaign=campaign).values_list("customer_id", flat=True)
    )
    customers = list(
        Customer.objects.filter(pk__in=members.values("customer_id"), merged_into__isnull=True)
        .exclude(pk__in=decided_ids)
        .order_by("pk")
    )
    decisions = policy.decide_batch(
        customers=customers, channels=[campaign.channel], purpose=campaign.purpose, now=now
    )
    rows = []
    for customer in customers:
        decision = decisions[customer.pk][campaign.channel]
        if not decision.allowed:
            group = RecipientGroup.BLOCKED
        elif policy.is_held_out(campaign.pk, customer.pk, campaign.holdout_percent):
            group = RecipientGroup.HOLDOUT
        else:
            group = RecipientGroup.TREATED
        rows.append(
            CampaignRecipient(
                campaign=campaign,
                customer=customer,
                group=group,
                reason=decision.reason,
                channel="" if decision.reason else campaign.channel,
                segment_id=campaign.segment_id,
                decided_at=now,
            )
        )
    CampaignRecipient.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _create_messages_python(campaign: Campaign, now: datetime) -> int:
    pending = CampaignRecipient.objects.filter(
        campaign=campaign, group=RecipientGroup.TREATED, message__isnull=True
    ).select_related("customer")
    recipients = list(pending)
    messages = [
        _message(
            campaign, r.customer, campaign.channel, policy.address_for(r.customer, campaign.channel)[0], now
        )
        for r in recipients
    ]
    Message.objects.bulk_create(messages)
    for recipient, message in zip(recipients, messages, strict=True):
        recipient.message = message
    bulk_write(recipients, ["message"])
    _queued_events(campaign, messages, now)
    return len(messages)


def _message(
    campaign: Campaign, customer, channel: str, address: str, now: datetime, context=None
) -> Message:
    subject, text, html = _templates(campaign)
    values = {"first_name": customer.first_name, "last_name": customer.last_name}
    escaped = {k: escape(v) for k, v in values.items()}
    return Message(
        customer=customer,
        channel=channel,
        purpose=campaign.purpose,
        origin=MessageOrigin.CAMPAIGN,
        campaign=campaign,
        to_address=address,
        subject=_fill(subject, values)[:255],
        body_text=_fill(text, values),
        body_html=_fill(html, escaped) if channel == "email" else "",
        status=MessageStatus.QUEUED,
        idempotency_key=f"campaign-{campaign.pk}-{customer.pk}",
        context=context or {},
        created_at=now,
        updated_at=now,
    )


def _queued_events(campaign: Campaign, messages: list[Message], now: datetime) -> None:
    def detail(message: Message) -> str:
        if campaign.channel == NEXT_BEST:
            return f"Queued by campaign {campaign.name} on {message.channel} (next best channel)"[:500]
        return f"Queued by campaign {campaign.name}"[:500]

    MessageEvent.objects.bulk_create(
        [MessageEvent(message=m, status=MessageStatus.QUEUED, at=now, detail=detail(m)) for m in messages]
    )


# --- next best channel: chosen per customer, batch by batch -----------------------------------------

NEXT_BEST_BATCH = 500


def _decide_next_best(campaign: Campaign, now: datetime, customer_ids: list[int] | None) -> dict:
    """Each undecided member gets the selector's channel that the gateway lets through, or is blocked
    with the reason of the channel that got furthest; the holdout is drawn among those with a channel.
    A constant number of queries per batch of ``NEXT_BEST_BATCH`` customers."""
    from segments.models import SegmentMembership

    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()  # one writer per campaign
    members = SegmentMembership.objects.filter(segment_id=campaign.segment_id)
    if customer_ids is not None:
        members = members.filter(customer_id__in=customer_ids)
    undecided = Customer.objects.filter(
        pk__in=members.values("customer_id"), merged_into__isnull=True
    ).exclude(Exists(CampaignRecipient.objects.filter(campaign=campaign, customer_id=OuterRef("pk"))))
    counts = {"decided": 0, "messages": 0, "channels": {}}
    after = 0
    while batch := list(undecided.filter(pk__gt=after).order_by("pk")[:NEXT_BEST_BATCH]):
        after = batch[-1].pk
        _next_best_batch(campaign, batch, now, counts)
    return counts


def _next_best_batch(campaign: Campaign, customers: list, now: datetime, counts: dict) -> None:
    choices = choose_for_sending(customers=customers, purpose=campaign.purpose, now=now)
    recipients, messages = [], []
    for customer in customers:
        choice = choices[customer.pk]
        recipient = CampaignRecipient(
            campaign=campaign,
            customer=customer,
            group=RecipientGroup.BLOCKED,
            reason=choice.reason,
            channel=choice.channel or "",
            segment_id=campaign.segment_id,
            decided_at=now,
        )
        recipients.append(recipient)
        if choice.channel is None:
            continue
        if policy.is_held_out(campaign.pk, customer.pk, campaign.holdout_percent):
            recipient.group = RecipientGroup.HOLDOUT
            continue
        recipient.group = RecipientGroup.TREATED
        recipient.message = _message(
            campaign, customer, choice.channel, choice.address, now, {"next_best": choice.record()}
        )
        messages.append(recipient.message)
        counts["channels"][choice.channel] = counts["channels"].get(choice.channel, 0) + 1
    Message.objects.bulk_create(messages)
    CampaignRecipient.objects.bulk_create(recipients)
    _queued_events(campaign, messages, now)
    counts["decided"] += len(recipients)
    counts["messages"] += len(messages)


def _fill(template: str, values: dict) -> str:
    return template.replace("{first_name}", values["first_name"]).replace("{last_name}", values["last_name"])


# --- segment entries, schedules, conversions --------------------------------------------------------


def process_segment_entries(*, customer_ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Treat customers who entered an on-entry campaign's segment since it started (once each)."""
    from segments.models import MovementKind, SegmentMovement

    now = now or timezone.now()
    decided = 0
    for campaign in Campaign.objects.filter(schedule=CampaignSchedule.ON_ENTRY, status=CampaignStatus.ACTIVE):
        entries = SegmentMovement.objects.filter(
            segment_id=campaign.segment_id, kind=MovementKind.ENTERED, at__gte=campaign.entries_since
        )
        if customer_ids is not None:
            entries = entries.filter(customer_id__in=customer_ids)
        entries = entries.exclude(
            Exists(CampaignRecipient.objects.filter(campaign=campaign, customer_id=OuterRef("customer_id")))
        )
        entered = sorted(set(entries.values_list("customer_id", flat=True)))
        if not entered:
            continue
        with transaction.atomic():
            counts = decide_and_create(campaign=campaign, now=now, customer_ids=entered)
        decided += counts["decided"]
        if counts["messages"]:
            from .delivery import enqueue_stream

            enqueue_stream(campaign_id=campaign.pk, workers=1)
    return decided


def send_due_campaigns(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    due = Campaign.objects.filter(
        schedule=CampaignSchedule.AT, status=CampaignStatus.SCHEDULED, send_at__lte=now
    )
    sent = 0
    for campaign in due:
        try:
            send_campaign(campaign=campaign, now=now)
            sent += 1
        except DomainError:
            logger.warning("Scheduled campaign %s could not be sent", campaign.pk, exc_info=True)
    return sent


def refresh_conversions(*, campaign: Campaign, customer_ids: list[int] | None = None) -> int:
    """Set ``converted_at`` (first matching interaction inside the window after the draw); one UPDATE."""
    from segments.conditions import event_filter
    from segments.registry import CompileContext

    spec = {k: v for k, v in (campaign.conversion_events or {}).items() if k != "within_days"}
    if not spec:
        return 0
    window = timedelta(days=campaign.conversion_within_days)
    matching = Interaction.objects.filter(
        event_filter(spec, CompileContext(now=timezone.now(), path="conversion.events")),
        customer_id=OuterRef("customer_id"),
        occurred_at__gt=OuterRef("decided_at"),
        occurred_at__lte=OuterRef("decided_at") + window,
    ).exclude(direction="outbound", source="outreach")
    first = matching.order_by("occurred_at").values("occurred_at")[:1]
    recipients = CampaignRecipient.objects.filter(
        campaign=campaign,
        group__in=(RecipientGroup.TREATED, RecipientGroup.HOLDOUT),
        converted_at__isnull=True,
    )
    if customer_ids is not None:
        recipients = recipients.filter(customer_id__in=customer_ids)
    return recipients.filter(Exists(matching)).update(converted_at=Subquery(first))


def refresh_open_conversions(*, customer_ids: list[int] | None = None, now: datetime | None = None) -> int:
    """Conversions for every campaign whose window is still open (from the dirty pipeline and beat)."""
    now = now or timezone.now()
    updated = 0
    open_campaigns = Campaign.objects.exclude(conversion_events={}).filter(sent_at__isnull=False)
    for campaign in open_campaigns:
        if (
            campaign.schedule != CampaignSchedule.ON_ENTRY
            and campaign.sent_at + timedelta(days=campaign.conversion_within_days + 1) < now
        ):
            continue
        updated += refresh_conversions(campaign=campaign, customer_ids=customer_ids)
    return updated


def on_dirty_customers(customer_ids: list[int]) -> None:
    """Real-time dirty-pipeline handler (runs after the segments refresh): entries trigger."""
    from ..triggers import run_entry_handlers

    process_segment_entries(customer_ids=customer_ids)
    run_entry_handlers(customer_ids=customer_ids)


def on_dirty_customers_conversions(customer_ids: list[int]) -> None:
    """Standard dirty-pipeline handler: the customers' conversions reach their open campaigns."""
    refresh_open_conversions(customer_ids=customer_ids)
