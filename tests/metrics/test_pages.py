from types import SimpleNamespace

import pytest

from metrics import panels
from metrics.models import CaseStatus, FollowUpCase
from metrics.services import record_response
from tests.factories import CustomerFactory
from tests.metrics.helpers import make_survey

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered():
    survey = make_survey()
    customer = CustomerFactory()
    for n, score in enumerate((9, 3, 10, 6)):
        record_response(
            survey=survey,
            score=score,
            customer_id=customer.pk,
            external_id=f"p{n}",
            comment="The app is slow",
        )
    return customer


def test_dashboard_is_for_marketers_and_admins(client, marketer_client, agent_user, answered):
    page = marketer_client.get("/metrics/")
    assert page.status_code == 200
    assert b"<svg" in page.content and b"Voice of the customer" in page.content
    assert b"The app is slow" in page.content
    by_channel = page.context["by_channel"]
    assert [(row["channel"], row["nps"]["n"], row["nps"]["nps"]) for row in by_channel] == [(None, 4, 0.0)]
    assert marketer_client.get("/metrics/?sentiment=positive&theme=billing").status_code == 200
    client.force_login(agent_user)
    assert client.get("/metrics/").status_code == 403


def test_dashboard_needs_login(client):
    response = client.get("/metrics/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_agent_works_a_case_from_queue_to_closed(agent_client, agent_user, answered):
    case = FollowUpCase.objects.order_by("pk").first()
    assert agent_client.get("/metrics/cases/").status_code == 200
    assert agent_client.get(f"/metrics/cases/{case.pk}/").status_code == 200
    agent_client.post(f"/metrics/cases/{case.pk}/assign/")
    case.refresh_from_db()
    assert case.assigned_to == agent_user
    refused = agent_client.post(
        f"/metrics/cases/{case.pk}/close/", {"outcome": "", "message": "x", "channel": "email"}
    )
    assert refused.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN
    agent_client.post(
        f"/metrics/cases/{case.pk}/close/",
        {"outcome": "Fixed", "message": "We fixed it.", "channel": "email"},
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.message_to_customer == "We fixed it."


def test_marketer_cannot_work_cases(marketer_client, answered):
    assert marketer_client.get("/metrics/cases/").status_code == 403


def test_customer_panel_costs_constant_queries(django_assert_num_queries, answered):
    request = SimpleNamespace(user=None)
    with django_assert_num_queries(2):
        context = panels.customer_voice_context(request, answered)
    assert context["latest_nps"].score == 6
    assert "<svg" in context["nps_sparkline"]
    assert len(context["open_cases"]) == 2
    survey = make_survey("nps")
    for n in range(15):
        record_response(survey=survey, score=n % 11, customer_id=answered.pk, external_id=f"more{n}")
    with django_assert_num_queries(2):
        panels.customer_voice_context(request, answered)


def test_home_panel_lists_my_cases_first(agent_user, make_user, answered):
    first, second = FollowUpCase.objects.order_by("pk")
    second.assigned_to = agent_user
    second.save()
    first.assigned_to = make_user()
    first.save()
    context = panels.home_cases_context(SimpleNamespace(user=agent_user))
    assert [c.pk for c in context["cases"]] == [second.pk]


def test_panels_are_registered():
    from customers.panels import panels_for

    assert "voice" in [p.name for p in panels_for("customer")]
    assert "follow_up_cases" in [p.name for p in panels_for("home")]


def test_home_panel_is_for_the_roles_that_work_cases():
    from customers.panels import panels_for
    from cxhub.roles import AGENT, MARKETER

    assert "follow_up_cases" in [p.name for p in panels_for("home", {AGENT})]
    assert "follow_up_cases" not in [p.name for p in panels_for("home", {MARKETER})]
