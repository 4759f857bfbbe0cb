from datetime import UTC, datetime

import pytest

from metrics import selectors
from tests.factories import BusinessUnitFactory, CustomerFactory
from tests.metrics.helpers import add_response, make_survey

pytestmark = pytest.mark.django_db

OCT = datetime(2026, 10, 5, 12, tzinfo=UTC)
NOV = datetime(2026, 11, 3, 9, tzinfo=UTC)


@pytest.fixture
def nps_data():
    """web: 10, 9, 8, 3 (2P 1Pa 1D: NPS 25) in October; email: 10, 0 (1P 1D: NPS 0) in November."""
    survey = make_survey("nps")
    for score in (10, 9, 8, 3):
        add_response(survey, score, channel_code="web", when=OCT, touchpoint="checkout")
    for score in (10, 0):
        add_response(survey, score, channel_code="email", when=NOV, touchpoint="support")
    return survey


def test_nps_overall_matches_the_contract_shape(api_client_with, nps_data):
    body = api_client_with("metrics:read").get("/api/v1/metrics/nps/").json()
    # 3P 1Pa 2D of 6: NPS = 16.7; Var = (5/6 − (1/6)²)/6 = .134259; MoE = 1.96 × .366414 × 100 = 71.8
    assert body == {
        "overall": {
            "n": 6,
            "promoters": 3,
            "passives": 1,
            "detractors": 2,
            "nps": 16.7,
            "margin_of_error": 71.8,
        },
        "groups": [],
    }


def test_nps_grouped_by_channel_and_month(api_client_with, nps_data):
    api = api_client_with("metrics:read")
    by_channel = api.get("/api/v1/metrics/nps/?group_by=channel").json()
    groups = {g["group"]: g for g in by_channel["groups"]}
    assert groups["web"]["nps"] == 25.0 and groups["web"]["n"] == 4
    assert groups["email"]["nps"] == 0.0 and groups["email"]["detractors"] == 1
    by_month = api.get("/api/v1/metrics/nps/?group_by=month").json()
    assert [(g["group"], g["n"]) for g in by_month["groups"]] == [("2026-10", 4), ("2026-11", 2)]
    by_touchpoint = api.get("/api/v1/metrics/nps/?group_by=touchpoint").json()
    assert {g["group"] for g in by_touchpoint["groups"]} == {"checkout", "support"}


def test_period_filters_include_the_whole_until_day(api_client_with, nps_data):
    api = api_client_with("metrics:read")
    october = api.get("/api/v1/metrics/nps/?since=2026-10-01&until=2026-10-05").json()
    assert october["overall"]["n"] == 4
    assert api.get("/api/v1/metrics/nps/?since=2026-11-01").json()["overall"]["n"] == 2
    assert api.get("/api/v1/metrics/nps/?from=2026-11-01&to=2026-11-30").json()["overall"]["n"] == 2


def test_empty_period_gives_null_scores(api_client_with, nps_data):
    body = api_client_with("metrics:read").get("/api/v1/metrics/nps/?since=2030-01-01").json()
    assert body["overall"]["n"] == 0
    assert body["overall"]["nps"] is None and body["overall"]["margin_of_error"] is None


def test_business_unit_grouping(api_client_with):
    survey = make_survey("nps")
    unit = BusinessUnitFactory(code="retail")
    add_response(survey, 10, business_unit=unit)
    add_response(survey, 5)
    body = api_client_with("metrics:read").get("/api/v1/metrics/nps/?group_by=business_unit").json()
    assert [(g["group"], g["nps"]) for g in body["groups"]] == [("retail", 100.0), (None, -100.0)]


def test_ces_and_csat_shapes(api_client_with):
    ces, csat = make_survey("ces"), make_survey("csat")
    for score in (1, 2, 2, 7):
        add_response(ces, score)
    for score in (5, 4, 3, 1, 5):
        add_response(csat, score)
    api = api_client_with("metrics:read")
    ces_body = api.get("/api/v1/metrics/ces/").json()["overall"]
    assert ces_body["n"] == 4 and ces_body["average"] == 3.0
    assert ces_body["distribution"] == {"1": 1, "2": 2, "3": 0, "4": 0, "5": 0, "6": 0, "7": 1}
    csat_body = api.get(f"/api/v1/metrics/csat/?survey={csat.pk}").json()["overall"]
    assert csat_body["n"] == 5 and csat_body["satisfied_share"] == 60.0


def test_bad_parameters_get_clear_errors(api_client_with, nps_data):
    api = api_client_with("metrics:read")
    ces = make_survey("ces")
    wrong_kind = api.get(f"/api/v1/metrics/nps/?survey={ces.pk}")
    assert wrong_kind.status_code == 400 and wrong_kind.json()["error"]["field"] == "survey"
    assert api.get("/api/v1/metrics/nps/?survey=abc").status_code == 400
    assert api.get("/api/v1/metrics/nps/?group_by=colour").json()["error"]["field"] == "group_by"
    assert api.get("/api/v1/metrics/nps/?since=yesterday").json()["error"]["field"] == "since"
    assert api.get("/api/v1/metrics/nps/?source=cache").status_code == 400


def test_segment_grouping_reads_memberships(api_client_with):
    from django.utils import timezone

    from segments.models import Segment, SegmentMembership

    survey = make_survey("nps")
    loyal, other = CustomerFactory(), CustomerFactory()
    add_response(survey, 10, customer=loyal)
    add_response(survey, 9, customer=loyal)
    add_response(survey, 2, customer=other)
    segment = Segment.objects.create(slug="loyal", name="Loyal")
    SegmentMembership.objects.create(segment=segment, customer=loyal, since=timezone.now())
    body = api_client_with("metrics:read").get("/api/v1/metrics/nps/?group_by=segment").json()
    assert body["overall"]["n"] == 3
    assert body["groups"] == [
        {
            "group": "loyal",
            "n": 2,
            "promoters": 2,
            "passives": 0,
            "detractors": 0,
            "nps": 100.0,
            "margin_of_error": 0.0,
        }
    ]


def test_summary_is_one_grouped_query_whatever_the_data(django_assert_num_queries, nps_data):
    for _ in range(20):
        add_response(nps_data, 7, channel_code="chat")
    with django_assert_num_queries(1):
        selectors.summary(kind="nps", group_by="channel")
    with django_assert_num_queries(1):
        selectors.summary(kind="nps", group_by="month", since=OCT)


def test_journey_grouping_follows_the_prompting_interaction(api_client_with):
    from django.utils import timezone

    from journeys.models import Journey, JourneyInstance, JourneyTransition, Stage
    from tests.factories import InteractionFactory

    survey = make_survey("nps")
    now = timezone.now()
    journey = Journey.objects.create(slug="complaint-to-resolution", name="Complaint to resolution")
    stage = Stage.objects.create(
        journey=journey, position=1, slug="resolved", name="Resolved", interaction_type="x"
    )
    customer = CustomerFactory()
    prompt = InteractionFactory(customer=customer, type="x")
    instance = JourneyInstance.objects.create(
        journey=journey,
        customer=customer,
        current_stage=stage,
        started_at=now,
        last_event_at=now,
        stage_entered_at=now,
    )
    JourneyTransition.objects.create(instance=instance, to_stage=stage, interaction=prompt, at=now)
    add_response(survey, 10, customer=customer, prompted_by=prompt)
    add_response(survey, 0)
    api = api_client_with("metrics:read")
    body = api.get("/api/v1/metrics/nps/?group_by=journey").json()
    assert [(g["group"], g["nps"]) for g in body["groups"]] == [
        ("complaint-to-resolution", 100.0),
        (None, -100.0),
    ]
    assert api.get("/api/v1/metrics/nps/?group_by=journey&source=rollup").status_code == 400
