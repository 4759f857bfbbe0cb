"""Evidence from outbound messaging for the next best channel (wired in ``metrics.wiring``):
measured campaign response per channel for the customer's segments, and bounced addresses."""

from __future__ import annotations

from collections import defaultdict

RECENT_MESSAGES = 100


def campaign_response(customer_id: int, purpose: str) -> dict[str, float]:
    """Per channel, the incremental response of past campaigns for ``purpose`` sent to the
    customer's segments (treated conversion rate − holdout conversion rate, pooled over the
    segments, 0 when no better than the holdout), scaled so the best channel scores 1.
    Channels without a campaign are absent. Two queries."""
    from outreach.selectors import campaign_response_rates
    from segments.models import SegmentMembership

    segment_ids = list(
        SegmentMembership.objects.filter(customer_id=customer_id).values_list("segment_id", flat=True)
    )
    if not segment_ids:
        return {}
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in campaign_response_rates(segment_ids=segment_ids, purpose=purpose):
        totals = pooled[row["channel"]]
        totals[0] += row["treated"]
        totals[1] += row["treated_conversions"]
        totals[2] += row["holdout"]
        totals[3] += row["holdout_conversions"]
    lift = {}
    for channel, (treated, converted, holdout, holdout_converted) in pooled.items():
        if not treated:
            continue
        baseline = holdout_converted / holdout if holdout else 0.0
        lift[channel] = max(converted / treated - baseline, 0.0)
    best = max(lift.values(), default=0.0)
    return {channel: (value / best if best else 0.0) for channel, value in lift.items()}


def bounces(customer_id: int) -> dict[str, str]:
    """Channels whose latest message to the customer bounced (their address is not good)."""
    from outreach.models import Message, MessageStatus

    latest: dict[str, tuple] = {}
    recent = (
        Message.objects.filter(customer_id=customer_id)
        .order_by("-created_at", "-id")
        .values_list("channel", "status", "to_address", "created_at")[:RECENT_MESSAGES]
    )
    for channel, status, address, at in recent:
        latest.setdefault(channel, (status, address, at))
    return {
        channel: f"the last message to {address or 'the address'} bounced ({at:%Y-%m-%d})"
        for channel, (status, address, at) in latest.items()
        if status == MessageStatus.BOUNCED
    }
