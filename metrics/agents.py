"""Agent workload and performance: per agent and for the team, over a window, with weekly trends.

Definitions (also in the README), for interactions that occurred in the window:

- ``handled``: interactions with the agent recorded on them (in and out);
- ``median_handle_seconds``: median ``duration_seconds`` of those with a duration;
- ``first_contact_resolution``: among the agent's inbound interactions with an outcome, the
  share resolved with no further inbound contact from the customer, on any channel, within
  7 days (as for channels);
- ``csat`` / ``nps``: survey answers given in the window that followed the agent's contact:
  the answer's prompting interaction was the agent's or, without one, the customer's latest
  agent-handled interaction in the 7 days before the answer was the agent's;
- ``open_exceptions`` / ``open_cases``: journey exceptions and follow-up cases assigned to
  the agent and still open (now, whatever the window); ``open_tasks`` is their sum;
- ``exceptions_resolved`` and ``resolved_within_sla``: exceptions the agent resolved in the
  window, and the share resolved by their due time.

Each family is one grouped query, whatever the number of agents and interactions.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from cxhub.roles import AGENT, TEAM_LEAD

from . import scores
from .channel_efficacy import FOLLOW_UP_WINDOW, RESOLVED, _later_contacts, _share
from .models import CaseStatus, FollowUpCase, SurveyResponse

TREND_WEEKS = 12


def _window(rows, field: str, since, until):
    if since:
        rows = rows.filter(**{f"{field}__gte": since})
    if until:
        rows = rows.filter(**{f"{field}__lt": until})
    return rows


def _handled(since, until):
    from interactions.models import Interaction

    return _window(Interaction.objects.filter(agent__isnull=False), "occurred_at", since, until)


def _volume(rows, group: str = "agent_id") -> dict:
    inbound_with_outcome = Q(direction="inbound") & ~Q(outcome="")
    result = (
        rows.annotate(came_back=Exists(_later_contacts()))
        .values(group)
        .annotate(
            handled=Count("id"),
            inbound=Count("id", filter=Q(direction="inbound")),
            with_outcome=Count("id", filter=inbound_with_outcome),
            first_contact_resolved=Count(
                "id", filter=inbound_with_outcome & Q(outcome=RESOLVED, came_back=False)
            ),
        )
        .order_by()
    )
    return {row.pop(group): row for row in result}


def _medians(rows) -> dict:
    """Median handle seconds per agent, and over the whole team under the key None."""
    base = (
        rows.filter(duration_seconds__isnull=False)
        .order_by()
        .annotate(c_agent=F("agent_id"), c_duration=F("duration_seconds"))
        .values_list("c_agent", "c_duration")
    )
    sql, params = base.query.sql_with_params()
    # Per agent, and the team (the same rows, one partition): the middle row(s) of each, averaged.
    query = f"""
        SELECT c_agent, AVG(c_duration) FROM (
            SELECT b.c_agent, b.c_duration,
                   ROW_NUMBER() OVER (PARTITION BY b.c_agent ORDER BY b.c_duration) AS rn,
                   COUNT(*) OVER (PARTITION BY b.c_agent) AS n
            FROM ({sql}) b
        ) ranked WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY c_agent
        UNION ALL
        SELECT NULL, AVG(c_duration) FROM (
            SELECT b.c_duration,
                   ROW_NUMBER() OVER (ORDER BY b.c_duration) AS rn,
                   COUNT(*) OVER () AS n
            FROM ({sql}) b
        ) ranked WHERE rn IN ((n + 1) / 2, (n + 2) / 2)
    """
    with connection.cursor() as cursor:
        cursor.execute(query, (*params, *params))
        return {agent: float(median) for agent, median in cursor.fetchall() if median is not None}


def _answers(since, until) -> dict:
    """{agent_id: {kind: {score: count}}} for CSAT and NPS answers that followed an agent's contact."""
    from interactions.models import Interaction

    latest_contact = (
        Interaction.objects.filter(
            customer_id=OuterRef("customer_id"),
            agent__isnull=False,
            occurred_at__lte=OuterRef("responded_at"),
            occurred_at__gte=OuterRef("responded_at") - FOLLOW_UP_WINDOW,
        )
        .order_by("-occurred_at", "-id")
        .values("agent_id")[:1]
    )
    answers = _window(SurveyResponse.objects.filter(kind__in=("csat", "nps")), "responded_at", since, until)
    rows = (
        answers.annotate(
            by_agent=Coalesce("prompted_by__agent_id", Subquery(latest_contact), output_field=IntegerField())
        )
        .filter(by_agent__isnull=False)
        .values("by_agent", "kind", "score")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("by_agent", "kind", "score", "n")
    )
    found: dict = defaultdict(lambda: defaultdict(dict))
    for agent_id, kind, score, n in rows:
        found[agent_id][kind][score] = n
    return found


def _open_work() -> tuple[dict, dict]:
    from journeys.models import JourneyException

    exceptions = dict(
        JourneyException.objects.filter(resolved_at__isnull=True, assigned_to__isnull=False)
        .values("assigned_to")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("assigned_to", "n")
    )
    cases = dict(
        FollowUpCase.objects.exclude(status=CaseStatus.CLOSED)
        .filter(assigned_to__isnull=False)
        .values("assigned_to")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("assigned_to", "n")
    )
    return exceptions, cases


def _resolved_exceptions(since, until) -> dict:
    from journeys.models import JourneyException

    rows = _window(JourneyException.objects.filter(resolved_by__isnull=False), "resolved_at", since, until)
    return {
        row.pop("resolved_by"): row
        for row in rows.values("resolved_by")
        .annotate(
            resolved=Count("id"),
            within_sla=Count("id", filter=Q(due_at__isnull=False, resolved_at__lte=F("due_at"))),
        )
        .order_by()
    }


def _figures(volume: dict, median, answers: dict, resolved: dict, exceptions: int, cases: int) -> dict:
    csat = scores.summarise("csat", answers["csat"]).as_dict() if "csat" in answers else None
    nps = scores.summarise("nps", answers["nps"]).as_dict() if "nps" in answers else None
    return {
        "handled": volume.get("handled", 0),
        "inbound": volume.get("inbound", 0),
        "median_handle_seconds": median,
        "first_contact_resolution": _share(
            volume.get("first_contact_resolved", 0), volume.get("with_outcome", 0)
        ),
        "csat": csat["satisfied_share"] if csat else None,
        "csat_n": csat["n"] if csat else 0,
        "nps": nps["nps"] if nps else None,
        "nps_n": nps["n"] if nps else 0,
        "open_exceptions": exceptions,
        "open_cases": cases,
        "open_tasks": exceptions + cases,
        "exceptions_resolved": resolved.get("resolved", 0),
        "resolved_within_sla": _share(resolved.get("within_sla", 0), resolved.get("resolved", 0)),
    }


def _merge_counts(rows: list[dict]) -> dict:
    total: dict = defaultdict(int)
    for row in rows:
        for key, value in row.items():
            total[key] += value
    return total


def _merge_answers(per_agent: list[dict]) -> dict:
    total: dict = defaultdict(lambda: defaultdict(int))
    for answers in per_agent:
        for kind, dist in answers.items():
            for score, n in dist.items():
                total[kind][score] += n
    return total


def agent_metrics(*, since: datetime | None = None, until: datetime | None = None) -> dict:
    """``{"agents": [per agent figures], "team": team figures}``; agents are the users in the
    Agent or Team lead role and anyone else who handled an interaction or resolved an
    exception in the window, ordered by username."""
    rows = _handled(since, until)
    volume = _volume(rows)
    medians = _medians(rows)
    answers = _answers(since, until)
    open_exceptions, open_cases = _open_work()
    resolved = _resolved_exceptions(since, until)
    active = set(volume) | set(answers) | set(open_exceptions) | set(open_cases) | set(resolved)
    people = (
        get_user_model()
        .objects.filter(Q(groups__name__in=(AGENT, TEAM_LEAD), is_active=True) | Q(pk__in=active))
        .distinct()
        .order_by("username")
        .values("pk", "username", "first_name", "last_name")
    )
    agents = []
    for person in people:
        pk = person["pk"]
        agents.append(
            {
                "agent_id": pk,
                "username": person["username"],
                "name": f"{person['first_name']} {person['last_name']}".strip() or person["username"],
                **_figures(
                    volume.get(pk, {}),
                    medians.get(pk),
                    answers.get(pk, {}),
                    resolved.get(pk, {}),
                    open_exceptions.get(pk, 0),
                    open_cases.get(pk, 0),
                ),
            }
        )
    team = _figures(
        _merge_counts(list(volume.values())),
        medians.get(None),
        _merge_answers(list(answers.values())),
        _merge_counts(list(resolved.values())),
        sum(open_exceptions.values()),
        sum(open_cases.values()),
    )
    return {"agents": agents, "team": team}


def team_trend(*, weeks: int = TREND_WEEKS, now: datetime | None = None) -> list[dict]:
    """Per ISO week (oldest first) over the last ``weeks``: handled, first-contact resolution
    and CSAT of the team (two grouped queries)."""
    now = now or timezone.now()
    start = (now - timedelta(weeks=weeks)).replace(hour=0, minute=0, second=0, microsecond=0)
    start -= timedelta(days=start.weekday())
    weekly = _volume(_handled(start, None).annotate(week=TruncWeek("occurred_at", tzinfo=UTC)), "week")
    answers = (
        _window(SurveyResponse.objects.filter(kind="csat"), "responded_at", start, None)
        .annotate(week=TruncWeek("responded_at", tzinfo=UTC))
        .values("week", "score")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("week", "score", "n")
    )
    csat: dict = defaultdict(dict)
    for week, score, n in answers:
        csat[_day(week)][score] = n
    by_week = {_day(week): row for week, row in weekly.items()}
    points = []
    day = start.date()
    while day <= now.date():
        volume = by_week.get(day, {})
        satisfied = scores.summarise("csat", csat[day]).as_dict() if day in csat else None
        points.append(
            {
                "group": day.isoformat(),
                "handled": volume.get("handled", 0),
                "first_contact_resolution": _share(
                    volume.get("first_contact_resolved", 0), volume.get("with_outcome", 0)
                ),
                "csat": satisfied["satisfied_share"] if satisfied else None,
                "n": volume.get("handled", 0),
            }
        )
        day += timedelta(days=7)
    return points


def _day(value):
    return value.date() if isinstance(value, datetime) else value
