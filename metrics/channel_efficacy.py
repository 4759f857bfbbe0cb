"""Channel efficacy: volume, cost, resolution, first-contact resolution, handle time, CSAT, NPS
and channel switching per channel over a window, optionally for one segment's members.

Definitions (also in the README):

- ``interactions``, ``inbound``, ``outbound``: interactions on the channel that occurred in
  the window; ``cost`` = interactions × the channel's cost per interaction.
- ``resolution_rate``: among inbound interactions with an outcome, the share with outcome
  ``resolved``.
- ``first_contact_resolution``: among inbound interactions with an outcome, the share
  resolved with no further inbound contact from the same customer, on any channel, within
  7 days.
- ``median_handle_seconds``: median ``duration_seconds`` over inbound interactions with a
  duration (the mean of the two middle values for an even count).
- ``csat``: share of CSAT answers of 4–5, ``nps``: NPS of the NPS answers, over survey
  responses given on the channel in the window.
- ``switch_rate``: share of inbound contacts followed within 7 days by an inbound contact
  from the same customer on another channel.

"Further contact" excludes survey answers (type ``survey_response``): answering our survey
is not the customer coming back about the matter. Shares are percentages with one decimal,
``null`` when nothing is counted. Each figure family is one grouped SQL query, whatever the
number of channels and customers: volume and resolution; median handle time (window
functions, the same SQL on SQLite and PostgreSQL); follow-ups (correlated ``EXISTS``);
survey answers (counts per channel × kind × score).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q

from cxhub.errors import DomainError

from . import scores
from .models import SurveyResponse

FOLLOW_UP_WINDOW = timedelta(days=7)
NOT_A_CONTACT_TYPES = ("survey_response",)
RESOLVED = "resolved"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole * 100, 1) if whole else None


def segment_customer_ids(segment: str):
    """Member customer ids of a segment given by slug or id, as a subquery."""
    from segments.models import Segment, SegmentMembership

    lookup = Q(slug=segment)
    if str(segment).isdigit():
        lookup |= Q(pk=int(segment))
    found = Segment.objects.filter(lookup).values_list("pk", flat=True).first()
    if found is None:
        raise DomainError(f"Segment {segment!r} does not exist.", field="segment")
    return SegmentMembership.objects.filter(segment_id=found).values("customer_id")


def _interactions(since, until, members):
    from interactions.models import Interaction

    rows = Interaction.objects.all()
    if since:
        rows = rows.filter(occurred_at__gte=since)
    if until:
        rows = rows.filter(occurred_at__lt=until)
    if members is not None:
        rows = rows.filter(customer_id__in=members)
    return rows


def _volume(rows) -> dict[int, dict]:
    inbound = Q(direction="inbound")
    with_outcome = inbound & ~Q(outcome="")
    result = (
        rows.values("channel_id")
        .annotate(
            interactions=Count("id"),
            inbound=Count("id", filter=inbound),
            outbound=Count("id", filter=Q(direction="outbound")),
            with_outcome=Count("id", filter=with_outcome),
            resolved=Count("id", filter=with_outcome & Q(outcome=RESOLVED)),
        )
        .order_by()
    )
    return {row.pop("channel_id"): row for row in result}


def _median_handle_seconds(rows) -> dict[int, float]:
    base = (
        rows.filter(direction="inbound", duration_seconds__isnull=False)
        .order_by()
        .annotate(c_channel=F("channel_id"), c_duration=F("duration_seconds"))
        .values_list("c_channel", "c_duration")
    )
    sql, params = base.query.sql_with_params()
    # The middle row (odd n) or the two middle rows (even n) of each channel, averaged.
    query = f"""
        SELECT c_channel, AVG(c_duration) FROM (
            SELECT b.c_channel, b.c_duration,
                   ROW_NUMBER() OVER (PARTITION BY b.c_channel ORDER BY b.c_duration) AS rn,
                   COUNT(*) OVER (PARTITION BY b.c_channel) AS n
            FROM ({sql}) b
        ) ranked
        WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
        GROUP BY c_channel
    """
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return {channel_id: float(median) for channel_id, median in cursor.fetchall()}


def _later_contacts():
    from interactions.models import Interaction

    return Interaction.objects.filter(
        customer_id=OuterRef("customer_id"),
        direction="inbound",
        occurred_at__gt=OuterRef("occurred_at"),
        occurred_at__lte=OuterRef("occurred_at") + FOLLOW_UP_WINDOW,
    ).exclude(type__in=NOT_A_CONTACT_TYPES)


def _follow_ups(rows) -> dict[int, dict]:
    later = _later_contacts()
    with_outcome = ~Q(outcome="")
    result = (
        rows.filter(direction="inbound")
        .annotate(
            came_back=Exists(later),
            switched=Exists(later.exclude(channel_id=OuterRef("channel_id"))),
        )
        .values("channel_id")
        .annotate(
            contacts=Count("id"),
            with_outcome=Count("id", filter=with_outcome),
            first_contact_resolved=Count("id", filter=with_outcome & Q(outcome=RESOLVED, came_back=False)),
            switched=Count("id", filter=Q(switched=True)),
        )
        .order_by()
    )
    return {row.pop("channel_id"): row for row in result}


def _survey_answers(since, until, members) -> dict[int, dict[str, dict[int, int]]]:
    answers = SurveyResponse.objects.filter(kind__in=("csat", "nps"), channel_id__isnull=False)
    if since:
        answers = answers.filter(responded_at__gte=since)
    if until:
        answers = answers.filter(responded_at__lt=until)
    if members is not None:
        answers = answers.filter(customer_id__in=members)
    found: dict = defaultdict(lambda: defaultdict(dict))
    for channel_id, kind, score, n in (
        answers.values("channel_id", "kind", "score")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("channel_id", "kind", "score", "n")
    ):
        found[channel_id][kind][score] = n
    return found


def channel_efficacy(
    *, since: datetime | None = None, until: datetime | None = None, segment: str | None = None
) -> list[dict]:
    """One row per channel (every active channel, and any other with activity), ordered by code.

    ``since`` inclusive, ``until`` exclusive; ``segment`` (slug or id) keeps that segment's
    current members only.
    """
    from interactions.models import Channel

    members = segment_customer_ids(segment) if segment else None
    rows = _interactions(since, until, members)
    volume = _volume(rows)
    medians = _median_handle_seconds(rows)
    follow_ups = _follow_ups(rows)
    answers = _survey_answers(since, until, members)
    active = set(volume) | set(answers)
    channels = Channel.objects.filter(Q(active=True) | Q(pk__in=active)).order_by("code")
    result = []
    for channel in channels:
        v = volume.get(channel.pk, {})
        f = follow_ups.get(channel.pk, {})
        a = answers.get(channel.pk, {})
        interactions = v.get("interactions", 0)
        csat = scores.summarise("csat", a["csat"]).as_dict() if "csat" in a else None
        nps = scores.summarise("nps", a["nps"]).as_dict() if "nps" in a else None
        result.append(
            {
                "channel": channel.code,
                "name": channel.name,
                "interactions": interactions,
                "inbound": v.get("inbound", 0),
                "outbound": v.get("outbound", 0),
                "cost": round(float(channel.cost_per_interaction) * interactions, 2),
                "resolution_rate": _share(v.get("resolved", 0), v.get("with_outcome", 0)),
                "first_contact_resolution": _share(
                    f.get("first_contact_resolved", 0), f.get("with_outcome", 0)
                ),
                "median_handle_seconds": medians.get(channel.pk),
                "csat": csat["satisfied_share"] if csat else None,
                "csat_n": csat["n"] if csat else 0,
                "nps": nps["nps"] if nps else None,
                "nps_n": nps["n"] if nps else 0,
                "switch_rate": _share(f.get("switched", 0), f.get("contacts", 0)),
            }
        )
    return result
