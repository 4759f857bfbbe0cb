"""Value and risk models over the API: request a fit, read runs, read a customer's scores."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response

from customers.api.views import CustomerScopedView
from cxhub.errors import NotFound

from .. import services
from ..models import CustomerScore, ModelRun
from . import serializers as s


class FitView(generics.GenericAPIView):
    required_scope = "metrics:write"
    serializer_class = s.FitRequestSerializer

    @extend_schema(request=s.FitRequestSerializer, responses={202: s.RunIdSerializer})
    def post(self, request):
        data = s.FitRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        values.pop("model")
        run = services.request_fit(**values, trigger="api", user=request.user)
        return Response({"run_id": run.pk}, status=status.HTTP_202_ACCEPTED)


class RunList(generics.ListAPIView):
    required_scope = "metrics:read"
    queryset = ModelRun.objects.select_related("business_unit")
    serializer_class = s.ModelRunSerializer


class RunDetail(generics.RetrieveAPIView):
    required_scope = "metrics:read"
    queryset = ModelRun.objects.select_related("business_unit")
    serializer_class = s.ModelRunSerializer


class CustomerScoresView(CustomerScopedView):
    required_scopes = {"GET": "customers:read"}
    serializer_class = s.CustomerScoreSerializer

    @extend_schema(responses=s.CustomerScoreSerializer)
    def get(self, request, pk: int):
        customer = self.live_customer(request, pk)
        if isinstance(customer, Response):
            return customer
        score = CustomerScore.objects.filter(customer_id=customer.pk).first()
        if score is None:
            raise NotFound(f"Customer {customer.pk} has no scores yet: no value model has been fitted since.")
        return Response(s.CustomerScoreSerializer(score).data)
