"""Tracking endpoints of the common spec: /v1/batch, /v1/track, /v1/identify, /v1/alias, /v1/page, ..."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cxhub.api.authentication import WriteKeyAuthentication
from interactions import tracking

from .parsers import IngestJSONParser


class TrackingJSONParser(IngestJSONParser):
    max_bytes = tracking.MAX_BATCH_BYTES

    @staticmethod
    def too_large(message: str):
        # The spec answers an oversize request with a 400, not a 413.
        return tracking.TrackingError(message, code="payload_too_large")


class SuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()


class TrackingView(APIView):
    """One message of ``message_type`` (or, for ``batch``, ``{"batch": [...], "sentAt", "context"}``)."""

    authentication_classes = [WriteKeyAuthentication]
    parser_classes = [TrackingJSONParser]
    required_scope = "ingest:write"
    message_type = "batch"

    @extend_schema(request=dict, responses=SuccessSerializer)
    def post(self, request):
        data = request.data
        if not isinstance(data, dict):
            raise tracking.TrackingError("Send a JSON object.")
        if self.message_type == "batch":
            messages, context = data.get("batch"), data.get("context")
        else:
            messages, context = [{**data, "type": self.message_type}], None
        tracking.ingest_tracking(
            messages=messages,
            client=request.user.client,
            sent_at=data.get("sentAt"),
            context=context,
            ip=request.META.get("REMOTE_ADDR", ""),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        return Response({"success": True})
