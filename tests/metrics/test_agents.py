"""Agent metrics: known answers on hand-computed data (run on SQLite and on PostgreSQL)."""

from datetime import UTC, datetime, timedelta

import pytest

from cxhub.roles import AGENT, TEAM_LEAD
from journeys.models import JourneyException
from journeys.services import load_journey_templates, process_interactions
from metrics.agents import agent_metrics, team_trend
from metrics.models import FollowUpCase
from tests.factories import CustomerFactory, InteractionFactory, channel
from tests.metrics.helpers import add_response, make_survey

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


def contact(customer, agent, when, *, code="phone", direction="inbound", outcome="", duration=None):
    return InteractionFactory(
        customer=customer,
        agent=agent,
        channel=channel(code),
        direction=direction,
        type="support_call",
        occurred_at=when,
        outcome=outcome,
        duration_seconds=duration,
    )


def exception_for(customer, **fields):
    """An exception on a fresh order instance of ``customer``."""
    placed = InteractionFactory(customer=customer, type="order_placed", properties={"order_id": "1"})
    process_interactions(interaction_ids=[placed.pk])
    instance = customer.journey_instances.get()
    return JourneyException.objects.create(
        instance=instance, kind="sla_breached", stage=instance.current_stage, detected_at=at(1), **fields
    )


@pytest.fixture
def team(make_user):
    """ann: c1 (X, resolved, 100 s), c2 (Y, resolved, 300 s; Y calls back 2 days later), c3 (outbound).
    bob: d1 (W, escalated, 200 s), d2 (V, resolved, 400 s), d3 (U, resolved, 600 s).
    Answers: X CSAT 5 a day after c1 → ann; Y CSAT 2 three days after c2 → ann (the call back had
    no agent); U CSAT 4 → bob; V NPS 9 prompted by d2 → bob; W NPS 10 fifteen days after d1 → nobody.
    """
    ann, bob = make_user(AGENT, username="ann"), make_user(AGENT, username="bob")
    lead = make_user(TEAM_LEAD, username="lee")
    x, y, z, w, v, u = (CustomerFactory() for _ in range(6))
    contact(x, ann, at(1), outcome="resolved", duration=100)
    contact(y, ann, at(2), code="chat", outcome="resolved", duration=300)
    contact(y, None, at(4))  # Y comes back, nobody recorded as agent
    contact(z, ann, at(3), code="email", direction="outbound")
    contact(w, bob, at(5), outcome="escalated", duration=200)
    d2 = contact(v, bob, at(6), outcome="resolved", duration=400)
    contact(u, bob, at(7), outcome="resolved", duration=600)
    csat, nps = make_survey("csat"), make_survey("nps")
    add_response(csat, 5, customer=x, when=at(2))
    add_response(csat, 2, customer=y, when=at(5))
    add_response(csat, 4, customer=u, when=at(8))
    add_response(nps, 9, customer=v, when=at(30), prompted_by=d2)
    add_response(nps, 10, customer=w, when=at(20))
    return {"ann": ann, "bob": bob, "lead": lead, "customers": (x, y, z, w, v, u)}


OCTOBER = {"since": at(1, 0), "until": datetime(2026, 11, 1, tzinfo=UTC)}


def by_name(result):
    return {a["username"]: a for a in result["agents"]}


def test_per_agent_figures_match_the_hand_computed_answers(team):
    agents = by_name(agent_metrics(**OCTOBER))
    ann, bob = agents["ann"], agents["bob"]
    assert (ann["handled"], ann["inbound"], ann["median_handle_seconds"]) == (3, 2, 200.0)
    assert ann["first_contact_resolution"] == 50.0  # c1 yes, c2 no (Y came back)
    assert (ann["csat"], ann["csat_n"], ann["nps"]) == (50.0, 2, None)
    assert (bob["handled"], bob["median_handle_seconds"]) == (3, 400.0)
    assert bob["first_contact_resolution"] == 66.7  # d2, d3 of d1 d2 d3
    assert (bob["csat"], bob["csat_n"], bob["nps"], bob["nps_n"]) == (100.0, 1, 100.0, 1)
    assert agents["lee"]["handled"] == 0 and agents["lee"]["median_handle_seconds"] is None


def test_team_totals(team):
    totals = agent_metrics(**OCTOBER)["team"]
    assert (totals["handled"], totals["median_handle_seconds"]) == (6, 300.0)  # 100 200 300 400 600
    assert totals["first_contact_resolution"] == 60.0  # 3 of 5
    assert (totals["csat"], totals["csat_n"]) == (66.7, 3)
    assert (totals["nps"], totals["nps_n"]) == (100.0, 1)


def test_open_work_and_exceptions_resolved_within_sla(team):
    load_journey_templates()
    x, y, z, w, v, u = team["customers"]
    ann, bob = team["ann"], team["bob"]
    exception_for(x, assigned_to=ann)  # open, assigned to ann
    exception_for(y, resolved_by=ann, resolved_at=at(2), due_at=at(3))  # within SLA
    exception_for(z, resolved_by=ann, resolved_at=at(4), due_at=at(3))  # late
    exception_for(w, resolved_by=bob, resolved_at=at(9, 0) - timedelta(days=40), due_at=at(3))  # September
    response = add_response(make_survey("nps"), 2, customer=v, when=at(9))
    FollowUpCase.objects.create(
        response=response, customer=v, assigned_to=bob, opened_at=at(9), due_at=at(11)
    )
    agents = by_name(agent_metrics(**OCTOBER))
    assert (agents["ann"]["open_exceptions"], agents["ann"]["open_cases"], agents["ann"]["open_tasks"]) == (
        1,
        0,
        1,
    )
    assert (agents["ann"]["exceptions_resolved"], agents["ann"]["resolved_within_sla"]) == (2, 50.0)
    assert (agents["bob"]["open_tasks"], agents["bob"]["exceptions_resolved"]) == (1, 0)
    assert agents["bob"]["resolved_within_sla"] is None


def test_query_count_does_not_grow_with_agents_or_data(team, make_user, django_assert_num_queries):
    # handled+FCR, medians, answers, open exceptions, open cases, resolved, people
    with django_assert_num_queries(7):
        agent_metrics(**OCTOBER)
    for n in range(4):
        agent = make_user(AGENT, username=f"extra{n}")
        contact(CustomerFactory(), agent, at(3), outcome="resolved", duration=60)
    with django_assert_num_queries(7):
        result = agent_metrics(**OCTOBER)
    assert by_name(result)["extra0"]["handled"] == 1


def test_weekly_trend_counts_each_week(team):
    points = team_trend(weeks=3, now=at(14))
    weeks = {p["group"]: p for p in points}
    assert weeks["2026-09-28"]["handled"] == 3  # Oct 1–3: c1 c2 c3 (Mon 28 Sep – Sun 4 Oct)
    assert weeks["2026-10-05"]["handled"] == 3 and weeks["2026-10-05"]["first_contact_resolution"] == 66.7
    assert weeks["2026-10-05"]["csat"] == 50.0 and weeks["2026-09-28"]["csat"] == 100.0  # Y 2, U 4 | X 5


def test_api_and_page_are_for_team_leads_and_admins(client, team, api_client_with):
    client.force_login(team["ann"])
    assert client.get("/metrics/agents/").status_code == 403
    assert client.get("/api/v1/metrics/agents/").status_code == 403
    client.force_login(team["lead"])
    page = client.get("/metrics/agents/?since=2026-10-01&until=2026-10-31")
    assert page.status_code == 200 and b"Per agent" in page.content
    assert by_name(page.context)["bob"]["handled"] == 3
    body = client.get("/api/v1/metrics/agents/?since=2026-10-01&until=2026-10-31").json()
    assert by_name(body)["ann"]["first_contact_resolution"] == 50.0 and "trend" in body
    token_body = api_client_with("metrics:read").get("/api/v1/metrics/agents/?since=2026-10-01").json()
    assert by_name(token_body)["bob"]["csat"] == 100.0
    bad = api_client_with("metrics:read").get("/api/v1/metrics/agents/?until=soon")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "until"


def test_demo_agents_handle_contacts_and_hold_exceptions():
    import io
    import random

    from interactions import demo as interactions_demo
    from metrics import demo as metrics_demo

    CustomerFactory.create_batch(30)
    out = io.StringIO()
    interactions_demo.seed(rng=random.Random(5), stdout=out)
    metrics_demo.seed(rng=random.Random(5), stdout=out)
    people = by_name(agent_metrics())
    assert {"agent", "priya", "tom", "lead"} <= set(people)
    assert all(people[name]["handled"] > 0 for name in ("agent", "priya", "tom"))
    assert people["agent"]["median_handle_seconds"] > 0
    metrics_demo.seed(rng=random.Random(5), stdout=out)  # again: nothing changes
    assert "agents already at work, skipped" in out.getvalue()


def test_team_leads_see_the_agents_link(client, make_user):
    client.force_login(make_user(TEAM_LEAD))
    assert b'href="/metrics/agents/"' in client.get("/").content
    client.force_login(make_user(AGENT))
    content = client.get("/").content
    assert b'href="/metrics/agents/"' not in content and b'href="/journeys/exceptions/"' in content
