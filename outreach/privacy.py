"""What ``outreach`` holds on a person, for export and erasure (see ``customers.personal_data``)."""

from customers.personal_data import ANONYMISE, DELETE, KEEP, register_personal_data

from .models import CampaignRecipient, Message, MessageEvent, Suppression


def register() -> None:
    register_personal_data(
        Message,
        section="messages",
        export_fields=(
            "id",
            "channel",
            "purpose",
            "origin",
            "campaign_id",
            "to_address",
            "subject",
            "body_text",
            "status",
            "reason",
            "created_at",
            "sent_at",
        ),
        erase=ANONYMISE,
        blank={
            "to_address": "",
            "subject": "",
            "body_text": "",
            "body_html": "",
            "detail": "",
            "provider_message_id": "",
            "context": {},
        },
        why="Channel, purpose, status and times stay for caps, delivery rates and campaign results.",
    )
    register_personal_data(
        MessageEvent,
        section="message_events",
        customer_field="message__customer",
        export_fields=("message_id", "status", "at", "detail"),
        erase=ANONYMISE,
        blank={"detail": ""},
        why="Provider replies may quote the address.",
    )
    register_personal_data(
        Suppression,
        section="suppressed_addresses",
        customer_field="message__customer",
        export_fields=("channel", "address", "reason", "created_at"),
        erase=DELETE,
        why="The address itself is personal; no profile holds it after erasure.",
    )
    register_personal_data(
        CampaignRecipient,
        section="campaigns",
        export_fields=("campaign_id", "campaign__name", "group", "reason", "decided_at", "converted_at"),
        erase=KEEP,
        why="Treated / holdout draws and conversions make each campaign's lift.",
    )
