"""What ``segments`` holds on a person, for export and erasure (see ``customers.personal_data``)."""

from customers.personal_data import KEEP, register_personal_data

from .models import SegmentMembership, SegmentMovement


def register() -> None:
    register_personal_data(
        SegmentMembership,
        section="segment_memberships",
        export_fields=("segment__slug", "segment__name", "since"),
        erase=KEEP,
        why="Segment sizes and KPIs stay; a tombstone member is no one.",
    )
    register_personal_data(
        SegmentMovement,
        section="segment_movements",
        export_fields=("segment__slug", "kind", "at"),
        erase=KEEP,
        why="Movements make the size-over-time history.",
    )
