"""Output shape of an interaction, and documentation-only shapes of ingest requests.

Ingest items are validated by ``interactions.validation`` (fast, per-item errors); the
input serializers below only describe them in the OpenAPI schema.
"""

from rest_framework import serializers

from interactions.models import Direction, Interaction


class InteractionSerializer(serializers.ModelSerializer):
    customer_id = serializers.IntegerField(read_only=True)
    channel = serializers.SlugRelatedField(slug_field="code", read_only=True)
    business_unit = serializers.SlugRelatedField(slug_field="code", read_only=True)
    agent_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Interaction
        fields = [
            "id",
            "customer_id",
            "channel",
            "direction",
            "type",
            "occurred_at",
            "received_at",
            "source",
            "external_id",
            "business_unit",
            "touchpoint",
            "agent_id",
            "subject",
            "summary",
            "outcome",
            "value",
            "currency",
            "duration_seconds",
            "properties",
            "context",
        ]
        read_only_fields = fields


class CustomerIdentitiesSerializer(serializers.Serializer):
    email = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)
    anonymous_id = serializers.CharField(required=False)
    device_id = serializers.CharField(required=False)
    external_id = serializers.CharField(required=False)
    namespace = serializers.CharField(required=False, help_text="Needed with external_id.")


class InteractionItemSerializer(serializers.Serializer):
    """One interaction to ingest: name the customer by ``customer_id`` or by ``customer`` identities."""

    source = serializers.CharField(
        required=False, max_length=100, help_text="Defaults to the API client name."
    )
    external_id = serializers.CharField(required=False, max_length=200)
    channel = serializers.CharField(help_text="A channel code, e.g. web, email, phone.")
    direction = serializers.ChoiceField(choices=Direction.choices, required=False, default=Direction.INBOUND)
    type = serializers.CharField(max_length=64)
    occurred_at = serializers.DateTimeField()
    customer = CustomerIdentitiesSerializer(required=False)
    customer_id = serializers.IntegerField(required=False)
    business_unit = serializers.CharField(required=False)
    touchpoint = serializers.CharField(required=False, max_length=100)
    subject = serializers.CharField(required=False, max_length=255)
    summary = serializers.CharField(required=False, max_length=4000)
    outcome = serializers.CharField(required=False, max_length=50)
    value = serializers.DecimalField(required=False, max_digits=14, decimal_places=2)
    currency = serializers.CharField(required=False, min_length=3, max_length=3)
    duration_seconds = serializers.IntegerField(required=False, min_value=0)
    properties = serializers.DictField(required=False)
    context = serializers.DictField(required=False)


class InteractionBatchSerializer(serializers.Serializer):
    items = InteractionItemSerializer(many=True, max_length=1000)


class ItemErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField(required=False)


class ItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    id = serializers.IntegerField(required=False)
    error = ItemErrorSerializer(required=False)


class BatchResultSerializer(serializers.Serializer):
    results = ItemResultSerializer(many=True)
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    errors = serializers.IntegerField()
