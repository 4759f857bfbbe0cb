from rest_framework import serializers

from customers.models import PROFILE_FIELDS, TIMESTAMP_FIELDS, Customer

from ..models import Segment, SegmentMovement, SegmentRun
from ..registry import kpi_providers
from ..selectors import MAX_KPI_DAYS, PERIODS


class SegmentSerializer(serializers.ModelSerializer):
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), required=False, allow_null=True
    )
    rules = serializers.JSONField(required=False)

    class Meta:
        model = Segment
        fields = (
            "id",
            "slug",
            "name",
            "description",
            "purpose",
            "kind",
            "parent",
            "owner",
            "rules",
            "refresh",
            "member_count",
            "last_computed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = ("owner", "member_count", "last_computed_at", "created_at", "updated_at")


class RulesInputSerializer(serializers.Serializer):
    rules = serializers.JSONField()
    parent = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), required=False, allow_null=True
    )


class CustomerBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ("id", *PROFILE_FIELDS, "attributes", *TIMESTAMP_FIELDS)


class MemberSerializer(CustomerBriefSerializer):
    since = serializers.DateTimeField(read_only=True)

    class Meta(CustomerBriefSerializer.Meta):
        fields = (*CustomerBriefSerializer.Meta.fields, "since")


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentRun
        fields = (
            "id",
            "trigger",
            "status",
            "created_at",
            "started_at",
            "finished_at",
            "added",
            "removed",
            "member_count",
            "error",
        )


class MovementSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentMovement
        fields = ("id", "customer", "kind", "at")


class MemberChangeSerializer(serializers.Serializer):
    customer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=10_000
    )


class FreezeSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200)


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = CustomerBriefSerializer(many=True)


class KpiQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1,
        max_value=MAX_KPI_DAYS,
        default=30,
        help_text="Window: the last N whole UTC days, today included.",
    )
    period = serializers.ChoiceField(
        choices=PERIODS, default="day", help_text="How `per_period` groups entries and exits."
    )


class KpiDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    entered = serializers.IntegerField()
    exited = serializers.IntegerField()
    size = serializers.IntegerField(help_text="Members at the end of the day (now, for today).")


class KpiPeriodSerializer(serializers.Serializer):
    period = serializers.CharField(help_text="YYYY-MM-DD (day; Monday of a week) or YYYY-MM (month).")
    start = serializers.DateField(help_text="First day of the period inside the window.")
    end = serializers.DateField(help_text="Last day of the period inside the window.")
    entered = serializers.IntegerField()
    exited = serializers.IntegerField()
    size_at_end = serializers.IntegerField()


MONEY = {"max_digits": 20, "decimal_places": 2}


class SegmentEconomicsSerializer(serializers.Serializer):
    interactions = serializers.IntegerField(help_text="Members' interactions in the window.")
    cost_to_serve = serializers.DecimalField(
        **MONEY, help_text="Σ members' interactions in the window × their channel's cost per interaction."
    )
    cost_to_serve_per_member = serializers.DecimalField(**MONEY, allow_null=True)
    revenue = serializers.DecimalField(**MONEY, help_text="Σ value of members' interactions in the window.")
    profitability = serializers.DecimalField(**MONEY, help_text="revenue − cost_to_serve.")
    historical_value_to_date = serializers.DecimalField(
        **MONEY, help_text="Σ value of every interaction of the members so far (not a prediction)."
    )
    average_historical_value_to_date = serializers.DecimalField(**MONEY, allow_null=True)
    currency = serializers.CharField(allow_null=True, help_text="The currency all values share, if one.")
    mixed_currencies = serializers.BooleanField(help_text="Values in several currencies were summed as is.")


class SegmentKpisSerializer(serializers.Serializer):
    """A segment's KPIs; registered KPI providers (e.g. ``nps``) add their own keys."""

    segment = serializers.IntegerField()
    days = serializers.IntegerField()
    period = serializers.ChoiceField(choices=PERIODS)
    since = serializers.DateTimeField(help_text="Window start (inclusive, midnight UTC).")
    until = serializers.DateTimeField(help_text="Window end (exclusive): the time of the request.")
    last_computed_at = serializers.DateTimeField(allow_null=True)
    size = serializers.IntegerField(help_text="Current members.")
    size_at_start = serializers.IntegerField(help_text="Members when the window began.")
    entered = serializers.IntegerField()
    exited = serializers.IntegerField()
    net_change = serializers.IntegerField()
    retained = serializers.IntegerField(help_text="Members since before the window who never left.")
    retention_rate = serializers.FloatField(allow_null=True, help_text="retained / size_at_start × 100.")
    per_day = KpiDaySerializer(many=True)
    per_period = KpiPeriodSerializer(many=True)
    economics = SegmentEconomicsSerializer()

    def get_fields(self):
        fields = super().get_fields()
        for provider in kpi_providers():
            fields[provider.key] = provider.serializer(help_text=provider.title)
        return fields
