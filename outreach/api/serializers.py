"""Request and response shapes of the messages and campaigns API (API.md)."""

from rest_framework import serializers

from customers.models import ConsentPurpose


class MessageInSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField(required=False, min_value=1)
    customer = serializers.DictField(required=False, child=serializers.CharField(max_length=254))
    channel = serializers.CharField(max_length=50)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.values)
    subject = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=20000)
    body_html = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    idempotency_key = serializers.CharField(max_length=200)

    def validate(self, data):
        if ("customer_id" in data) == ("customer" in data):
            raise serializers.ValidationError({"customer_id": "Give exactly one of customer_id or customer."})
        return data


class MessageAcceptedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    reason = serializers.CharField(required=False)


class MessageEventSerializer(serializers.Serializer):
    status = serializers.CharField()
    at = serializers.DateTimeField()
    detail = serializers.CharField()


class MessageOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    channel = serializers.CharField()
    purpose = serializers.CharField()
    origin = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    detail = serializers.CharField()
    campaign_id = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    events = MessageEventSerializer(many=True, source="events.all")
