"""Segments API: CRUD, schema, preview, recompute, runs, members (JSON, CSV), movements, KPIs, lists."""

from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.services import audited_stream, record_audit
from customers.models import PROFILE_FIELDS, Identity
from cxhub import csvsafe
from cxhub.api.pagination import list_parameters
from cxhub.api.parsers import StrictJSONParser
from cxhub.errors import DomainError, NotFound

from .. import selectors, services
from ..compiler import segment_queryset
from ..models import Segment, SegmentMembership
from ..registry import rule_schema
from .serializers import (
    CustomerBriefSerializer,
    FreezeSerializer,
    KpiQuerySerializer,
    MemberChangeSerializer,
    MemberSerializer,
    MovementSerializer,
    PreviewSerializer,
    RulesInputSerializer,
    RunSerializer,
    SegmentKpisSerializer,
    SegmentSerializer,
)

READ, WRITE = "segments:read", "segments:write"
PREVIEW_SAMPLE = 20
CSV_CHUNK = 2000


class SegmentSchemaView(APIView):
    """The JSON Schema of segment rules (built-in conditions plus those other apps register)."""

    required_scope = READ

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request):
        return Response(rule_schema())


class SegmentPreviewView(APIView):
    """Count and a sample of 20 customers for an unsaved rule."""

    required_scope = READ

    @extend_schema(request=RulesInputSerializer, responses=PreviewSerializer)
    def post(self, request):
        data = RulesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rules, parent = data.validated_data["rules"], data.validated_data.get("parent")
        services.validate_definition(rules=rules, kind="dynamic", slug="", parent=parent, segment_id=None)
        qs = segment_queryset(rules, parent=parent)
        sample = qs.order_by("-id")[:PREVIEW_SAMPLE]
        return Response({"count": qs.count(), "sample": CustomerBriefSerializer(sample, many=True).data})


class SegmentViewSet(viewsets.ModelViewSet):
    serializer_class = SegmentSerializer
    required_scopes = {"GET": READ, "POST": WRITE, "PUT": WRITE, "PATCH": WRITE, "DELETE": WRITE}
    filterset_fields = ("purpose", "kind", "refresh", "parent", "slug")

    def get_queryset(self):
        return Segment.objects.all()

    def perform_create(self, serializer):
        segment = Segment(**serializer.validated_data)
        user = self.request.user if getattr(self.request.user, "pk", None) else None
        with transaction.atomic():
            serializer.instance = services.save_segment(segment=segment, actor=user)
            if segment.is_dynamic and segment.refresh != "manual":
                services.request_recompute(segment=segment, trigger="created")
            _audit_segment("segment.create", segment)

    def perform_update(self, serializer):
        segment = serializer.instance
        before = (segment.rules, segment.parent_id, segment.kind)
        for name, value in serializer.validated_data.items():
            setattr(segment, name, value)
        with transaction.atomic():
            serializer.instance = services.save_segment(segment=segment)
            changed = before != (segment.rules, segment.parent_id, segment.kind)
            if changed and segment.is_dynamic and segment.refresh != "manual":
                services.request_recompute(segment=segment, trigger="updated")
            _audit_segment("segment.update", segment, fields=sorted(serializer.validated_data))

    def perform_destroy(self, instance):
        segment_id, slug = instance.pk, instance.slug
        services.delete_segment(segment=instance)
        record_audit(
            action="segment.delete", object_type="segment", object_id=segment_id, detail={"slug": slug}
        )

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def recompute(self, request, pk=None):
        run = services.request_recompute(segment=self.get_object(), trigger="api")
        return Response({"run_id": run.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=list_parameters(), responses=RunSerializer(many=True))
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        page = self.paginate_queryset(self.get_object().runs.all())
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    @extend_schema(
        parameters=list_parameters(OpenApiParameter("kind", str, enum=["entered", "exited"])),
        responses=MovementSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def movements(self, request, pk=None):
        qs = self.get_object().movements.all()
        if request.query_params.get("kind") in ("entered", "exited"):
            qs = qs.filter(kind=request.query_params["kind"])
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(MovementSerializer(page, many=True).data)

    @extend_schema(parameters=[KpiQuerySerializer], responses=SegmentKpisSerializer)
    @action(detail=True, methods=["get"])
    def kpis(self, request, pk=None):
        """Size over time, entries and exits per period, cost to serve, value and NPS of the members."""
        query = KpiQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        kpis = selectors.segment_kpis(segment=self.get_object(), **query.validated_data)
        return Response(SegmentKpisSerializer(kpis).data)

    @extend_schema(methods=["GET"], parameters=list_parameters(), responses=MemberSerializer(many=True))
    @extend_schema(methods=["POST"], request=MemberChangeSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get", "post"])
    def members(self, request, pk=None):
        segment = self.get_object()
        if request.method == "POST":
            data = MemberChangeSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            added = services.add_members(segment=segment, customer_ids=data.validated_data["customer_ids"])
            _audit_segment("segment.members_add", segment, customers=data.validated_data["customer_ids"])
            segment.refresh_from_db()
            return Response({"added": added, "member_count": segment.member_count})
        since = SegmentMembership.objects.filter(segment=segment, customer_id=OuterRef("pk")).values("since")[
            :1
        ]
        qs = selectors.segment_members(segment=segment).annotate(since=Subquery(since))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @action(detail=True, methods=["delete"], url_path=r"members/(?P<customer_id>[0-9]+)")
    def remove_member(self, request, pk=None, customer_id=None):
        segment = self.get_object()
        removed = services.remove_members(segment=segment, customer_ids=[int(customer_id)])
        if not removed:
            raise NotFound("That customer is not a member.", field="customer_id")
        _audit_segment("segment.members_remove", segment, customers=[int(customer_id)])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=inline_serializer("MemberImportRequest", {"csv": serializers.CharField()}),
        responses=OpenApiTypes.OBJECT,
    )
    @action(
        detail=True,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser, StrictJSONParser],
    )
    def import_members(self, request, pk=None):
        """Add customers from a CSV of customer ids or emails (``file`` upload or ``{"csv": "..."}``)."""
        upload = request.FILES.get("file")
        if upload is not None:
            text = upload.read().decode("utf-8-sig", errors="replace")
        else:
            text = request.data.get("csv") if hasattr(request.data, "get") else None
        if not text:
            raise DomainError("Send a CSV as the 'file' upload or in 'csv'.", field="file")
        return Response(services.import_members_csv(segment=self.get_object(), text=text))

    @extend_schema(request=FreezeSerializer, responses={201: SegmentSerializer})
    @action(detail=True, methods=["post"])
    def freeze(self, request, pk=None):
        data = FreezeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = request.user if getattr(request.user, "pk", None) else None
        frozen = services.freeze_segment(segment=self.get_object(), actor=user, **data.validated_data)
        return Response(SegmentSerializer(frozen).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def members_csv(self, request, pk=None):
        segment = self.get_object()
        rows = audited_stream(
            _member_rows(segment),
            action="segment.export_csv",
            object_type="segment",
            object_id=segment.pk,
            detail={"slug": segment.slug},
        )
        response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.slug}-{stamp}.csv"'
        return response


def _audit_segment(action: str, segment: Segment, *, fields=None, customers=None) -> None:
    detail = {"slug": segment.slug}
    if fields is not None:
        detail["fields"] = list(fields)
    if customers is not None:
        detail["customers"] = sorted(int(c) for c in customers)[:1000]
    record_audit(action=action, object_type="segment", object_id=segment.pk, detail=detail)


class _Echo:
    def write(self, value):
        return value


def _member_rows(segment: Segment):
    """CSV rows, fetched in keyset chunks so memory stays flat for any segment size."""
    writer = csvsafe.writer(_Echo())
    yield writer.writerow(["customer_id", *PROFILE_FIELDS, "since", "identities"])
    last_id = 0
    while True:
        chunk = list(
            SegmentMembership.objects.filter(segment=segment, customer_id__gt=last_id)
            .order_by("customer_id")
            .select_related("customer")[:CSV_CHUNK]
        )
        if not chunk:
            return
        identities: dict[int, list[str]] = {}
        for customer_id, kind, namespace, value in Identity.objects.filter(
            customer_id__in=[m.customer_id for m in chunk]
        ).values_list("customer_id", "kind", "namespace", "value"):
            identities.setdefault(customer_id, []).append(
                f"{kind}:{namespace}:{value}" if namespace else f"{kind}:{value}"
            )
        for membership in chunk:
            c = membership.customer
            yield writer.writerow(
                [
                    c.pk,
                    c.first_name,
                    c.last_name,
                    c.email,
                    c.phone,
                    c.lifecycle_stage,
                    membership.since.isoformat(),
                    ";".join(sorted(identities.get(c.pk, []))),
                ]
            )
        last_id = chunk[-1].customer_id
