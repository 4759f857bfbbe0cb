"""Reads for outbound messages: one message with its events, a customer's recent messages."""

from django.db.models import F, Prefetch, QuerySet

from .models import Message, MessageEvent
from .next_best import NEXT_BEST

PANEL_MESSAGES = 10


def message_with_events(*, message_id: int) -> Message | None:
    return (
        Message.objects.filter(pk=message_id)
        .prefetch_related(Prefetch("events", queryset=MessageEvent.objects.order_by("at", "id")))
        .first()
    )


def customer_messages(*, customer_id: int, limit: int = PANEL_MESSAGES) -> QuerySet[Message]:
    """The newest messages decided for a customer (sent and blocked), events prefetched: two queries.

    Each carries its campaign's name (``campaign_name``), all the 360 panel shows of it.
    """
    return (
        Message.objects.filter(customer_id=customer_id)
        .annotate(campaign_name=F("campaign__name"))
        .prefetch_related(Prefetch("events", queryset=MessageEvent.objects.order_by("at", "id")))
        .order_by("-created_at", "-id")[:limit]
    )


# --- campaigns ------------------------------------------------------------------------------------


def campaign_results(*, campaign) -> dict:
    """The API.md results of a campaign: groups, delivery, blocked by reason, conversions and lift.

    Three grouped queries whatever the audience size; conversions are as recorded by
    ``refresh_conversions`` (the caller refreshes first when it wants the latest).
    """
    from django.db.models import Count, Q

    from .models import BlockReason, CampaignRecipient, Message, MessageStatus, RecipientGroup
    from .stats import two_proportion_lift

    groups = {
        row["group"]: row
        for row in CampaignRecipient.objects.filter(campaign=campaign)
        .values("group")
        .annotate(n=Count("id"), converted=Count("id", filter=Q(converted_at__isnull=False)))
        .order_by()
    }
    blocked = dict.fromkeys(BlockReason.values, 0)
    for reason, n in (
        CampaignRecipient.objects.filter(campaign=campaign, group=RecipientGroup.BLOCKED)
        .values_list("reason")
        .annotate(n=Count("id"))
        .order_by()
    ):
        blocked[reason] = n
    delivery = Message.objects.filter(campaign=campaign).aggregate(
        sent=Count("id", filter=Q(sent_at__isnull=False)),
        delivered=Count("id", filter=Q(status__in=[MessageStatus.DELIVERED, MessageStatus.COMPLAINED])),
        bounced=Count("id", filter=Q(status=MessageStatus.BOUNCED)),
        failed=Count("id", filter=Q(status=MessageStatus.FAILED)),
        pending=Count("id", filter=Q(status__in=[MessageStatus.QUEUED, MessageStatus.SENDING])),
    )

    def group(name: str, key: str) -> int:
        return groups.get(name, {}).get(key, 0)

    treated, holdout = group("treated", "n"), group("holdout", "n")
    conv_t, conv_h = group("treated", "converted"), group("holdout", "converted")
    lift = two_proportion_lift(conv_t, treated, conv_h, holdout)
    return {
        "campaign_id": campaign.pk,
        "segment": campaign.segment.slug,
        "channel": campaign.channel,
        "audience": treated + holdout + group("blocked", "n"),
        "reachable": treated + holdout,
        "treated": treated,
        "holdout": holdout,
        "sent": delivery["sent"],
        "delivered": delivery["delivered"],
        "bounced": delivery["bounced"],
        "failed": delivery["failed"],
        "pending": delivery["pending"],
        "blocked": blocked,
        "conversions": {"treated": conv_t, "holdout": conv_h},
        "conversion_rate": {
            "treated": lift.as_dict()["treated_rate"],
            "holdout": lift.as_dict()["holdout_rate"],
        },
        "lift": {k: v for k, v in lift.as_dict().items() if k not in ("treated_rate", "holdout_rate")},
        "conversion_window_days": campaign.conversion_within_days,
    } | ({"channels": _results_by_channel(campaign)} if campaign.channel == NEXT_BEST else {})


def _results_by_channel(campaign) -> list[dict]:
    """A next-best campaign's groups, delivery, conversions and lift per chosen channel (two queries)."""
    from django.db.models import Count, Q

    from .models import CampaignRecipient, Message, MessageStatus, RecipientGroup
    from .stats import two_proportion_lift

    found: dict[str, dict] = {}
    for row in (
        CampaignRecipient.objects.filter(
            campaign=campaign, group__in=(RecipientGroup.TREATED, RecipientGroup.HOLDOUT)
        )
        .values("channel")
        .annotate(
            treated=Count("id", filter=Q(group=RecipientGroup.TREATED)),
            holdout=Count("id", filter=Q(group=RecipientGroup.HOLDOUT)),
            treated_conversions=Count(
                "id", filter=Q(group=RecipientGroup.TREATED, converted_at__isnull=False)
            ),
            holdout_conversions=Count(
                "id", filter=Q(group=RecipientGroup.HOLDOUT, converted_at__isnull=False)
            ),
        )
        .order_by("channel")
    ):
        found[row["channel"]] = row
    delivery = {
        row["channel"]: row
        for row in Message.objects.filter(campaign=campaign)
        .values("channel")
        .annotate(
            sent=Count("id", filter=Q(sent_at__isnull=False)),
            delivered=Count("id", filter=Q(status__in=[MessageStatus.DELIVERED, MessageStatus.COMPLAINED])),
        )
        .order_by()
    }
    out = []
    for channel, row in found.items():
        lift = two_proportion_lift(
            row["treated_conversions"], row["treated"], row["holdout_conversions"], row["holdout"]
        ).as_dict()
        out.append(
            {
                "channel": channel,
                "treated": row["treated"],
                "holdout": row["holdout"],
                "sent": delivery.get(channel, {}).get("sent", 0),
                "delivered": delivery.get(channel, {}).get("delivered", 0),
                "conversions": {"treated": row["treated_conversions"], "holdout": row["holdout_conversions"]},
                "lift": {k: lift[k] for k in ("absolute", "relative", "ci95", "p_value")},
            }
        )
    return out


def campaign_response_rates(
    *, segment_ids=None, channel: str | None = None, purpose: str | None = None, purposes=None
) -> list[dict]:
    """Measured response per segment × channel over every campaign sent: treated and holdout
    conversion rates and their lift — what next-best-channel reads instead of guessing.

    One grouped query. Rows: ``{"segment_id", "channel", "campaigns", "treated", "treated_conversions",
    "holdout", "holdout_conversions", "treated_rate", "holdout_rate", "lift": {...}}``; with
    ``purposes`` (a list), per segment × channel × purpose, each row adding its ``"purpose"``.
    """
    from django.db.models import Count, Q, Value
    from django.db.models.functions import Coalesce, NullIf

    from .models import CampaignRecipient, RecipientGroup
    from .stats import two_proportion_lift

    # A next-best campaign's recipients carry the channel chosen for each; others, the campaign's.
    rows = CampaignRecipient.objects.filter(
        group__in=(RecipientGroup.TREATED, RecipientGroup.HOLDOUT), segment__isnull=False
    ).annotate(sent_on=Coalesce(NullIf("channel", Value("")), "campaign__channel"))
    if segment_ids is not None:
        rows = rows.filter(segment_id__in=list(segment_ids))
    if channel:
        rows = rows.filter(sent_on=channel)
    if purpose:
        rows = rows.filter(campaign__purpose=purpose)
    keys = ["segment_id", "sent_on"]
    if purposes is not None:
        rows = rows.filter(campaign__purpose__in=list(purposes))
        keys.append("campaign__purpose")
    grouped = (
        rows.values(*keys)
        .annotate(
            campaigns=Count("campaign", distinct=True),
            treated=Count("id", filter=Q(group=RecipientGroup.TREATED)),
            treated_conversions=Count(
                "id", filter=Q(group=RecipientGroup.TREATED, converted_at__isnull=False)
            ),
            holdout=Count("id", filter=Q(group=RecipientGroup.HOLDOUT)),
            holdout_conversions=Count(
                "id", filter=Q(group=RecipientGroup.HOLDOUT, converted_at__isnull=False)
            ),
        )
        .order_by(*keys)
    )
    out = []
    for row in grouped:
        lift = two_proportion_lift(
            row["treated_conversions"], row["treated"], row["holdout_conversions"], row["holdout"]
        ).as_dict()
        out.append(
            {
                "segment_id": row["segment_id"],
                "channel": row["sent_on"],
                "campaigns": row["campaigns"],
                "treated": row["treated"],
                "treated_conversions": row["treated_conversions"],
                "holdout": row["holdout"],
                "holdout_conversions": row["holdout_conversions"],
                "treated_rate": lift["treated_rate"],
                "holdout_rate": lift["holdout_rate"],
                "lift": {k: lift[k] for k in ("absolute", "relative", "ci95", "p_value")},
            }
            | ({"purpose": row["campaign__purpose"]} if purposes is not None else {})
        )
    return out
