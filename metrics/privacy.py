"""What ``metrics`` holds on a person: export, erasure and the survey-comment retention."""

from datetime import datetime

from customers.personal_data import ANONYMISE, KEEP, register_personal_data
from customers.retention import register_retention

from .models import FollowUpCase, SurveyInvitation, SurveyResponse

RETENTION_CHUNK = 5000


def blank_comments_before(cutoff: datetime) -> int:
    """Blank survey comments given before ``cutoff``; scores, sentiment and themes stay."""
    blanked = 0
    while True:
        ids = list(
            SurveyResponse.objects.filter(responded_at__lt=cutoff)
            .exclude(comment="")
            .order_by()
            .values_list("pk", flat=True)[:RETENTION_CHUNK]
        )
        if not ids:
            return blanked
        blanked += SurveyResponse.objects.filter(pk__in=ids).update(comment="")


def register() -> None:
    register_personal_data(
        SurveyResponse,
        section="survey_responses",
        export_fields=(
            "id",
            "survey_id",
            "survey__name",
            "kind",
            "score",
            "comment",
            "responded_at",
            "channel_id",
            "touchpoint",
            "source",
            "external_id",
            "sentiment",
            "sentiment_label",
        ),
        erase=ANONYMISE,
        blank={"comment": ""},
        why="Scores stay for NPS, CES and CSAT (and their rollups); the comment is the person's words.",
    )
    register_personal_data(
        SurveyInvitation,
        section="survey_invitations",
        export_fields=("id", "survey_id", "status", "channel", "trigger", "created_at", "responded_at"),
        erase=KEEP,
        why="Counts for frequency caps and response rates; no text from the person.",
    )
    register_personal_data(
        FollowUpCase,
        section="follow_up_cases",
        export_fields=(
            "id",
            "response_id",
            "status",
            "opened_at",
            "closed_at",
            "outcome",
            "message_to_customer",
            "message_channel",
        ),
        erase=ANONYMISE,
        blank={"outcome": "", "message_to_customer": ""},
    )
    register_retention("survey_comments", purge=blank_comments_before)
