"""The exception queue: one exception per meaning per instance, due times, assignment,
paging without a cap, sorting, filters, bulk resolve, the agent's own queue."""

from datetime import timedelta

import pytest
from django.test import RequestFactory

from cxhub.roles import AGENT, TEAM_LEAD
from journeys.models import ActionAudit, JourneyException
from journeys.selectors import home_exceptions_panel
from journeys.services import detect_time_exceptions

from .conftest import T0

pytestmark = pytest.mark.django_db


def _order(customer, event, process, ref="O1", hours=0):
    process(event(customer, "order_placed", hours=hours, order_id=ref))
    return customer.journey_instances.get(correlation_value=ref)


def test_breach_stall_and_abandonment_of_one_order_are_one_exception(templates, customer, event, process):
    instance = _order(customer, event, process)
    detect_time_exceptions(now=T0 + timedelta(hours=25))  # SLA of 24 h
    detect_time_exceptions(now=T0 + timedelta(hours=80))  # stall: 3 × SLA
    detect_time_exceptions(now=T0 + timedelta(days=46))  # abandoned after 45 days
    exception = JourneyException.objects.get(instance=instance)
    assert (exception.kind, exception.latest_kind) == ("sla_breached", "abandoned")
    assert exception.occurrences == 3 and exception.detail.startswith("Abandoned in Order placed")
    assert exception.last_detected_at == T0 + timedelta(days=46)
    assert exception.due_at == T0 + timedelta(hours=25) + timedelta(hours=24)  # from the first signal


def test_three_late_orders_give_three_exceptions_not_nine(templates, customer, event, process):
    for n in range(3):
        _order(customer, event, process, ref=f"O{n}", hours=n)
    for hours in (30, 100, 24 * 46):
        detect_time_exceptions(now=T0 + timedelta(hours=hours))
    assert JourneyException.objects.filter(instance__customer=customer).count() == 3


def test_a_signal_after_resolving_opens_a_new_exception(templates, customer, event, process, agent_user):
    from journeys.services import resolve_exception

    instance = _order(customer, event, process)
    detect_time_exceptions(now=T0 + timedelta(hours=25))
    resolve_exception(exception=JourneyException.objects.get(), user=agent_user, note="chased")
    detect_time_exceptions(now=T0 + timedelta(hours=80))
    assert JourneyException.objects.filter(instance=instance).count() == 2
    assert (
        JourneyException.objects.filter(instance=instance, resolved_at__isnull=True).get().kind == "stalled"
    )


def test_a_first_sweep_after_abandonment_records_the_abandonment_only(templates, customer, event, process):
    instance = _order(customer, event, process)
    detect_time_exceptions(now=T0 + timedelta(days=50))  # breach, stall and abandonment all due
    exception = JourneyException.objects.get(instance=instance)
    assert (exception.kind, exception.occurrences) == ("abandoned", 1)


def test_repeated_channel_switches_fold_into_one(templates, customer, event, process):
    process(event(customer, "query", channel_code="chat", query_id="Q1"))
    process(event(customer, "call", hours=1, channel_code="phone", query_id="Q1"))
    process(event(customer, "query", hours=2, channel_code="email", query_id="Q1"))
    exception = JourneyException.objects.get(kind="channel_switch")
    assert exception.occurrences == 2 and "phone → email" in exception.detail


@pytest.fixture
def many(templates, customer, event, process):
    """120 open exceptions on one order; due times one hour apart (the 7th is due first)."""
    instance = _order(customer, event, process)
    stage = instance.current_stage
    rows = [
        JourneyException(
            instance=instance,
            kind="out_of_order",
            stage=stage,
            detail=f"step {n}",
            detected_at=T0,
            due_at=T0 + timedelta(hours=(n - 7) % 120),
        )
        for n in range(120)
    ]
    return JourneyException.objects.bulk_create(rows)


def _rows(page) -> list[str]:
    return [e.detail for e in page.context["exceptions"]]


def test_queue_pages_through_every_exception_without_a_cap(many, agent_client):
    first = agent_client.get("/journeys/exceptions/")
    assert len(_rows(first)) == 50 and b"120 exceptions" in first.content
    last = agent_client.get("/journeys/exceptions/?page=3")
    assert len(_rows(last)) == 20
    seen = set(_rows(first)) | set(_rows(agent_client.get("/journeys/exceptions/?page=2"))) | set(_rows(last))
    assert len(seen) == 120


def test_queue_sorts_by_sla_due_time(many, agent_client):
    assert _rows(agent_client.get("/journeys/exceptions/?sort=due"))[:2] == ["step 7", "step 8"]
    assert _rows(agent_client.get("/journeys/exceptions/?sort=-due"))[0] == "step 6"


def test_queue_query_count_does_not_grow_with_the_page(many, agent_client, django_assert_max_num_queries):
    JourneyException.objects.filter(detail__in=[f"step {n}" for n in range(100)]).delete()
    agent_client.get("/journeys/exceptions/")  # warm the session
    with django_assert_max_num_queries(12) as small:
        agent_client.get("/journeys/exceptions/")
    JourneyException.objects.bulk_create(
        [JourneyException(instance=e.instance, kind=e.kind, stage=e.stage, detected_at=T0) for e in many[:60]]
    )
    with django_assert_max_num_queries(len(small.captured_queries)):
        agent_client.get("/journeys/exceptions/")


def test_assign_to_me_filter_mine_and_home_panel(many, agent_client, agent_user):
    target = many[7]
    response = agent_client.post(f"/journeys/exceptions/{target.pk}/assign-to-me/")
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.assigned_to == agent_user and target.assigned_at is not None
    assert _rows(agent_client.get("/journeys/exceptions/?assignee=me")) == ["step 7"]
    assert len(_rows(agent_client.get("/journeys/exceptions/?assignee=unassigned"))) == 50
    request = RequestFactory().get("/")
    request.user = agent_user
    panel = home_exceptions_panel(request)
    assert [e.pk for e in panel["journey_exceptions"]] == [target.pk]
    assert (panel["my_exception_count"], panel["unassigned_exception_count"]) == (1, 119)
    home = agent_client.get("/")
    assert b"My queue" in home.content and b"<strong>1</strong> assigned to you" in home.content


def test_bulk_resolve_and_assign(many, client, make_user):
    agent, lead, other = make_user(AGENT), make_user(TEAM_LEAD), make_user(AGENT, username="zed")
    ids = [str(e.pk) for e in many[:3]]
    client.force_login(agent)
    client.post("/journeys/exceptions/bulk/", {"ids": ids, "action": "assign", "assignee": other.pk})
    assert not JourneyException.objects.filter(assigned_to=other).exists()  # agents assign only to themselves
    client.post("/journeys/exceptions/bulk/", {"ids": ids, "action": "assign_me"})
    assert JourneyException.objects.filter(assigned_to=agent).count() == 3
    client.force_login(lead)
    client.post("/journeys/exceptions/bulk/", {"ids": ids[:2], "action": "assign", "assignee": other.pk})
    assert JourneyException.objects.filter(assigned_to=other).count() == 2
    response = client.post(
        "/journeys/exceptions/bulk/",
        {"ids": ids, "action": "resolve", "note": "refunded", "next": "/journeys/exceptions/?sort=due"},
    )
    assert response["Location"] == "/journeys/exceptions/?sort=due"
    resolved = JourneyException.objects.filter(resolved_at__isnull=False)
    assert resolved.count() == 3 and set(resolved.values_list("resolution_note", flat=True)) == {"refunded"}
    assert ActionAudit.objects.filter(kind="resolve_exception", actor=lead).count() == 3
    client.post("/journeys/exceptions/bulk/", {"ids": ids, "action": "resolve"})  # again: nothing changes
    assert ActionAudit.objects.filter(kind="resolve_exception").count() == 3


def test_api_sorts_filters_assigns_and_bulk_resolves(many, api_client_with, make_user):
    read = api_client_with("journeys:read")
    body = read.get("/api/v1/journeys/exceptions/?sort=due&page_size=2").json()
    assert [e["detail"] for e in body["results"]] == ["step 7", "step 8"]
    assert body["results"][0]["occurrences"] == 1 and body["results"][0]["due_at"]
    assert read.get("/api/v1/journeys/exceptions/?sort=sideways").status_code == 400
    assert read.get("/api/v1/journeys/exceptions/?assigned_to=me").json()["error"]["field"] == "assigned_to"
    write = api_client_with("journeys:write")
    agent = make_user(AGENT, username="amy")
    assigned = write.post(
        f"/api/v1/journeys/exceptions/{many[0].pk}/assign/", {"user_id": agent.pk}, format="json"
    )
    assert assigned.status_code == 200 and assigned.json()["assigned_to"] == "amy"
    assert (
        write.post(f"/api/v1/journeys/exceptions/{many[0].pk}/assign/", {}, format="json").status_code == 400
    )
    mine = read.get(f"/api/v1/journeys/exceptions/?assigned_to={agent.pk}").json()["results"]
    assert [e["id"] for e in mine] == [many[0].pk]
    ids = [e.pk for e in many[:4]]
    done = write.post("/api/v1/journeys/exceptions/resolve/", {"ids": ids, "note": "batch"}, format="json")
    assert done.json() == {"requested": 4, "resolved": 4}
    again = write.post("/api/v1/journeys/exceptions/resolve/", {"ids": ids}, format="json")
    assert again.json()["resolved"] == 0
    assert write.post("/api/v1/journeys/exceptions/resolve/", {"ids": []}, format="json").status_code == 400
