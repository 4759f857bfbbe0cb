"""Voice-of-the-customer figures in a segment's KPIs, through the segments KPI-provider registry.

``nps``: the NPS of the segment's current members over the KPI window — every NPS response
they gave with ``responded_at`` in the window counts (as in ``/metrics/nps/?group_by=segment``),
scored with the exact functions of ``metrics.scores``. One query whatever the segment's size.
"""

from django.db.models import Count
from rest_framework import serializers

from . import scores
from .models import SurveyKind, SurveyResponse


class NpsFigureSerializer(serializers.Serializer):
    """NPS in points (−100…100) and its 95% margin of error; both null when n = 0."""

    n = serializers.IntegerField(min_value=0)
    promoters = serializers.IntegerField(min_value=0)
    passives = serializers.IntegerField(min_value=0)
    detractors = serializers.IntegerField(min_value=0)
    nps = serializers.FloatField(allow_null=True)
    margin_of_error = serializers.FloatField(allow_null=True)


def segment_nps(window) -> dict:
    """NPS of the responses the segment's current members gave inside the window."""
    distribution = dict(
        SurveyResponse.objects.filter(
            kind=SurveyKind.NPS,
            customer_id__in=window.members,
            responded_at__gte=window.since,
            responded_at__lt=window.until,
        )
        .values_list("score")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return scores.nps_from_distribution(distribution).as_dict()


def nps_figures(result: dict) -> list[tuple[str, str]]:
    if not result["n"]:
        return [("NPS", "no responses")]
    return [
        ("NPS", f"{result['nps']:+.1f} ± {result['margin_of_error']:.1f}"),
        (
            "NPS responses",
            f"{result['n']} (promoters {result['promoters']}, passives {result['passives']}, "
            f"detractors {result['detractors']})",
        ),
    ]
