"""GET /api/v1/audit/?customer=&actor=&action=&since=&until= (scope privacy:admin), cursor pages."""

from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView

from audit import selectors
from audit.models import AuditEvent
from cxhub.timeparse import parse_instant

from .serializers import AuditEventSerializer, AuditQuerySerializer


class AuditEventListView(GenericAPIView):
    """Who read or changed what, and when: newest first."""

    required_scopes = {"GET": "privacy:admin"}
    queryset = AuditEvent.objects.none()
    serializer_class = AuditEventSerializer

    @extend_schema(parameters=[AuditQuerySerializer], responses=AuditEventSerializer(many=True))
    def get(self, request):
        query = AuditQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        events = selectors.audit_events(
            customer_id=params.get("customer"),
            actor=params.get("actor"),
            action=params.get("action"),
            since=parse_instant(params["since"], field="since") if params.get("since") else None,
            until=parse_instant(params["until"], field="until") if params.get("until") else None,
        )
        page = self.paginate_queryset(events)
        return self.get_paginated_response(AuditEventSerializer(page, many=True).data)
