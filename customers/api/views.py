"""Customers API: resolve, list/detail/update, identities, merge/unmerge, consents, CSV export."""

from django.db import transaction
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from audit.services import audited_stream, record_audit
from customers import exporting, selectors, services
from customers.erasure import CustomerErased, request_erasure
from customers.errors import InvalidIdentity
from customers.identities import normalize_email, normalize_identity, normalize_phone
from customers.merging import merge_customers, unmerge_customers
from customers.models import Customer, ErasureRequest, MergeEvent
from customers.subject_access import subject_access_export
from cxhub.api.authentication import ApiClientUser
from cxhub.api.pagination import list_parameters
from cxhub.errors import DomainError

from .mixins import FollowMergedMixin
from .serializers import (
    ConsentInputSerializer,
    ConsentSerializer,
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerUpdateSerializer,
    ErasureInputSerializer,
    ErasureRequestSerializer,
    ErasureStartedSerializer,
    IdentitySerializer,
    MergeEventSerializer,
    MergeRequestSerializer,
    ResolveSerializer,
    UnmergeRequestSerializer,
)

READ_WRITE = {"GET": "customers:read", "POST": "customers:write", "PATCH": "customers:write"}
LIST_PARAMETERS = [
    OpenApiParameter("email", str),
    OpenApiParameter("phone", str),
    OpenApiParameter("external_id", str, description="With `namespace` to pick the source system."),
    OpenApiParameter("namespace", str),
    OpenApiParameter("q", str, description="Name, email, phone, any identity value or id."),
    OpenApiParameter("business_unit", str, description="Business unit code."),
    OpenApiParameter("segment", str, description="Segment slug (when the segments app provides it)."),
]


def actor_of(request):
    return None if isinstance(request.user, ApiClientUser) else request.user


def normalised_identities(items) -> list[tuple[str, str, str]]:
    """Normalise [{"kind", "value", "namespace"?}] or raise InvalidIdentity naming the item and field."""
    keys = []
    for index, item in enumerate(items):
        try:
            keys.append(
                normalize_identity(item.get("kind", ""), item.get("value", ""), item.get("namespace", ""))
            )
        except InvalidIdentity as exc:
            part = exc.field if exc.field in ("kind", "namespace") else "value"
            raise InvalidIdentity(exc.message, field=f"identities[{index}].{part}") from exc
    return keys


class CustomerScopedView(FollowMergedMixin, GenericAPIView):
    """Base for /customers/{id}/…: a merged id answers 308 with the survivor's URL."""

    required_scopes = READ_WRITE
    follow_merged = True
    queryset = Customer.objects.none()

    def live_customer(self, request, pk: int) -> Customer | Response:
        customer = get_object_or_404(Customer.objects.prefetch_related("business_units"), pk=pk)
        if customer.merged_into_id is not None and self.follow_merged:
            target = self.survivor_or_404(customer.pk)
            url = request.build_absolute_uri(
                request.path.replace(f"/customers/{pk}/", f"/customers/{target}/", 1)
            )
            if request.META.get("QUERY_STRING"):
                url += "?" + request.META["QUERY_STRING"]
            response = Response(
                {
                    "error": {"code": "merged", "message": f"Customer {pk} was merged into {target}."},
                    "id": target,
                },
                status=status.HTTP_308_PERMANENT_REDIRECT,
            )
            response["Location"] = url
            return response
        if customer.erased_at is not None:
            raise CustomerErased(f"Customer {pk} was erased on {customer.erased_at:%Y-%m-%d}.")
        return customer


class CustomerListView(GenericAPIView):
    required_scopes = READ_WRITE
    queryset = Customer.objects.none()
    serializer_class = CustomerSerializer

    @extend_schema(parameters=LIST_PARAMETERS, responses=CustomerSerializer(many=True))
    def get(self, request):
        params = request.query_params
        filters = {}
        if params.get("email"):
            try:
                filters["email"] = normalize_email(params["email"])
            except InvalidIdentity as exc:
                raise DomainError(exc.message, field="email") from exc
        if params.get("phone"):
            try:
                filters["phone"] = normalize_phone(params["phone"])
            except InvalidIdentity as exc:
                raise DomainError(exc.message, field="phone") from exc
        for name in ("external_id", "namespace", "q", "business_unit"):
            if params.get(name):
                filters[name] = params[name].strip()[:254]
        filters["include_merged"] = params.get("include_merged") in ("1", "true")
        extra = {name: params[name] for name in selectors.list_filter_names() if params.get(name)}
        if params.get("segment") and "segment" not in extra:
            raise DomainError(
                "Filtering by segment is not available.", field="segment", code="unsupported_filter"
            )
        queryset = selectors.customer_list(**filters, extra=extra)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(CustomerSerializer(page, many=True).data)

    @extend_schema(request=CustomerCreateSerializer, responses={201: CustomerSerializer})
    def post(self, request):
        data = CustomerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        keys = normalised_identities(fields.pop("identities", []))
        customer = services.create_customer(identities=keys, fields=fields, actor=actor_of(request))
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)


class ResolveView(GenericAPIView):
    required_scopes = {"POST": "customers:write"}
    queryset = Customer.objects.none()
    serializer_class = ResolveSerializer

    @extend_schema(request=ResolveSerializer, responses={200: CustomerSerializer, 201: CustomerSerializer})
    def post(self, request):
        data = ResolveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        keys = normalised_identities(data.validated_data["identities"])
        source = ""
        if isinstance(request.user, ApiClientUser):
            source = request.user.client.tracking_namespace or request.user.client.name
        result = services.resolve_customer(
            identities=keys, traits=data.validated_data["traits"], source=source, actor=actor_of(request)
        )
        customer = Customer.objects.prefetch_related("business_units").get(pk=result.customer_id)
        body = {**CustomerSerializer(customer).data, "merged_ids": result.merged_ids}
        if result.not_attached:  # blocked values, or over the per-kind limit: said, never dropped silently
            body["identities_not_attached"] = result.not_attached
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


class CustomerDetailView(CustomerScopedView):
    serializer_class = CustomerSerializer

    def get(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        record_audit(action="customer.read", customer_id=customer.pk, detail={"part": "profile"})
        return Response(CustomerSerializer(customer).data)

    @extend_schema(request=CustomerUpdateSerializer, responses=CustomerSerializer)
    def patch(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        data = CustomerUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        customer = services.update_customer(customer=customer, fields=data.validated_data)
        record_audit(
            action="customer.update", customer_id=customer.pk, detail={"fields": sorted(data.validated_data)}
        )
        return Response(CustomerSerializer(customer).data)


class IdentityListView(CustomerScopedView):
    required_scopes = {"GET": "customers:read"}
    serializer_class = IdentitySerializer

    @extend_schema(parameters=list_parameters(), responses=IdentitySerializer(many=True))
    def get(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        page = self.paginate_queryset(selectors.identities_of(customer_id=customer.pk))
        record_audit(action="customer.read", customer_id=customer.pk, detail={"part": "identities"})
        return self.get_paginated_response(IdentitySerializer(page, many=True).data)


class MergeView(CustomerScopedView):
    required_scopes = {"POST": "customers:write"}
    serializer_class = MergeRequestSerializer

    @extend_schema(request=MergeRequestSerializer, responses=CustomerSerializer)
    def post(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        data = MergeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        other_id = data.validated_data["other_id"]
        if not Customer.objects.filter(pk=other_id).exists():
            raise DomainError(f"Customer {other_id} does not exist.", field="other_id", code="not_found")
        event = merge_customers(
            survivor=customer,
            merged=other_id,
            actor=actor_of(request),
            rule="manual",
            reason=data.validated_data["reason"],
        )
        survivor = Customer.objects.prefetch_related("business_units").get(pk=event.survivor_id)
        body = {
            **CustomerSerializer(survivor).data,
            "merged_ids": [event.merged_id],
            "merge_event_id": event.pk,
        }
        return Response(body)


class UnmergeView(CustomerScopedView):
    required_scopes = {"POST": "customers:write"}
    serializer_class = UnmergeRequestSerializer
    follow_merged = False

    @extend_schema(request=UnmergeRequestSerializer, responses=CustomerSerializer)
    def post(self, request, pk: int):
        customer = self.live_customer(request, pk)
        data = UnmergeRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = MergeEvent.objects.filter(pk=data.validated_data["merge_event_id"]).first()
        if event is None or customer.pk not in (event.survivor_id, event.merged_id):
            raise DomainError(
                "No such merge event for this customer.", field="merge_event_id", code="not_found"
            )
        restored = unmerge_customers(merge_event=event, actor=actor_of(request))
        restored = Customer.objects.prefetch_related("business_units").get(pk=restored.pk)
        return Response({**CustomerSerializer(restored).data, "survivor_id": event.survivor_id})


class MergeHistoryView(CustomerScopedView):
    required_scopes = {"GET": "customers:read"}
    serializer_class = MergeEventSerializer
    follow_merged = False

    @extend_schema(parameters=list_parameters(), responses=MergeEventSerializer(many=True))
    def get(self, request, pk: int):
        customer = self.live_customer(request, pk)
        page = self.paginate_queryset(selectors.merge_history(customer_id=customer.pk))
        return self.get_paginated_response(MergeEventSerializer(page, many=True).data)


class ConsentListView(CustomerScopedView):
    serializer_class = ConsentSerializer

    @extend_schema(parameters=list_parameters(), responses=ConsentSerializer(many=True))
    def get(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        page = self.paginate_queryset(customer.consents.all())
        record_audit(action="customer.read", customer_id=customer.pk, detail={"part": "consents"})
        body = self.get_paginated_response(ConsentSerializer(page, many=True).data).data
        state = selectors.consent_state(customer_id=customer.pk)
        body["current"] = [
            {"channel": c, "purpose": p, "granted": row.granted, "captured_at": row.captured_at}
            for (c, p), row in sorted(state.items())
        ]
        return Response(body)

    @extend_schema(request=ConsentInputSerializer, responses={201: ConsentSerializer})
    def post(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        data = ConsentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            consent = services.record_consent(
                customer=customer, actor=actor_of(request), **data.validated_data
            )
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)


class CustomerExportView(GenericAPIView):
    """Streaming CSV of live customers with their identities (same filters as the list)."""

    required_scopes = {"GET": "customers:read"}
    queryset = Customer.objects.none()

    @extend_schema(parameters=LIST_PARAMETERS, responses={(200, "text/csv"): str})
    def get(self, request):
        params = request.query_params
        filters = {n: params[n].strip() for n in ("q", "business_unit") if params.get(n)}
        queryset = selectors.customer_list(**filters)
        rows = audited_stream(exporting.customer_csv_rows(queryset), action="customers.export_csv")
        response = StreamingHttpResponse(rows, content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="customers.csv"'
        return response


class SubjectAccessExportView(CustomerScopedView):
    """Everything held on the person (and every profile merged into them), as JSON."""

    required_scopes = {"GET": "privacy:admin"}

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        data = subject_access_export(customer_id=customer.pk)
        record_audit(action="customer.export", customer_id=customer.pk)
        response = Response(data)
        if request.query_params.get("download") in ("1", "true"):
            response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}-export.json"'
        return response


class EraseView(CustomerScopedView):
    """Queue the erasure of the person's personal data; 202 with the request id."""

    required_scopes = {"POST": "privacy:admin"}
    serializer_class = ErasureInputSerializer

    @extend_schema(request=ErasureInputSerializer, responses={202: ErasureStartedSerializer})
    def post(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        data = ErasureInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        erasure = request_erasure(customer=customer, reason=data.validated_data["reason"])
        return Response({"request_id": erasure.pk}, status=status.HTTP_202_ACCEPTED)


class ErasureRequestView(GenericAPIView):
    """One erasure request: its status, when it completed and how many rows each table gave up."""

    required_scopes = {"GET": "privacy:admin"}
    queryset = ErasureRequest.objects.all()
    serializer_class = ErasureRequestSerializer

    def get(self, request, pk: int):
        return Response(ErasureRequestSerializer(get_object_or_404(ErasureRequest, pk=pk)).data)
