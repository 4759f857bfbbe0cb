"""Panels on the Customer 360 page (voice of the customer) and the agent home (open follow-up cases)."""

from . import charts
from .models import CaseStatus, FollowUpCase, SurveyResponse

RECENT_RESPONSES = 30
HOME_CASES = 10


def customer_voice_context(request, customer) -> dict:
    """Latest NPS / CES / CSAT, a small NPS trend and open cases: two queries whatever the history."""
    recent = list(
        SurveyResponse.objects.filter(customer_id=customer.pk).order_by("-responded_at", "-id")[
            :RECENT_RESPONSES
        ]
    )
    latest = {}
    for response in recent:
        latest.setdefault(response.kind, response)
    nps_values = [r.score for r in reversed(recent) if r.kind == "nps"]
    cases = list(
        FollowUpCase.objects.filter(customer_id=customer.pk, status=CaseStatus.OPEN).order_by("due_at")[:5]
    )
    return {
        "latest_nps": latest.get("nps"),
        "latest_ces": latest.get("ces"),
        "latest_csat": latest.get("csat"),
        "nps_sparkline": charts.sparkline_svg(nps_values, low=0, high=10) if len(nps_values) > 1 else "",
        "recent_responses": recent[:5],
        "open_cases": cases,
    }


def home_cases_context(request, customer=None) -> dict:
    """The signed-in agent's open follow-up cases, then unassigned ones, soonest due first."""
    from django.db.models import Case, IntegerField, Q, Value, When

    user = request.user
    cases = list(
        FollowUpCase.objects.filter(Q(assigned_to=user) | Q(assigned_to__isnull=True), status=CaseStatus.OPEN)
        .select_related("customer", "response__survey")
        .annotate(
            mine=Case(When(assigned_to=user, then=Value(0)), default=Value(1), output_field=IntegerField())
        )
        .order_by("mine", "due_at")[:HOME_CASES]
    )
    return {"cases": cases}


NEXT_BEST_PURPOSES = ("service", "marketing")


def next_best_channel_context(request, customer) -> dict:
    """The channel to use now for a service message and for marketing, with the reasons (seven queries)."""
    from outreach.next_best import next_best_channels

    found = next_best_channels(customer=customer, purposes=list(NEXT_BEST_PURPOSES))
    return {"next_best": [(purpose, found[purpose]) for purpose in NEXT_BEST_PURPOSES]}
