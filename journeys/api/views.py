"""Journeys API: definitions (with stages), instances per customer, exceptions, analytics."""

from django.db.models import Prefetch
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import GenericAPIView, ListAPIView, RetrieveAPIView
from rest_framework.response import Response

from customers.api.mixins import FollowMergedMixin
from cxhub.api.pagination import CursorPagination
from cxhub.errors import DomainError, NotFound
from cxhub.timeparse import time_param

from .. import selectors
from ..models import InstanceState, Journey, JourneyException, JourneyTransition
from ..services import assign_exceptions, resolve_exception, resolve_exceptions
from .serializers import (
    JourneyExceptionAssignSerializer,
    JourneyExceptionBulkResolveSerializer,
    JourneyExceptionResolveSerializer,
    JourneyExceptionSerializer,
    JourneyInstanceDetailSerializer,
    JourneyInstanceSerializer,
    JourneySerializer,
)

MAX_ID = 2**63 - 1


def _id_param(raw: str, name: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
        raise DomainError(f"{name}: must be a positive integer.", field=name)
    return int(raw)


def _journey(slug_or_id: str) -> Journey:
    journeys = selectors.journeys_with_stages()
    journey = (
        journeys.filter(pk=int(slug_or_id)).first()
        if slug_or_id.isdigit()
        else journeys.filter(slug=slug_or_id).first()
    )
    if journey is None:
        raise NotFound("No such journey.")
    return journey


class JourneyListView(ListAPIView):
    """Journey definitions with their ordered stages."""

    required_scope = "journeys:read"
    serializer_class = JourneySerializer

    def get_queryset(self):
        qs = selectors.journeys_with_stages()
        active = self.request.query_params.get("active")
        if active in ("true", "false"):
            qs = qs.filter(active=active == "true")
        return qs


class JourneyDetailView(RetrieveAPIView):
    required_scope = "journeys:read"
    serializer_class = JourneySerializer

    def get_object(self):
        return _journey(self.kwargs["journey"])


class InstanceListView(FollowMergedMixin, ListAPIView):
    """Journey instances, filtered by customer, journey and state."""

    required_scope = "journeys:read"
    serializer_class = JourneyInstanceSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("customer", int),
            OpenApiParameter("journey", str, description="Journey slug or id."),
            OpenApiParameter("state", str, description="Comma-separated: " + ", ".join(InstanceState.values)),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        customer_id = None
        if params.get("customer"):
            customer_id = self.survivor_or_same(_id_param(params["customer"], "customer"))
        state = params.get("state", "")
        unknown = [s for s in state.split(",") if s and s not in InstanceState.values]
        if unknown:
            raise DomainError(f"state: unknown value {unknown[0]!r}.", field="state")
        return selectors.instances_for(customer_id=customer_id, journey=params.get("journey"), state=state)


class InstanceDetailView(RetrieveAPIView):
    required_scope = "journeys:read"
    serializer_class = JourneyInstanceDetailSerializer

    def get_queryset(self):
        return selectors.instances_for().prefetch_related(
            Prefetch(
                "transitions", queryset=JourneyTransition.objects.select_related("from_stage", "to_stage")
            ),
            Prefetch(
                "exceptions",
                queryset=JourneyException.objects.select_related("stage", "resolved_by", "instance__journey"),
            ),
        )


class ExceptionPagination(CursorPagination):
    ordering = ("-detected_at", "-id")

    def get_ordering(self, request, queryset, view):
        return selectors.QUEUE_SORTS.get(request.query_params.get("sort", ""), self.ordering)


def _user(request):
    return request.user if getattr(request.user, "_meta", None) else None


class ExceptionListView(ListAPIView):
    """Journey exceptions; open ones unless ``?include_resolved=true``.

    ``?assigned_to=me|unassigned|<user id>``, ``?overdue=true``, ``?sort=due|-due|detected|-detected``.
    """

    required_scope = "journeys:read"
    serializer_class = JourneyExceptionSerializer
    pagination_class = ExceptionPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str),
            OpenApiParameter("journey", str),
            OpenApiParameter("customer", int),
            OpenApiParameter("include_resolved", bool),
            OpenApiParameter("assigned_to", str, description="me, unassigned or a user id"),
            OpenApiParameter("overdue", bool),
            OpenApiParameter("sort", str, enum=list(selectors.QUEUE_SORTS)),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        sort = params.get("sort", "")
        if sort and sort not in selectors.QUEUE_SORTS:
            raise DomainError(f"sort must be one of {', '.join(selectors.QUEUE_SORTS)}.", field="sort")
        assignee = params.get("assigned_to", "")
        if assignee and assignee not in ("me", "unassigned"):
            _id_param(assignee, "assigned_to")
        if assignee == "me" and _user(self.request) is None:
            raise DomainError("assigned_to=me needs a signed-in user, not an API token.", field="assigned_to")
        qs = selectors.exception_queue(
            kind=params.get("kind", ""),
            journey=params.get("journey", ""),
            include_resolved=params.get("include_resolved") == "true",
            assignee=assignee,
            user=_user(self.request),
            overdue=params.get("overdue") == "true",
        )
        if params.get("customer"):
            qs = qs.filter(instance__customer_id=_id_param(params["customer"], "customer"))
        return qs


class ExceptionResolveView(GenericAPIView):
    required_scope = "journeys:write"
    serializer_class = JourneyExceptionResolveSerializer

    @extend_schema(request=JourneyExceptionResolveSerializer, responses=JourneyExceptionSerializer)
    def post(self, request, pk: int):
        exception = JourneyException.objects.filter(pk=pk).first()
        if exception is None:
            raise NotFound("No such exception.")
        data = JourneyExceptionResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "_meta", None) else None
        resolved = resolve_exception(exception=exception, user=user, note=data.validated_data["note"])
        resolved = selectors.exception_queue(include_resolved=True).get(pk=resolved.pk)
        return Response(JourneyExceptionSerializer(resolved).data)


class ExceptionAssignView(GenericAPIView):
    """Assign an open exception: to ``user_id``, to the caller when omitted, to nobody when null."""

    required_scope = "journeys:write"
    serializer_class = JourneyExceptionAssignSerializer

    @extend_schema(request=JourneyExceptionAssignSerializer, responses=JourneyExceptionSerializer)
    def post(self, request, pk: int):
        from django.contrib.auth import get_user_model

        exception = JourneyException.objects.filter(pk=pk).first()
        if exception is None:
            raise NotFound("No such exception.")
        data = JourneyExceptionAssignSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "user_id" not in data.validated_data:
            assignee = _user(request)
            if assignee is None:
                raise DomainError("user_id: required when calling with an API token.", field="user_id")
        elif data.validated_data["user_id"] is None:
            assignee = None
        else:
            assignee = (
                get_user_model().objects.filter(pk=data.validated_data["user_id"], is_active=True).first()
            )
            if assignee is None:
                raise DomainError("user_id: no such active user.", field="user_id")
        if exception.resolved_at is not None:
            raise DomainError("This exception is already resolved.", code="already_resolved")
        assign_exceptions(exception_ids=[exception.pk], assignee=assignee, actor=_user(request))
        return Response(JourneyExceptionSerializer(selectors.exception_queue(state="all").get(pk=pk)).data)


class ExceptionBulkResolveView(GenericAPIView):
    """Resolve several exceptions at once; already resolved ones are skipped."""

    required_scope = "journeys:write"
    serializer_class = JourneyExceptionBulkResolveSerializer

    @extend_schema(
        request=JourneyExceptionBulkResolveSerializer,
        responses=OpenApiTypes.OBJECT,
        operation_id="api_v1_journeys_exceptions_bulk_resolve",
    )
    def post(self, request):
        data = JourneyExceptionBulkResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data["ids"]
        resolved = resolve_exceptions(
            exception_ids=ids, user=_user(request), note=data.validated_data["note"]
        )
        return Response({"requested": len(set(ids)), "resolved": resolved})


class JourneyAnalyticsView(GenericAPIView):
    """Funnel by stage, median and p90 time in stage, SLA breach and abandonment rates."""

    required_scope = "journeys:read"
    pagination_class = None

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Instances started at or after."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Instances started before."),
            OpenApiParameter("channel", str, description="Instances started on this channel."),
            OpenApiParameter("segment", str, description="Segment slug or id: its members' instances."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, journey: str):
        params = request.query_params
        result = selectors.journey_analytics(
            journey=_journey(journey),
            since=time_param(params, "since"),
            until=time_param(params, "until"),
            channel=params.get("channel", ""),
            segment=params.get("segment", ""),
        )
        return Response(result.as_dict())
