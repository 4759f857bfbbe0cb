"""Interactions API: ingest one or a batch (scope ingest:write), list and timeline (customers:read)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from audit.services import record_audit
from customers.api.mixins import FollowMergedMixin
from cxhub.api.authentication import ApiClientUser
from cxhub.api.pagination import CursorPagination
from cxhub.errors import DomainError, NotFound
from cxhub.gcpause import collector_paused
from cxhub.timeparse import time_param
from interactions import selectors, services
from interactions.idempotency import respond_idempotently
from interactions.models import Direction
from interactions.validation import MAX_BIGINT

from .parsers import IngestJSONParser
from .serializers import (
    BatchResultSerializer,
    InteractionBatchSerializer,
    InteractionItemSerializer,
    InteractionSerializer,
)


class TimelinePagination(CursorPagination):
    ordering = ("-occurred_at", "-id")


class ArrivalPagination(CursorPagination):
    """The global list pages in arrival order (newest id first): served by the primary key, and a
    client syncing with the cursor never misses a late-arriving interaction that occurred earlier."""

    ordering = ("-id",)


FILTER_PARAMETERS = [
    OpenApiParameter("channel", str, description="Channel code."),
    OpenApiParameter("type", str),
    OpenApiParameter("direction", str, enum=Direction.values),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="Occurred at or after (inclusive)."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="Occurred before (exclusive)."),
]
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    description="Replays the first response for 24 h.",
)


def _caller(request):
    """(client, agent) for a request: an API client, or the logged-in user as the agent."""
    if isinstance(request.user, ApiClientUser):
        return request.user.client, None
    return None, request.user


def _id_param(raw, name):
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_BIGINT:
        raise DomainError(f"{name}: must be a positive integer.", field=name)
    return int(raw)


def list_filters(params) -> dict:
    """Validated filters from query parameters (bad values are a 400 naming the parameter)."""
    direction = params.get("direction") or None
    if direction is not None and direction not in Direction.values:
        raise DomainError("direction: must be inbound or outbound.", field="direction")
    return {
        "channel": params.get("channel") or None,
        "type": params.get("type") or None,
        "direction": direction,
        "since": time_param(params, "since"),
        "until": time_param(params, "until"),
    }


class InteractionListCreateView(FollowMergedMixin, GenericAPIView):
    required_scopes = {"GET": "customers:read", "POST": "ingest:write"}
    parser_classes = [IngestJSONParser]
    serializer_class = InteractionSerializer
    pagination_class = ArrivalPagination
    filter_backends: list = []

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", int, description="Customer id (merged ids follow)."),
            *FILTER_PARAMETERS,
        ],
        responses=InteractionSerializer(many=True),
    )
    def get(self, request):
        filters = list_filters(request.query_params)
        raw_customer = request.query_params.get("customer")
        if raw_customer:
            customer_id = _id_param(raw_customer, "customer")
            filters["customer_id"] = self.survivor_or_same(customer_id)
        page = self.paginate_queryset(selectors.interactions_query(**filters))
        return self.get_paginated_response(InteractionSerializer(page, many=True).data)

    @extend_schema(
        request=InteractionItemSerializer,
        responses={201: InteractionSerializer, 200: InteractionSerializer},
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request):
        def handle():
            client, agent = _caller(request)
            interaction, created = services.ingest_interaction(item=request.data, client=client, agent=agent)
            return Response(
                InteractionSerializer(interaction).data,
                status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
            )

        return respond_idempotently(request, handle)


class InteractionBatchView(GenericAPIView):
    required_scope = "ingest:write"
    parser_classes = [IngestJSONParser]
    serializer_class = InteractionBatchSerializer

    @extend_schema(
        request=InteractionBatchSerializer,
        responses=BatchResultSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
    )
    def post(self, request):
        # Parsing a batch builds as many objects as ingesting it does (cxhub.gcpause).
        with collector_paused():
            return self._post(request)

    def _post(self, request):
        data = request.data
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise DomainError('Send {"items": [item, ...]}.', field="items")
        if not data["items"]:
            raise DomainError("items: send at least one item.", field="items")

        def handle():
            client, agent = _caller(request)
            result = services.ingest_interactions(items=data["items"], client=client, agent=agent)
            return Response(result.as_dict(), status=status.HTTP_200_OK)

        return respond_idempotently(request, handle)


class CustomerTimelineView(FollowMergedMixin, GenericAPIView):
    required_scope = "customers:read"
    serializer_class = InteractionSerializer
    pagination_class = TimelinePagination
    filter_backends: list = []

    @extend_schema(parameters=FILTER_PARAMETERS, responses=InteractionSerializer(many=True))
    def get(self, request, customer_id: int):
        if not 0 < customer_id <= MAX_BIGINT:
            raise NotFound(f"No customer {customer_id}.")
        live = self.survivor_or_404(customer_id)
        queryset = selectors.interactions_query(customer_id=live, **list_filters(request.query_params))
        page = self.paginate_queryset(queryset)
        record_audit(action="customer.timeline", customer_id=live, row_count=len(page))
        return self.get_paginated_response(InteractionSerializer(page, many=True).data)
