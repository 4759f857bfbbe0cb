"""Segment KPIs: predicted value and risk of today's members, now and per month from snapshots."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from customers.models import Customer
from scoring.models import CustomerScore, ScoreSnapshot
from segments.models import Segment, SegmentKind, SegmentMembership
from segments.selectors import segment_kpis

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 7, 10, 12, tzinfo=UTC)


def _member(segment, name, *, clv, churn, profit, snapshots=()):
    customer = Customer.objects.create(first_name=name)
    SegmentMembership.objects.create(segment=segment, customer=customer, since=NOW)
    CustomerScore.objects.create(
        customer=customer,
        as_of=NOW,
        scored_at=NOW,
        clv=clv,
        churn_risk=churn,
        p_alive=None if churn is None else 1 - churn,
        profitability=profit,
        cost_to_serve=Decimal("5.00"),
        detractor_risk=0.2,
    )
    for month, month_clv, month_churn in snapshots:
        ScoreSnapshot.objects.create(
            customer=customer, month=month, clv=month_clv, churn_risk=month_churn, profitability=profit
        )
    return customer


def test_value_figures_now_and_per_month():
    segment = Segment.objects.create(slug="vip", name="VIP", kind=SegmentKind.STATIC)
    june, july = date(2026, 6, 1), date(2026, 7, 1)
    _member(
        segment,
        "A",
        clv=Decimal("100.00"),
        churn=0.2,
        profit=Decimal("30.00"),
        snapshots=[(june, Decimal("90.00"), 0.3), (july, Decimal("100.00"), 0.2)],
    )
    _member(
        segment,
        "B",
        clv=Decimal("50.00"),
        churn=0.6,
        profit=Decimal("-10.00"),
        snapshots=[(june, Decimal("70.00"), 0.5)],
    )
    _member(segment, "C", clv=None, churn=None, profit=Decimal("-2.00"))  # never bought
    outsider = Customer.objects.create(first_name="Out")
    CustomerScore.objects.create(
        customer=outsider, as_of=NOW, scored_at=NOW, clv=Decimal("9999"), churn_risk=0.9
    )
    value = segment_kpis(segment=segment, days=30, now=NOW)["value"]
    assert value["scored_members"] == 3 and value["buyers"] == 2
    assert value["total_clv"] == Decimal("150.00") and value["average_clv"] == Decimal("75.00")
    assert value["share_at_risk"] == 50.0  # B of the two buyers
    assert value["predicted_churn"] == 0.8 and value["predicted_churn_rate"] == 40.0
    assert value["profitability"] == Decimal("18.00") and value["cost_to_serve"] == Decimal("15.00")
    months = {row["month"]: row for row in value["per_month"]}
    assert set(months) == {"2026-06", "2026-07"}
    assert months["2026-06"]["total_clv"] == Decimal("160.00") and months["2026-06"]["share_at_risk"] == 50.0
    assert months["2026-07"]["average_clv"] == Decimal("100.00")


def test_value_figures_over_the_api_and_on_the_page(api_client_with, marketer_client):
    segment = Segment.objects.create(slug="few", name="Few", kind=SegmentKind.STATIC)
    _member(segment, "A", clv=Decimal("12.34"), churn=0.7, profit=Decimal("1.00"))
    body = api_client_with("segments:read").get(f"/api/v1/segments/{segment.pk}/kpis/").json()
    assert body["value"]["total_clv"] == "12.34" and body["value"]["share_at_risk"] == 100.0
    page = marketer_client.get(f"/segments/{segment.pk}/").content.decode()
    assert "Average CLV" in page and "12.34" in page


def test_an_empty_segment_has_no_value_figures():
    segment = Segment.objects.create(slug="none", name="None", kind=SegmentKind.STATIC)
    value = segment_kpis(segment=segment, days=30, now=NOW)["value"]
    assert value["scored_members"] == 0 and value["average_clv"] is None and value["per_month"] == []
