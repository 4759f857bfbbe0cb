from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from customers.panels import panels_for
from journeys.models import ExceptionKind, Journey, JourneyException, Stage, StageAction
from journeys.selectors import customer_journeys_panel, home_exceptions_panel
from journeys.services import detect_time_exceptions

from .conftest import T0

pytestmark = pytest.mark.django_db


def test_templates_command_is_idempotent(db):
    call_command("load_journey_templates")
    counts = (Journey.objects.count(), Stage.objects.count(), StageAction.objects.count())
    assert counts[0] == 4 and counts[1] == 18
    call_command("load_journey_templates")
    assert (Journey.objects.count(), Stage.objects.count(), StageAction.objects.count()) == counts


def test_update_rewrites_edited_stages_from_the_files(templates):
    stage = Stage.objects.get(journey__slug="order-to-cash", slug="paid")
    stage.name = "Money in"
    stage.save()
    call_command("load_journey_templates", "order-to-cash")
    stage.refresh_from_db()
    assert stage.name == "Money in"
    call_command("load_journey_templates", "order-to-cash", "--update")
    stage.refresh_from_db()
    assert stage.name == "Paid"
    assert StageAction.objects.filter(journey__slug="order-to-cash").count() == 2


def test_unknown_template_is_an_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("load_journey_templates", "no-such-journey")


def test_panels_are_registered():
    assert "journeys" in [p.name for p in panels_for("customer")]
    assert "journey_exceptions" in [p.name for p in panels_for("home")]


def _busy_customer(customer, event, process, orders: int):
    process(*[event(customer, "order_placed", hours=n, order_id=f"O{n}") for n in range(orders)])
    detect_time_exceptions(now=T0 + timedelta(hours=30))


def test_customer_panel_shows_open_instances_with_constant_queries(
    templates, customer, event, process, django_assert_num_queries
):
    request = RequestFactory().get("/")
    _busy_customer(customer, event, process, 2)
    with django_assert_num_queries(2):
        small = customer_journeys_panel(request, customer)
    _busy_customer(customer, event, process, 12)
    with django_assert_num_queries(2):
        big = customer_journeys_panel(request, customer)
    assert len(small["journey_instances"]) == 2 and len(big["journey_instances"]) == 12
    assert {i.sla for i in big["journey_instances"]} == {"breached"}
    assert {e.kind for e in big["journey_exceptions"]} == {ExceptionKind.SLA_BREACHED}


def test_customer_page_renders_the_panel(templates, customer, event, process, agent_client):
    _busy_customer(customer, event, process, 1)
    response = agent_client.get(f"/customers/{customer.pk}/")
    assert response.status_code == 200
    assert b"Open journeys" in response.content
    assert b"Order to Cash" in response.content and b"SLA breached" in response.content


def test_home_panel_lists_open_exceptions(templates, customer, event, process, agent_client):
    _busy_customer(customer, event, process, 3)
    context = home_exceptions_panel(RequestFactory().get("/"))
    assert context["open_exception_count"] == 3
    response = agent_client.get("/")
    assert response.status_code == 200
    assert b"journeys/exceptions/" in response.content


def test_agent_queue_lists_and_resolves_exceptions(templates, customer, event, process, agent_client):
    _busy_customer(customer, event, process, 1)
    exception = JourneyException.objects.get()
    page = agent_client.get("/journeys/exceptions/")
    assert page.status_code == 200
    assert f"exception-{exception.pk}".encode() in page.content
    assert b"is late in Order placed" in page.content  # the template rule's agent task
    response = agent_client.post(
        f"/journeys/exceptions/{exception.pk}/resolve/", {"note": "Chased the courier"}
    )
    assert response.status_code == 302
    exception.refresh_from_db()
    assert exception.resolution_note == "Chased the courier" and exception.resolved_by is not None
    assert f"exception-{exception.pk}".encode() not in agent_client.get("/journeys/exceptions/").content


def test_marketers_cannot_resolve_and_agents_cannot_see_analytics(templates, marketer_client):
    assert marketer_client.get("/journeys/exceptions/").status_code == 403
    assert marketer_client.get("/journeys/").status_code == 200


def test_agent_marks_a_task_done(templates, customer, event, process, agent_client):
    from journeys.models import AgentTask

    _busy_customer(customer, event, process, 1)
    task = AgentTask.objects.get()
    assert agent_client.post(f"/journeys/tasks/{task.pk}/done/").status_code == 302
    task.refresh_from_db()
    assert task.status == "done" and task.done_by is not None


def test_marketer_edits_a_journey_with_inline_stages_in_the_admin(templates, marketer_client):
    journey = Journey.objects.get(slug="order-to-cash")
    response = marketer_client.get(f"/admin/journeys/journey/{journey.pk}/change/")
    assert response.status_code == 200
    assert b"stages-TOTAL_FORMS" in response.content and b"actions-TOTAL_FORMS" in response.content
    assert b"payment_received" in response.content


def test_navigation_links_follow_roles(templates, agent_client):
    content = agent_client.get("/").content
    assert b'href="/journeys/exceptions/"' in content
    assert b'href="/journeys/"' not in content
