"""Segment KPIs at ``GET /api/v1/segments/<id>/kpis/`` and on the segment page: figures, errors,
permissions, the OpenAPI description and constant query counts."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from interactions.models import Channel
from segments import services
from segments.models import Refresh, Segment, SegmentKind
from tests.factories import CustomerFactory, InteractionFactory
from tests.metrics.helpers import add_response, make_survey


@pytest.fixture
def reader(api_client_with):
    return api_client_with("segments:read")


@pytest.fixture
def priced(db) -> dict[str, Channel]:
    return {
        "phone": Channel.objects.create(code="kpi-phone", name="Phone", cost_per_interaction=Decimal("4.5")),
        "web": Channel.objects.create(code="kpi-web", name="Web", cost_per_interaction=Decimal("0.25")),
    }


def _static(slug: str) -> Segment:
    return Segment.objects.create(
        slug=slug, name=slug.title(), kind=SegmentKind.STATIC, refresh=Refresh.MANUAL
    )


def _list_with(segment: Segment, n: int, priced: dict[str, Channel]) -> list:
    """``n`` members added through the list service, each with two priced touches, one order, one NPS."""
    customers = [CustomerFactory() for _ in range(n)]
    services.add_members(segment=segment, customer_ids=[c.pk for c in customers])
    survey = make_survey("nps")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    for i, customer in enumerate(customers):
        InteractionFactory(customer=customer, channel=priced["phone"], occurred_at=an_hour_ago)
        InteractionFactory(
            customer=customer,
            channel=priced["web"],
            occurred_at=an_hour_ago,
            type="order_placed",
            value=Decimal("20.00"),
            currency="EUR",
        )
        add_response(survey, 10 if i % 2 == 0 else 5, customer=customer, when=an_hour_ago)
    return customers


@pytest.mark.django_db
def test_kpis_endpoint_serves_movement_value_cost_and_nps(reader, priced):
    segment = _static("vip")
    customers = _list_with(segment, 3, priced)
    services.remove_members(segment=segment, customer_ids=[customers[0].pk])

    response = reader.get(f"/api/v1/segments/{segment.pk}/kpis/?days=7&period=week")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["size"], body["size_at_start"], body["entered"], body["exited"]) == (2, 0, 3, 1)
    assert (body["days"], body["period"], body["retention_rate"]) == (7, "week", None)
    assert len(body["per_day"]) == 7 and body["per_day"][-1]["size"] == 2
    assert body["per_day"][-1]["day"] == timezone.now().date().isoformat()
    assert sum(row["entered"] for row in body["per_period"]) == 3
    assert body["per_period"][-1]["size_at_end"] == 2
    # Two members left, each with 4.50 + 0.25 of cost and 20.00 of orders in the window.
    assert body["economics"] == {
        "interactions": 4,
        "cost_to_serve": "9.50",
        "cost_to_serve_per_member": "4.75",
        "revenue": "40.00",
        "profitability": "30.50",
        "historical_value_to_date": "40.00",
        "average_historical_value_to_date": "20.00",
        "currency": "EUR",
        "mixed_currencies": False,
    }
    # Members 1 and 2 answered 5 and 10 (the removed member 0 answered 10 and does not count).
    assert body["nps"] == {
        "n": 2,
        "promoters": 1,
        "passives": 0,
        "detractors": 1,
        "nps": 0.0,
        "margin_of_error": 138.6,
    }


@pytest.mark.django_db
def test_kpis_default_to_thirty_days_per_day(reader):
    body = reader.get(f"/api/v1/segments/{_static('plain').pk}/kpis/").json()
    assert (body["days"], body["period"], len(body["per_day"]), len(body["per_period"])) == (
        30,
        "day",
        30,
        30,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period=year", "period"),
        ("period=Week", "period"),
        ("days=0", "days"),
        ("days=367", "days"),
        ("days=abc", "days"),
        ("days=1.5", "days"),
    ],
)
def test_bad_query_parameters_are_a_400_in_the_common_format(reader, query, field):
    response = reader.get(f"/api/v1/segments/{_static('bad').pk}/kpis/?{query}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("invalid", field)
    assert error["message"].startswith(f"{field}: ")


@pytest.mark.django_db
def test_kpis_need_the_segments_read_scope(api_client_with):
    segment = _static("guarded")
    response = api_client_with("customers:read").get(f"/api/v1/segments/{segment.pk}/kpis/")
    assert response.status_code == 403
    assert response.json()["error"]["code"]


@pytest.mark.django_db
def test_kpis_of_an_unknown_segment_are_a_404(reader):
    response = reader.get("/api/v1/segments/999999/kpis/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_endpoint_queries_do_not_grow_with_the_segment(reader, priced):
    small, large = _static("small"), _static("large")
    _list_with(small, 1, priced)
    _list_with(large, 40, priced)
    reader.get("/api/v1/segments/")  # the client's first request of the minute also stamps last_used_at
    one = _queries(lambda: reader.get(f"/api/v1/segments/{small.pk}/kpis/?period=month"))
    many = _queries(lambda: reader.get(f"/api/v1/segments/{large.pk}/kpis/?period=month"))
    assert one == many


def test_openapi_describes_the_kpis_parameters_and_figures(db):
    schema = Client().get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/segments/{id}/kpis/"]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert parameters["days"]["minimum"] == 1 and parameters["days"]["maximum"] == 366
    assert parameters["period"]["enum"] == ["day", "week", "month"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    kpis = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"size", "per_day", "per_period", "economics", "retention_rate", "nps"} <= set(kpis["properties"])


@pytest.fixture
def keep_test_connection():
    """Requests through the WSGI app must not close the test's connection (as in the API fuzz test)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.parametrize("members", [0, 2])
def test_kpis_responses_conform_to_the_openapi_schema(api_client_with, priced, keep_test_connection, members):
    import schemathesis

    from cxhub.wsgi import application

    token = api_client_with("segments:read").token
    segment = _static("conform")
    _list_with(segment, members, priced)
    operation = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)[
        "/api/v1/segments/{id}/kpis/"
    ]["GET"]
    case = operation.Case(path_parameters={"id": segment.pk}, query={"days": 40, "period": "month"})
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    operation.validate_response(response)  # raises when a field is missing, mistyped or null unexpectedly


# --- the segment page ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_segment_page_shows_the_kpis(agent_client, priced):
    segment = _static("page")
    _list_with(segment, 2, priced)

    html = agent_client.get(f"/segments/{segment.pk}/?period=month&days=90").content.decode()

    assert 'id="segment-kpis"' in html and "KPIs, last 90 days" in html
    assert 'id="kpi-cost-to-serve">9.50' in html  # 2 × (4.50 + 0.25)
    assert "(4.75 per member)" in html
    assert 'id="kpi-revenue">40.00 EUR' in html
    assert 'id="kpi-profitability">30.50' in html
    assert 'id="kpi-historical-value">20.00' in html
    assert "+0.0 ± 138.6" in html  # one promoter, one detractor
    assert f"<td>{timezone.now():%Y-%m}</td>" in html


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["period=year", "days=0", "days=abc", "days=99999999"])
def test_segment_page_falls_back_to_defaults_on_bad_parameters(agent_client, query):
    response = agent_client.get(f"/segments/{_static('lenient').pk}/?{query}")
    assert response.status_code == 200
    assert "KPIs, last 30 days" in response.content.decode()


@pytest.mark.django_db
def test_segment_page_queries_do_not_grow_with_the_segment(agent_client, priced):
    small, large = _static("small"), _static("large")
    _list_with(small, 1, priced)
    _list_with(large, 40, priced)
    one = _queries(lambda: agent_client.get(f"/segments/{small.pk}/?period=week"))
    many = _queries(lambda: agent_client.get(f"/segments/{large.pk}/?period=week"))
    assert one == many
