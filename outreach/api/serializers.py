"""Request and response shapes of the messages and campaigns API (API.md)."""

from rest_framework import serializers

from customers.models import ConsentPurpose


class MessageInSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField(required=False, min_value=1)
    customer = serializers.DictField(required=False, child=serializers.CharField(max_length=254))
    channel = serializers.CharField(max_length=50)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
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


class ConversionSerializer(serializers.Serializer):
    events = serializers.DictField(required=False, default=dict)
    within_days = serializers.IntegerField(min_value=1, max_value=365, required=False, default=14)


class CampaignInSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    segment = serializers.CharField(max_length=100, help_text="Segment slug (or id).")
    channel = serializers.CharField(
        max_length=50,
        help_text='An active channel code (email, sms, …) or "next_best": each customer gets the channel the '
        "next-best-channel selector chooses for the campaign's purpose when it is sent (never one without "
        "consent); the choice and its reasons are kept on each message.",
    )
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices, default="marketing")
    subject = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    body = serializers.CharField(max_length=20000)
    body_html = serializers.CharField(max_length=20000, required=False, allow_blank=True, default="")
    schedule = serializers.ChoiceField(choices=["now", "at", "on_entry"], default="now")
    send_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    holdout_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=90, default=10
    )
    conversion = ConversionSerializer(required=False)


class CampaignOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    segment = serializers.CharField(source="segment.slug")
    channel = serializers.CharField(help_text='A channel code, or "next_best" (chosen per customer).')
    purpose = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField(source="body_text")
    schedule = serializers.CharField()
    send_at = serializers.DateTimeField(allow_null=True)
    holdout_percent = serializers.DecimalField(max_digits=5, decimal_places=2, coerce_to_string=False)
    conversion = serializers.SerializerMethodField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)

    def get_conversion(self, campaign) -> dict:
        return {"events": campaign.conversion_events, "within_days": campaign.conversion_within_days}
