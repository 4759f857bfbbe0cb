"""Evidence from outbound messaging for the next best channel (registered in ``outreach.wiring``):
measured campaign response per channel for the customers' segments, and bounced addresses.
Each answers for a batch of customers in a constant number of queries."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import F, Window
from django.db.models.functions import RowNumber


def campaign_response(customer_ids: list[int], purposes: list[str]) -> dict[str, dict[int, dict[str, float]]]:
    """Per purpose, customer and channel, the incremental response of past campaigns for the purpose
    sent to the customer's segments (treated conversion rate − holdout conversion rate, pooled over
    their segments, 0 when no better than the holdout), scaled so their best channel scores 1.
    Channels without a campaign are absent. Two queries whatever the purposes: the memberships of
    the customers, once, and the results grouped by purpose."""
    from segments.models import SegmentMembership

    from .selectors import campaign_response_rates

    segments_of: dict[int, list[int]] = defaultdict(list)
    for customer_id, segment_id in SegmentMembership.objects.filter(customer_id__in=customer_ids).values_list(
        "customer_id", "segment_id"
    ):
        segments_of[customer_id].append(segment_id)
    if not segments_of:
        return {}
    by_segment: dict[tuple[str, int], list[dict]] = defaultdict(list)
    all_segments = sorted({s for found in segments_of.values() for s in found})
    for row in campaign_response_rates(segment_ids=all_segments, purposes=purposes):
        by_segment[(row["purpose"], row["segment_id"])].append(row)
    return {
        purpose: {
            customer_id: _scaled_lift(row for s in segment_ids for row in by_segment[(purpose, s)])
            for customer_id, segment_ids in segments_of.items()
        }
        for purpose in purposes
    }


def _scaled_lift(rows) -> dict[str, float]:
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
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


def bounces(customer_ids: list[int]) -> dict[int, dict[str, str]]:
    """Per customer, the channels whose latest message to them bounced (the address is not good).
    One windowed query: the newest message per customer and channel."""
    from .models import Message, MessageStatus

    latest = (
        Message.objects.filter(customer_id__in=customer_ids)
        .annotate(
            newest=Window(
                RowNumber(),
                partition_by=[F("customer_id"), F("channel")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(newest=1)
        .values_list("customer_id", "channel", "status", "to_address", "created_at")
    )
    found: dict[int, dict[str, str]] = defaultdict(dict)
    for customer_id, channel, status, address, at in latest:
        if status != MessageStatus.BOUNCED:  # (a filter here would apply before the window)
            continue
        to = address or "the address"
        found[customer_id][channel] = f"the last message to {to} bounced ({at:%Y-%m-%d})"
    return dict(found)
