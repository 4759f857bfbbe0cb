from rest_framework import serializers

from ..models import FollowUpCase, Survey, SurveyInvitation, SurveyKind, SurveyResponse


class SurveyInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=SurveyKind.choices)
    question = serializers.CharField(max_length=500)
    channel = serializers.CharField(max_length=50, required=False, allow_blank=True)
    touchpoint = serializers.CharField(max_length=100, required=False, allow_blank=True)
    business_unit = serializers.CharField(max_length=50, required=False, allow_blank=True)
    journey_stage = serializers.CharField(max_length=100, required=False, allow_blank=True)
    scale_min = serializers.IntegerField(required=False)
    scale_max = serializers.IntegerField(required=False)
    active_from = serializers.DateTimeField(required=False, allow_null=True)
    active_until = serializers.DateTimeField(required=False, allow_null=True)
    invitation_ttl_days = serializers.IntegerField(required=False, min_value=1, max_value=365)
    trigger_interaction_type = serializers.CharField(max_length=64, required=False, allow_blank=True)
    trigger_outcome = serializers.CharField(max_length=50, required=False, allow_blank=True)
    frequency_cap_days = serializers.IntegerField(required=False, min_value=0, max_value=3650)
    reminder_after_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=365
    )
    follow_up = serializers.BooleanField(required=False)
    follow_up_sla_hours = serializers.IntegerField(required=False, min_value=1, max_value=24 * 90)


class SurveyOutSerializer(serializers.ModelSerializer):
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    business_unit = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Survey
        fields = (
            "id",
            "name",
            "kind",
            "question",
            "scale_min",
            "scale_max",
            "channel",
            "touchpoint",
            "business_unit",
            "journey_stage",
            "active_from",
            "active_until",
            "is_active",
            "invitation_ttl_days",
            "trigger_interaction_type",
            "trigger_outcome",
            "frequency_cap_days",
            "reminder_after_days",
            "follow_up",
            "follow_up_sla_hours",
            "created_at",
        )


class ResponseInSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=200)
    score = serializers.IntegerField()
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    responded_at = serializers.DateTimeField()
    channel = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    touchpoint = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    business_unit = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")
    interaction_id = serializers.IntegerField(required=False, allow_null=True)
    customer = serializers.DictField(required=False, allow_null=True)
    customer_id = serializers.IntegerField(required=False, allow_null=True)

    def validate(self, attrs):
        if attrs.get("customer") is None and attrs.get("customer_id") is None:
            raise serializers.ValidationError({"customer": ["Give customer (identities) or customer_id."]})
        if attrs.get("customer_id") is not None:
            attrs.pop("customer", None)
        return attrs


class ResponseOutSerializer(serializers.ModelSerializer):
    survey = serializers.IntegerField(source="survey_id")
    customer_id = serializers.IntegerField()
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    business_unit = serializers.SlugRelatedField(slug_field="code", read_only=True)
    interaction_id = serializers.IntegerField(source="prompted_by_id", allow_null=True)
    timeline_interaction_id = serializers.IntegerField(allow_null=True)
    themes = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)
    category = serializers.CharField(read_only=True)

    class Meta:
        model = SurveyResponse
        fields = (
            "id",
            "survey",
            "kind",
            "external_id",
            "customer_id",
            "score",
            "category",
            "comment",
            "responded_at",
            "received_at",
            "source",
            "channel",
            "touchpoint",
            "business_unit",
            "interaction_id",
            "timeline_interaction_id",
            "sentiment",
            "sentiment_label",
            "themes",
        )


class InvitationInSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField(required=False)
    customer = serializers.DictField(required=False)
    segment = serializers.CharField(max_length=100, required=False)
    channel = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        given = [k for k in ("customer_id", "customer", "segment") if k in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"customer": ["Give exactly one of customer, customer_id or segment."]}
            )
        return attrs


class InvitationOutSerializer(serializers.ModelSerializer):
    invitation_id = serializers.IntegerField(source="id")
    customer_id = serializers.IntegerField()
    url = serializers.SerializerMethodField()

    class Meta:
        model = SurveyInvitation
        fields = ("invitation_id", "customer_id", "status", "reason", "channel", "expires_at", "url")

    def get_url(self, invitation) -> str | None:
        from ..services.invitations import survey_path

        if invitation.status != "sent":
            return None
        request = self.context.get("request")
        path = survey_path(invitation)
        return request.build_absolute_uri(path) if request else path


class CaseOutSerializer(serializers.ModelSerializer):
    customer_id = serializers.IntegerField()
    response_id = serializers.IntegerField()
    assigned_to = serializers.CharField(source="assigned_to.username", default=None)

    class Meta:
        model = FollowUpCase
        fields = (
            "id",
            "response_id",
            "customer_id",
            "status",
            "assigned_to",
            "opened_at",
            "due_at",
            "is_overdue",
            "closed_at",
            "outcome",
            "message_to_customer",
            "message_channel",
        )


class CaseCloseSerializer(serializers.Serializer):
    outcome = serializers.CharField(max_length=255)
    message = serializers.CharField(max_length=4000)
    channel = serializers.CharField(max_length=50)
