from rest_framework import serializers

from customers.models import Customer

from ..models import Segment, SegmentMovement, SegmentRun


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
        fields = (
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "lifecycle_stage",
            "attributes",
            "created_at",
            "updated_at",
            "last_seen_at",
        )


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
