"""Messages (and campaigns) over the API: parse, call the service or selector, shape the answer."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.identities import normalize_identity
from customers.models import Identity
from cxhub.errors import DomainError, NotFound

from .. import selectors
from ..models import Campaign, MessageOrigin
from ..services import campaigns, send_message
from . import serializers as s

IDENTITY_KINDS = ("email", "phone", "external_id", "anonymous_id", "device_id")


def _customer_by_identities(spec: dict) -> int:
    unknown = set(spec) - set(IDENTITY_KINDS) - {"namespace"}
    if unknown:
        raise DomainError(
            f"Unknown identity kind {sorted(unknown)[0]!r}.", field=f"customer.{sorted(unknown)[0]}"
        )
    for kind in IDENTITY_KINDS:
        if spec.get(kind):
            namespace = spec.get("namespace", "") if kind == "external_id" else ""
            try:
                kind, namespace, value = normalize_identity(kind, spec[kind], namespace)
            except DomainError as exc:
                raise DomainError(exc.message, field=f"customer.{kind}", code=exc.code) from exc
            found = Identity.objects.filter(kind=kind, namespace=namespace, value=value).first()
            if found is not None:
                return found.customer_id
    if not any(spec.get(kind) for kind in IDENTITY_KINDS):
        raise DomainError("customer needs at least one identity.", field="customer")
    raise NotFound("No customer has these identities.", field="customer")


class MessageCreate(APIView):
    required_scope = "messages:write"

    @extend_schema(request=s.MessageInSerializer, responses={202: s.MessageAcceptedSerializer})
    def post(self, request):
        data = s.MessageInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = data.validated_data
        customer = payload.get("customer_id") or _customer_by_identities(payload["customer"])
        message = send_message(
            customer=customer,
            channel=payload["channel"],
            purpose=payload["purpose"],
            subject=payload["subject"],
            body=payload["body"],
            body_html=payload["body_html"],
            idempotency_key=payload["idempotency_key"],
            origin=MessageOrigin.API,
            user=request.user
            if getattr(request.user, "pk", None) and not hasattr(request.user, "client")
            else None,
            context={"api_client": getattr(getattr(request.user, "client", None), "name", "")},
        )
        body = {"id": message.pk, "status": "blocked" if message.status == "blocked" else "queued"}
        if message.reason:
            body["reason"] = message.reason
        return Response(body, status=status.HTTP_202_ACCEPTED)


class MessageDetail(APIView):
    required_scope = "messages:read"

    @extend_schema(responses=s.MessageOutSerializer)
    def get(self, request, pk: int):
        message = selectors.message_with_events(message_id=pk)
        if message is None:
            raise Http404
        return Response(s.MessageOutSerializer(message).data)


def _segment(value: str):
    from segments.models import Segment

    lookup = {"pk": int(value)} if value.isascii() and value.isdigit() else {"slug": value}
    segment = Segment.objects.filter(**lookup).first()
    if segment is None:
        raise NotFound(f"No segment {value!r}.", field="segment")
    return segment


def _campaign(pk: int) -> Campaign:
    campaign = Campaign.objects.select_related("segment").filter(pk=pk).first()
    if campaign is None:
        raise Http404
    return campaign


class CampaignCreate(generics.GenericAPIView):
    required_scopes = {"GET": "campaigns:read", "POST": "campaigns:write"}
    queryset = Campaign.objects.select_related("segment")
    serializer_class = s.CampaignOutSerializer

    @extend_schema(responses=s.CampaignOutSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.CampaignOutSerializer(page, many=True).data)

    @extend_schema(request=s.CampaignInSerializer, responses={201: s.CampaignOutSerializer})
    def post(self, request):
        data = s.CampaignInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payload = dict(data.validated_data)
        conversion = payload.pop("conversion", None) or {}
        campaign = campaigns.create_campaign(
            user=_human(request),
            name=payload["name"],
            segment=_segment(payload["segment"]),
            channel=payload["channel"],
            purpose=payload["purpose"],
            subject=payload["subject"],
            body_text=payload["body"],
            body_html=payload["body_html"],
            schedule=payload["schedule"],
            send_at=payload["send_at"],
            holdout_percent=payload["holdout_percent"],
            conversion_events=conversion.get("events") or {},
            conversion_within_days=conversion.get("within_days", 14),
        )
        return Response(s.CampaignOutSerializer(campaign).data, status=status.HTTP_201_CREATED)


class CampaignDetail(APIView):
    required_scope = "campaigns:read"

    @extend_schema(responses=s.CampaignOutSerializer)
    def get(self, request, pk: int):
        return Response(s.CampaignOutSerializer(_campaign(pk)).data)


class CampaignSend(APIView):
    required_scope = "campaigns:write"

    @extend_schema(
        request=None,
        responses={202: dict},
        description='Counts decided now (a "next_best" campaign adds "channels": messages per channel).',
    )
    def post(self, request, pk: int):
        campaign = _campaign(pk)
        counts = campaigns.send_campaign(campaign=campaign, user=_human(request))
        campaign.refresh_from_db()
        return Response(
            {"id": campaign.pk, "status": campaign.status, **counts}, status=status.HTTP_202_ACCEPTED
        )


class CampaignResults(APIView):
    required_scope = "campaigns:read"

    @extend_schema(
        responses={200: dict},
        description="Audience, delivery, blocked by reason, conversions and lift (API.md). A campaign sent "
        'on "next_best" adds "channels": per chosen channel, treated, holdout, sent, delivered, conversions '
        "and lift.",
    )
    def get(self, request, pk: int):
        campaign = _campaign(pk)
        campaigns.refresh_conversions(campaign=campaign)
        return Response(selectors.campaign_results(campaign=campaign))


class CampaignResponseRates(APIView):
    required_scope = "campaigns:read"

    @extend_schema(responses={200: dict})
    def get(self, request):
        channel = request.query_params.get("channel") or None
        segment = request.query_params.get("segment")
        segment_ids = [_segment(segment).pk] if segment else None
        return Response(
            {"rates": selectors.campaign_response_rates(segment_ids=segment_ids, channel=channel)}
        )


def _human(request):
    user = request.user
    return user if getattr(user, "pk", None) and not hasattr(user, "client") else None
