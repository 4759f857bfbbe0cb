"""Customer API shapes (see API.md "Customers")."""

from rest_framework import serializers

from customers.models import (
    CONTACT_PREFERENCE_FIELDS,
    PROFILE_FIELDS,
    QUIET_HOURS_FIELDS,
    TIMESTAMP_FIELDS,
    Consent,
    ConsentPurpose,
    Customer,
    ErasureRequest,
    Identity,
    IdentityKind,
    LifecycleStage,
    MergeEvent,
)
from cxhub.errors import DomainError
from cxhub.jsonguard import check_data_json

MAX_IDENTITIES_PER_REQUEST = 20


class CustomerSerializer(serializers.ModelSerializer):
    business_units = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = (
            "id",
            *PROFILE_FIELDS,
            "business_units",
            "attributes",
            *TIMESTAMP_FIELDS,
            *CONTACT_PREFERENCE_FIELDS,
            *QUIET_HOURS_FIELDS,
            "source",
        )
        read_only_fields = fields

    def get_business_units(self, customer) -> list[str]:
        return sorted(unit.code for unit in customer.business_units.all())


class CustomerUpdateSerializer(serializers.Serializer):
    """PATCH body: profile fields and contact preferences (identities change through resolve)."""

    first_name = serializers.CharField(max_length=150, allow_blank=True, required=False)
    last_name = serializers.CharField(max_length=150, allow_blank=True, required=False)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    attributes = serializers.DictField(required=False)
    preferred_channel = serializers.CharField(max_length=50, allow_blank=True, required=False)
    language = serializers.CharField(max_length=10, allow_blank=True, required=False)
    timezone = serializers.CharField(max_length=64, allow_blank=True, required=False)
    quiet_hours_start = serializers.TimeField(allow_null=True, required=False)
    quiet_hours_end = serializers.TimeField(allow_null=True, required=False)

    def validate_attributes(self, value):
        try:
            check_data_json(value, path="attributes")
        except DomainError as exc:
            raise serializers.ValidationError(exc.message) from None
        return value


class CustomerCreateSerializer(CustomerUpdateSerializer):
    identities = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=MAX_IDENTITIES_PER_REQUEST
    )


class IdentityInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    value = serializers.CharField(max_length=254, trim_whitespace=False)
    namespace = serializers.CharField(max_length=50, required=False, allow_blank=True, default="")


class ResolveSerializer(serializers.Serializer):
    identities = serializers.ListField(
        child=serializers.DictField(), allow_empty=False, max_length=MAX_IDENTITIES_PER_REQUEST
    )
    traits = serializers.DictField(required=False, default=dict)


class IdentitySerializer(serializers.ModelSerializer):
    class Meta:
        model = Identity
        fields = ("kind", "namespace", "value", "created_at", "source", "is_flagged")


class MergeRequestSerializer(serializers.Serializer):
    other_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class UnmergeRequestSerializer(serializers.Serializer):
    merge_event_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class MergeEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()

    class Meta:
        model = MergeEvent
        fields = ("id", "survivor_id", "merged_id", "rule", "reason", "actor", "created_at", "undone_at")

    def get_actor(self, event) -> str | None:
        return event.actor.get_username() if event.actor_id else None


class ConsentInputSerializer(serializers.Serializer):
    channel = serializers.CharField(max_length=50)
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    granted = serializers.BooleanField()
    source = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    evidence = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    captured_at = serializers.DateTimeField(required=False)


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ("id", "channel", "purpose", "granted", "source", "evidence", "captured_at")


class ErasureInputSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=2000, help_text="Why: e.g. the reference of the person's request."
    )


class ErasureStartedSerializer(serializers.Serializer):
    request_id = serializers.IntegerField()


class ErasureRequestSerializer(serializers.ModelSerializer):
    class Meta:
        model = ErasureRequest
        fields = (
            "id",
            "customer_id",
            "status",
            "requested_at",
            "requested_by",
            "completed_at",
            "customer_ids",
            "summary",
            "error",
        )
