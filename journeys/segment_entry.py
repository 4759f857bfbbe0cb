"""Start a journey when a customer enters a segment.

A journey whose first stage is entered by the interaction type ``segment_entered`` with
``property_matches`` ``{"segment": "<slug>"}`` starts for every customer who enters that segment:
each entry movement is written once as an inbound ``segment_entered`` interaction (source
``segments``, external id per movement) through the interactions writer, and the journey engine
starts the instance from it as from any other event (stage-entry actions included). Driven by
outreach's segment-entry triggers, right after the segments refresh of a dirty batch.
"""

from datetime import datetime

from interactions.models import Channel, Direction
from interactions.services import record_interactions
from segments.models import MovementKind, Segment, SegmentMovement

from .models import Stage

ENTRY_TYPE = "segment_entered"
SOURCE = "segments"
ENTRY_CHANNEL = "self_service"


def watched_segments() -> dict[int, str]:
    """{segment id: slug} of segments some active journey starts from (first stage on entry)."""
    slugs = set()
    for stage in Stage.objects.filter(position=0, interaction_type=ENTRY_TYPE, journey__active=True):
        slug = (stage.property_matches or {}).get("segment")
        if slug:
            slugs.add(slug)
    if not slugs:
        return {}
    return dict(Segment.objects.filter(slug__in=slugs).values_list("pk", "slug"))


def record_entries(*, customer_ids: list[int] | None, since: datetime) -> int:
    """Write each new entry into a watched segment as a ``segment_entered`` interaction, once per movement."""
    segments = watched_segments()
    if not segments:
        return 0
    entries = SegmentMovement.objects.filter(
        segment_id__in=list(segments), kind=MovementKind.ENTERED, at__gte=since
    ).order_by("id")
    if customer_ids is not None:
        entries = entries.filter(customer_id__in=customer_ids)
    channel = Channel.objects.filter(code=ENTRY_CHANNEL).values_list("pk", flat=True).first()
    if channel is None:
        channel = Channel.objects.values_list("pk", flat=True).order_by("pk").first()
    rows = [
        {
            "customer_id": customer_id,
            "channel_id": channel,
            "direction": Direction.INBOUND,
            "type": ENTRY_TYPE,
            "occurred_at": at,
            "source": SOURCE,
            "external_id": f"segment-entry-{pk}",
            "subject": f"Entered segment {segments[segment_id]}",
            "properties": {"segment": segments[segment_id], "movement_id": pk},
        }
        for pk, segment_id, customer_id, at in entries.values_list("pk", "segment_id", "customer_id", "at")
    ]
    if not rows:
        return 0
    return sum(
        1 for recorded in record_interactions(rows=rows, dirty_reason="segment_entry") if recorded.created
    )
