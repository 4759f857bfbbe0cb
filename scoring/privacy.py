"""What ``scoring`` holds on a person, for export and erasure (see ``customers.personal_data``)."""

from customers.personal_data import DELETE, KEEP, register_personal_data

from .models import CustomerScore, ScoreSnapshot

SCORE_FIELDS = (
    "as_of",
    "p_alive",
    "churn_risk",
    "expected_purchases_90d",
    "clv",
    "rfm_code",
    "rfm_label",
    "cost_to_serve",
    "profitability",
    "detractor_risk",
)


def register() -> None:
    register_personal_data(
        CustomerScore,
        section="scores",
        export_fields=(*SCORE_FIELDS, "detractor_drivers", "scored_at"),
        erase=DELETE,
        why="The profile of one person's value and risk; recomputed from what is kept if ever needed.",
    )
    register_personal_data(
        ScoreSnapshot,
        section="score_history",
        export_fields=("month", "p_alive", "churn_risk", "clv", "profitability", "rfm_code"),
        erase=KEEP,
        why="Monthly figures feed segment and trend history; nothing identifies a tombstone.",
    )
