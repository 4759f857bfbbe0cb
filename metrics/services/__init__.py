"""Writes for metrics: surveys and responses, invitations, rollups, follow-up cases."""

from .cases import assign_case, close_case, flag_overdue_cases, open_case_if_needed
from .invitations import invite_customer, invite_segment, respond_with_token, send_reminders
from .responses import create_survey, record_response, record_responses
from .rollups import (
    rebuild_all,
    refresh_moved_segments,
    refresh_rollups_for_customers,
    refresh_segment_rollups_for_customers,
)

__all__ = [
    "assign_case",
    "close_case",
    "create_survey",
    "flag_overdue_cases",
    "invite_customer",
    "invite_segment",
    "on_dirty_customers",
    "open_case_if_needed",
    "rebuild_all",
    "record_response",
    "record_responses",
    "refresh_moved_segments",
    "respond_with_token",
    "send_reminders",
]


def on_dirty_customers(customer_ids: list[int]) -> None:
    """Dirty-customer handler: refresh the rollups they touch and fire interaction triggers."""
    from .invitations import trigger_invitations_for_customers

    refresh_rollups_for_customers(customer_ids)
    refresh_segment_rollups_for_customers(customer_ids)
    trigger_invitations_for_customers(customer_ids)
