"""Output shapes for the journeys API."""

from rest_framework import serializers

from ..models import Journey, JourneyException, JourneyInstance, JourneyTransition, Stage
from ..selectors import sla_state

MAX_ID = 2**63 - 1


class JourneyStageSerializer(serializers.ModelSerializer):
    direction = serializers.CharField(read_only=True, help_text="inbound, outbound or empty (any).")
    sla_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Stage
        fields = (
            "id",
            "position",
            "slug",
            "name",
            "interaction_type",
            "channels",
            "direction",
            "property_matches",
            "sla_seconds",
            "terminal",
        )

    def get_sla_seconds(self, stage) -> int | None:
        return int(stage.sla.total_seconds()) if stage.sla else None


class JourneySerializer(serializers.ModelSerializer):
    stages = JourneyStageSerializer(many=True, read_only=True)
    abandon_after_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Journey
        fields = (
            "id",
            "slug",
            "name",
            "description",
            "active",
            "correlation_key",
            "stall_factor",
            "abandon_after_seconds",
            "template",
            "stages",
            "created_at",
            "updated_at",
        )

    def get_abandon_after_seconds(self, journey) -> int:
        return int(journey.abandon_after.total_seconds())


class JourneyStageRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ("id", "slug", "name", "position", "terminal")


class JourneyInstanceSerializer(serializers.ModelSerializer):
    journey = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    current_stage = JourneyStageRefSerializer(read_only=True)
    sla_state = serializers.SerializerMethodField()
    open_exceptions = serializers.IntegerField(read_only=True, default=0)
    state = serializers.CharField(read_only=True, help_text="active, completed, breached or abandoned.")

    class Meta:
        model = JourneyInstance
        fields = (
            "id",
            "journey",
            "customer",
            "correlation_value",
            "current_stage",
            "state",
            "sla_state",
            "sla_due_at",
            "started_at",
            "updated_at",
            "completed_at",
            "last_event_at",
            "open_exceptions",
        )

    def get_sla_state(self, instance) -> str:
        return sla_state(instance)


class JourneyTransitionSerializer(serializers.ModelSerializer):
    from_stage = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    to_stage = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    interaction = serializers.IntegerField(source="interaction_id", read_only=True)

    class Meta:
        model = JourneyTransition
        fields = ("id", "from_stage", "to_stage", "interaction", "channel", "at", "seconds_in_stage")


class JourneyExceptionSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(
        read_only=True, help_text="sla_breached, stalled, out_of_order, channel_switch or abandoned."
    )
    instance = serializers.IntegerField(source="instance_id", read_only=True)
    journey = serializers.CharField(source="instance.journey.slug", read_only=True)
    customer = serializers.IntegerField(source="instance.customer_id", read_only=True)
    stage = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    interaction = serializers.IntegerField(source="interaction_id", read_only=True)
    resolved_by = serializers.CharField(source="resolved_by.username", read_only=True, default=None)
    assigned_to = serializers.CharField(source="assigned_to.username", read_only=True, default=None)

    class Meta:
        model = JourneyException
        fields = (
            "id",
            "kind",
            "instance",
            "journey",
            "customer",
            "stage",
            "interaction",
            "detail",
            "detected_at",
            "due_at",
            "occurrences",
            "last_detected_at",
            "assigned_to",
            "assigned_at",
            "resolved_at",
            "resolved_by",
            "resolution_note",
        )


class JourneyInstanceDetailSerializer(JourneyInstanceSerializer):
    transitions = JourneyTransitionSerializer(many=True, read_only=True)
    exceptions = JourneyExceptionSerializer(many=True, read_only=True)

    class Meta(JourneyInstanceSerializer.Meta):
        fields = (*JourneyInstanceSerializer.Meta.fields, "transitions", "exceptions")


class JourneyExceptionResolveSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class JourneyExceptionAssignSerializer(serializers.Serializer):
    user_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        help_text="Omitted: the caller; null: unassign.",
    )


class JourneyExceptionBulkResolveSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=500
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
