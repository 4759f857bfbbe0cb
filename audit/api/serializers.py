from rest_framework import serializers

from audit.models import AuditEvent


class AuditActorSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["user", "client", "system"])
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()


class AuditObjectSerializer(serializers.Serializer):
    type = serializers.CharField()
    id = serializers.CharField()


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    object = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ("id", "at", "action", "actor", "source", "customer_id", "object", "row_count", "detail")

    def get_actor(self, event) -> AuditActorSerializer:
        if event.actor_user_id:
            return {"type": "user", "id": event.actor_user_id, "name": event.actor_label}
        if event.actor_client_id:
            return {"type": "client", "id": event.actor_client_id, "name": event.actor_label}
        return {"type": "system", "id": None, "name": event.actor_label}

    def get_object(self, event) -> AuditObjectSerializer(allow_null=True):
        if not event.object_type:
            return None
        return {"type": event.object_type, "id": event.object_id}


class AuditQuerySerializer(serializers.Serializer):
    customer = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    actor = serializers.CharField(required=False, max_length=150)
    action = serializers.RegexField(r"^[a-z][a-z0-9_.]*$", required=False, max_length=64)
    since = serializers.CharField(required=False)
    until = serializers.CharField(required=False)
