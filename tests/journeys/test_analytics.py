from datetime import timedelta

import pytest

from journeys.models import Journey
from journeys.selectors import journey_analytics, percentile
from journeys.services import detect_time_exceptions

from .conftest import T0

pytestmark = pytest.mark.django_db

STEPS = (
    ("order_placed", "inbound"),
    ("payment_received", "inbound"),
    ("order_shipped", "outbound"),
    ("order_delivered", "inbound"),
    ("invoice_settled", "inbound"),
)


@pytest.fixture
def scenario(templates, event, process):
    """Ten orders: 4 complete, 3 stop after paid, 2 after placed, 1 is abandoned after shipped.

    Hours spent in Order placed: 1..10 for orders 1..10 (those that moved on).
    """
    from tests.factories import CustomerFactory

    interactions = []
    for n in range(1, 11):
        customer = CustomerFactory()
        depth = 5 if n <= 4 else 2 if n <= 7 else 1 if n <= 9 else 3
        at = 0.0
        for index, (step, direction) in enumerate(STEPS[:depth]):
            if index == 1:
                at += n  # time in "Order placed" = n hours
            elif index > 1:
                at += 2
            channel = "phone" if n % 2 else "web"
            interactions.append(
                event(
                    customer,
                    step,
                    hours=at,
                    channel_code=channel if index == 0 else "email",
                    direction=direction,
                    order_id=f"O{n}",
                )
            )
    process(*interactions)
    # Orders 8 and 9 sat in "Order placed" past its 24 h SLA; order 10 gets abandoned later.
    detect_time_exceptions(now=T0 + timedelta(hours=30))
    detect_time_exceptions(now=T0 + timedelta(days=60))
    return Journey.objects.get(slug="order-to-cash")


def test_funnel_time_in_stage_and_rates_on_a_known_scenario(scenario):
    result = journey_analytics(journey=scenario)
    assert result.started == 10
    by_stage = {s.stage.slug: s for s in result.stages}
    assert [s.reached for s in result.stages] == [10, 8, 5, 4, 4]
    assert by_stage["paid"].conversion == 80.0
    assert by_stage["shipped"].conversion == 62.5
    assert by_stage["invoice-settled"].share_of_started == 40.0
    placed = by_stage["order-placed"]
    # Orders 1..7 and 10 left "Order placed" after n hours: 1,2,3,4,5,6,7,10.
    assert placed.exits == 8
    assert placed.median_seconds == 4.5 * 3600
    assert placed.p90_seconds == pytest.approx((7 + 0.3 * 3) * 3600, abs=0.1)
    assert by_stage["paid"].median_seconds == 2 * 3600
    # Orders 8 and 9 breached the 24 h SLA of "Order placed" (order 10's 30 h mark came after it moved).
    assert placed.sla_breaches == 2 and placed.sla_breach_rate == 20.0
    assert result.states == {"completed": 4, "abandoned": 6}
    assert result.completion_rate == 40.0
    assert result.abandonment_rate == 60.0


def test_analytics_filter_by_starting_channel(scenario):
    result = journey_analytics(journey=scenario, channel="phone")  # odd orders 1,3,5,7,9
    assert result.started == 5
    assert [s.reached for s in result.stages] == [5, 4, 2, 2, 2]


def test_analytics_api_and_page(scenario, api_client_with, marketer_client, agent_user):
    body = api_client_with("journeys:read").get("/api/v1/journeys/order-to-cash/analytics/").json()
    assert body["started"] == 10
    assert [s["reached"] for s in body["stages"]] == [10, 8, 5, 4, 4]
    assert body["stages"][0]["time_in_stage"]["median_seconds"] == 4.5 * 3600
    bad = api_client_with("journeys:read").get("/api/v1/journeys/order-to-cash/analytics/?since=yesterday")
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "since"
    page = marketer_client.get("/journeys/order-to-cash/")
    assert page.status_code == 200
    assert b"Funnel" in page.content and b"Invoice settled" in page.content
    marketer_client.force_login(agent_user)
    assert marketer_client.get("/journeys/order-to-cash/").status_code == 403


def test_percentile_interpolates_like_percentile_cont():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == pytest.approx(9.1)


def test_analytics_filter_by_segment(scenario):
    from django.utils import timezone

    segments = pytest.importorskip("segments.models")
    segment = segments.Segment.objects.create(slug="vip", name="VIP")
    first_two = (
        scenario.instances.order_by("correlation_value")
        .filter(correlation_value__in=["O1", "O10"])
        .values("customer_id")
    )
    segments.SegmentMembership.objects.bulk_create(
        [
            segments.SegmentMembership(segment=segment, customer_id=r["customer_id"], since=timezone.now())
            for r in first_two
        ]
    )
    result = journey_analytics(journey=scenario, segment="vip")
    assert result.started == 2
    assert [s.reached for s in result.stages] == [2, 2, 2, 1, 1]
    assert journey_analytics(journey=scenario, segment=str(segment.pk)).started == 2
