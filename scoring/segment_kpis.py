"""Value and risk figures in a segment's KPIs (the segments KPI-provider registry).

``value``: over today's members, from their latest scores — average and total CLV, the share at
risk (churn risk ≥ 0.5), predicted churn (Σ churn risk: the expected number of buyers lost, and as
a share), total and average profitability, cost to serve, average detractor risk — and the same per
month from the monthly snapshots (``per_month``, months overlapping the KPI window). Two queries
whatever the segment's size.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Avg, Count, DateField, Q, Sum, Value
from rest_framework import serializers

from .models import CustomerScore, ScoreSnapshot

AT_RISK_FROM = 0.5
CENT = Decimal("0.01")
MONEY = {"max_digits": 20, "decimal_places": 2, "allow_null": True}


def _aggregates() -> dict:
    return {
        "scored": Count("pk"),
        "buyers": Count("churn_risk"),
        "sum_clv": Sum("clv"),
        "mean_clv": Avg("clv"),
        "at_risk": Count("pk", filter=Q(churn_risk__gte=AT_RISK_FROM)),
        "predicted_churn": Sum("churn_risk"),
        "total_profitability": Sum("profitability"),
        "mean_profitability": Avg("profitability"),
        "total_cost_to_serve": Sum("cost_to_serve"),
        "mean_detractor_risk": Avg("detractor_risk"),
    }


def _money(value) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _shape(row: dict) -> dict:
    buyers = row["buyers"] or 0
    churn = row["predicted_churn"]
    return {
        "scored_members": row["scored"],
        "buyers": buyers,
        "average_clv": _money(row["mean_clv"]),
        "total_clv": _money(row["sum_clv"]),
        "share_at_risk": round(row["at_risk"] / buyers * 100, 1) if buyers else None,
        "predicted_churn": round(float(churn), 1) if churn is not None else None,
        "predicted_churn_rate": round(float(churn) / buyers * 100, 1)
        if buyers and churn is not None
        else None,
        "profitability": _money(row["total_profitability"]),
        "average_profitability": _money(row["mean_profitability"]),
        "cost_to_serve": _money(row["total_cost_to_serve"]),
        "average_detractor_risk": (
            round(row["mean_detractor_risk"], 3) if row["mean_detractor_risk"] is not None else None
        ),
    }


def segment_value(window) -> dict:
    """One statement: the current scores' aggregates (month NULL) UNION ALL one row per month."""
    current = (
        CustomerScore.objects.filter(customer_id__in=window.members)
        .values(month=Value(None, output_field=DateField()))
        .annotate(**_aggregates())
        .order_by()
    )
    months = (
        ScoreSnapshot.objects.filter(
            customer_id__in=window.members,
            month__gte=window.since.date().replace(day=1),
            month__lte=window.until.date(),
        )
        .values("month")
        .annotate(**_aggregates())
        .order_by()
    )
    now = dict.fromkeys(_aggregates(), None) | {"scored": 0, "buyers": 0, "at_risk": 0}
    per_month = []
    for row in current.union(months, all=True):
        if row["month"] is None:
            now = row
        else:
            per_month.append(row)
    per_month.sort(key=lambda row: row["month"])
    return {
        **_shape(now),
        "at_risk_from": AT_RISK_FROM,
        "per_month": [{"month": row["month"].strftime("%Y-%m"), **_shape(row)} for row in per_month],
    }


class ValueFiguresSerializer(serializers.Serializer):
    scored_members = serializers.IntegerField()
    buyers = serializers.IntegerField(help_text="Scored members who have bought (BG/NBD applies to them).")
    average_clv = serializers.DecimalField(**MONEY)
    total_clv = serializers.DecimalField(**MONEY)
    share_at_risk = serializers.FloatField(allow_null=True, help_text="% of buyers with churn risk ≥ 0.5.")
    predicted_churn = serializers.FloatField(allow_null=True, help_text="Σ churn risk: expected buyers lost.")
    predicted_churn_rate = serializers.FloatField(
        allow_null=True, help_text="predicted_churn / buyers × 100."
    )
    profitability = serializers.DecimalField(**MONEY)
    average_profitability = serializers.DecimalField(**MONEY)
    cost_to_serve = serializers.DecimalField(**MONEY)
    average_detractor_risk = serializers.FloatField(allow_null=True)


class MonthValueSerializer(ValueFiguresSerializer):
    month = serializers.CharField(help_text="YYYY-MM (scores as of that month's last scoring pass).")


class SegmentValueSerializer(ValueFiguresSerializer):
    """Predicted value and risk of today's members, and per month from the score snapshots."""

    at_risk_from = serializers.FloatField()
    per_month = MonthValueSerializer(many=True)


def value_figures(result: dict) -> list[tuple[str, str]]:
    if not result["scored_members"]:
        return [("Predicted value", "not computed yet (no scored members)")]
    figures = [
        ("Average CLV", f"{result['average_clv']:,}" if result["average_clv"] is not None else "—"),
        ("Total CLV", f"{result['total_clv']:,}" if result["total_clv"] is not None else "—"),
        ("At risk", f"{result['share_at_risk']}% of buyers" if result["share_at_risk"] is not None else "—"),
        (
            "Predicted churn",
            f"{result['predicted_churn']:,} buyers ({result['predicted_churn_rate']}%)"
            if result["predicted_churn"] is not None
            else "—",
        ),
        ("Profitability (scores)", f"{result['profitability']:,}"),
    ]
    for row in result["per_month"]:
        clv = f"{row['average_clv']:,}" if row["average_clv"] is not None else "—"
        figures.append(
            (
                f"{row['month']}",
                f"avg CLV {clv}, at risk {row['share_at_risk']}%, profit {row['profitability']:,}",
            )
        )
    return figures
