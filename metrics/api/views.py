"""Surveys, responses, invitations, metrics and follow-up cases over the API (thin: services do the work)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.api.views import CustomerScopedView
from cxhub.api.errors import validation_error_body
from cxhub.api.pagination import list_parameters
from cxhub.api.parsers import BatchJSONParser
from cxhub.errors import DomainError
from outreach import next_best

from .. import agents, channel_efficacy, selectors, services
from ..models import FollowUpCase, Survey, SurveyResponse
from ..permissions import CASE_ACTION_SCOPES
from ..services import linking
from ..services.responses import RejectedItem
from . import serializers as s


class SurveyListCreate(generics.GenericAPIView):
    required_scopes = {"GET": "metrics:read", "POST": "metrics:write"}
    queryset = Survey.objects.select_related("channel", "business_unit")
    serializer_class = s.SurveyOutSerializer

    @extend_schema(responses=s.SurveyOutSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.SurveyOutSerializer(page, many=True).data)

    @extend_schema(request=s.SurveyInSerializer, responses={201: s.SurveyOutSerializer})
    def post(self, request):
        data = s.SurveyInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        survey = services.create_survey(**data.validated_data)
        return Response(s.SurveyOutSerializer(survey).data, status=status.HTTP_201_CREATED)


class SurveyDetail(generics.RetrieveAPIView):
    required_scope = "metrics:read"
    queryset = Survey.objects.select_related("channel", "business_unit")
    serializer_class = s.SurveyOutSerializer


def _survey(pk) -> Survey:
    return get_object_or_404(Survey, pk=pk)


def _record(survey: Survey, data: dict):
    return services.record_response(survey=survey, source="api", **data)


class ResponseListCreate(generics.GenericAPIView):
    required_scopes = {"GET": "metrics:read", "POST": "metrics:write"}
    serializer_class = s.ResponseOutSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no survey in the path
            return SurveyResponse.objects.none()
        return (
            SurveyResponse.objects.filter(survey_id=self.kwargs["pk"])
            .select_related("channel", "business_unit")
            .prefetch_related("themes")
        )

    @extend_schema(parameters=list_parameters(), responses=s.ResponseOutSerializer(many=True))
    def get(self, request, pk):
        _survey(pk)
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ResponseOutSerializer(page, many=True).data)

    @extend_schema(request=s.ResponseInSerializer, responses={201: s.ResponseOutSerializer})
    def post(self, request, pk):
        survey = _survey(pk)
        data = s.ResponseInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recorded = _record(survey, data.validated_data)
        return Response(
            s.ResponseOutSerializer(recorded.response).data,
            status=status.HTTP_201_CREATED if recorded.created else status.HTTP_200_OK,
        )


class ResponseBatch(APIView):
    required_scope = "metrics:write"
    parser_classes = [BatchJSONParser]

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk):
        survey = _survey(pk)
        items = request.data.get("items") if isinstance(request.data, dict) else None
        return Response(services.record_responses(survey=survey, items=items, parse=_parse_response))


def _parse_response(item: dict) -> dict:
    data = s.ResponseInSerializer(data=item)
    if not data.is_valid():
        raise RejectedItem(validation_error_body(data.errors)["error"])
    return data.validated_data


class InvitationCreate(APIView):
    required_scope = "metrics:write"

    @extend_schema(request=s.InvitationInSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        survey = _survey(pk)
        data = s.InvitationInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        args = data.validated_data
        user = request.user if getattr(request.user, "pk", None) else None
        if "segment" in args:
            invitations = services.invite_segment(
                survey=survey, segment=args["segment"], channel=args["channel"] or None, user=user
            ).invitations
        else:
            customer = linking.resolve_customer(
                customer_spec=args.get("customer"), customer_id=args.get("customer_id")
            )
            invitations = [
                services.invite_customer(
                    survey=survey, customer=customer, channel=args["channel"] or None, user=user
                )
            ]
        counts: dict[str, int] = {}
        for invitation in invitations:
            counts[invitation.status] = counts.get(invitation.status, 0) + 1
        body = {
            "results": s.InvitationOutSerializer(invitations, many=True, context={"request": request}).data,
            "sent": counts.get("sent", 0),
            "capped": counts.get("capped", 0),
            "blocked": counts.get("blocked_consent", 0),
            "no_channel": counts.get("no_channel", 0),
        }
        return Response(body, status=status.HTTP_201_CREATED)


class MetricView(APIView):
    """``GET /api/v1/metrics/<kind>/?survey=&group_by=&since=&until=&source=live|rollup``."""

    required_scope = "metrics:read"
    kind = "nps"

    @extend_schema(
        parameters=[
            OpenApiParameter("survey", str, description="Survey id, or ids separated by commas."),
            OpenApiParameter("group_by", str, enum=list(selectors.GROUPINGS)),
            OpenApiParameter("since", str, description="Date or datetime (inclusive)."),
            OpenApiParameter("until", str, description="Date (whole day included) or datetime."),
            OpenApiParameter("source", str, enum=list(selectors.SOURCES)),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        params = request.query_params
        survey_ids = []
        for raw in params.get("survey", "").split(","):
            if raw.strip():
                if not raw.strip().isdigit():
                    raise DomainError(
                        "survey must be a survey id (or ids separated by commas).", field="survey"
                    )
                survey_ids.append(int(raw))
        if survey_ids:
            selectors.check_surveys(kind=self.kind, survey_ids=survey_ids)
        since = selectors.parse_bound(params.get("since") or params.get("from"), field="since")
        until = selectors.parse_bound(params.get("until") or params.get("to"), field="until", end=True)
        data = selectors.summary(
            kind=self.kind,
            survey_ids=survey_ids or None,
            group_by=params.get("group_by") or None,
            since=since,
            until=until,
            source=params.get("source", "live"),
        )
        return Response(data)


class NpsView(MetricView):
    kind = "nps"


class CesView(MetricView):
    kind = "ces"


class CsatView(MetricView):
    kind = "csat"


class ChannelEfficacyView(APIView):
    """``GET /api/v1/metrics/channels/?since=&until=&segment=``: efficacy figures per channel."""

    required_scope = "metrics:read"

    @extend_schema(
        parameters=[
            OpenApiParameter("since", str, description="Date or datetime (inclusive)."),
            OpenApiParameter("until", str, description="Date (whole day included) or datetime."),
            OpenApiParameter("segment", str, description="Segment slug or id: its current members only."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        params = request.query_params
        since = selectors.parse_bound(params.get("since"), field="since")
        until = selectors.parse_bound(params.get("until"), field="until", end=True)
        if since and until and since >= until:
            raise DomainError("since must be before until.", field="since")
        rows = channel_efficacy.channel_efficacy(
            since=since, until=until, segment=params.get("segment") or None
        )
        return Response({"channels": rows})


class CaseList(generics.ListAPIView):
    required_scope = CASE_ACTION_SCOPES["list"]
    serializer_class = s.CaseOutSerializer

    def get_queryset(self):
        cases = FollowUpCase.objects.select_related("assigned_to")
        params = self.request.query_params
        if params.get("status"):
            cases = cases.filter(status=params["status"])
        if params.get("customer", "").isdigit():
            cases = cases.filter(customer_id=int(params["customer"]))
        if params.get("overdue") in ("1", "true"):
            cases = cases.filter(is_overdue=True)
        return cases


class CaseClose(APIView):
    required_scope = CASE_ACTION_SCOPES["close"]

    @extend_schema(request=s.CaseCloseSerializer, responses=s.CaseOutSerializer)
    def post(self, request, pk):
        case = get_object_or_404(FollowUpCase, pk=pk)
        data = s.CaseCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case = services.close_case(
            case=case,
            user=request.user,
            outcome=data.validated_data["outcome"],
            message=data.validated_data["message"],
            channel=data.validated_data["channel"],
        )
        return Response(s.CaseOutSerializer(case).data)


class AgentMetricsView(APIView):
    """``GET /api/v1/metrics/agents/?since=&until=``: per agent workload and performance, team totals
    and weekly team trends. Signed-in users need the Team lead or Admin role as well."""

    required_scope = "metrics:read"

    @extend_schema(
        parameters=[
            OpenApiParameter("since", str, description="Date or datetime (inclusive)."),
            OpenApiParameter("until", str, description="Date (whole day included) or datetime."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        from cxhub.roles import SUPERVISOR_ROLES, has_role

        if getattr(request.user, "_meta", None) and not has_role(request.user, *SUPERVISOR_ROLES):
            raise PermissionDenied("Agent metrics are for team leads and admins.")
        params = request.query_params
        since = selectors.parse_bound(params.get("since"), field="since")
        until = selectors.parse_bound(params.get("until"), field="until", end=True)
        if since and until and since >= until:
            raise DomainError("since must be before until.", field="since")
        body = agents.agent_metrics(since=since, until=until)
        body["trend"] = agents.team_trend()
        return Response(body)


class NextBestChannelView(CustomerScopedView):
    """``GET /api/v1/customers/{id}/next-best-channel/?purpose=``: the channel to use, why, and the
    alternatives with what ruled them out. Never a channel without consent."""

    required_scopes = {"GET": "customers:read"}

    @extend_schema(
        parameters=[
            OpenApiParameter("purpose", str, required=True, description="marketing, service, surveys…")
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        purpose = request.query_params.get("purpose", "")
        if not purpose:
            raise DomainError(
                "purpose is required (marketing, service, surveys, profiling).", field="purpose"
            )
        return Response(next_best.next_best_channel(customer=customer, purpose=purpose).as_dict())
