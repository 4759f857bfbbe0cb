"""Messages (and campaigns) over the API: parse, call the service or selector, shape the answer."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.identities import normalize_identity
from customers.models import Identity
from cxhub.errors import DomainError, NotFound

from .. import selectors
from ..models import MessageOrigin
from ..services import send_message
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
