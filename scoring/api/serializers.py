from rest_framework import serializers

from ..models import CustomerScore, ModelRun, TimeUnit


class FitRequestSerializer(serializers.Serializer):
    model = serializers.ChoiceField(choices=["bgnbd_gg"], default="bgnbd_gg")
    calibration_end = serializers.DateField(required=False, allow_null=True)
    holdout_end = serializers.DateField(required=False, allow_null=True)
    time_unit = serializers.ChoiceField(choices=TimeUnit.choices, default=TimeUnit.WEEK)
    transaction_types = serializers.ListField(
        child=serializers.CharField(max_length=64), min_length=1, max_length=20, required=False
    )
    value_field = serializers.CharField(max_length=100, default="value")
    business_unit = serializers.CharField(max_length=50, required=False, allow_blank=True, allow_null=True)
    options = serializers.DictField(required=False)


class RunIdSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()


class ModelRunSerializer(serializers.ModelSerializer):
    """A fit: what was asked, what came out, how well it predicted and how long it took."""

    params = serializers.SerializerMethodField()
    business_unit = serializers.SlugRelatedField(slug_field="code", read_only=True)
    detractor_model = serializers.JSONField(source="detractor")

    class Meta:
        model = ModelRun
        fields = (
            "id",
            "model",
            "status",
            "trigger",
            "calibration_end",
            "holdout_end",
            "time_unit",
            "transaction_types",
            "value_field",
            "business_unit",
            "options",
            "n_customers",
            "n_repeat_customers",
            "params",
            "log_likelihood",
            "holdout",
            "detractor_model",
            "checks",
            "fit_seconds",
            "score_seconds",
            "scored_customers",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        )

    def get_params(self, run: ModelRun) -> dict:
        # The contract's two models; RFM breaks and detractor coefficients are internal to scoring.
        return {key: run.params[key] for key in ("bgnbd", "gamma_gamma", "rfm") if key in run.params}

    def to_representation(self, run):
        data = super().to_representation(run)
        if run.holdout is None:
            data.pop("holdout")
        if not run.error:
            data.pop("error")
        return data


class RfmSerializer(serializers.Serializer):
    r = serializers.IntegerField(allow_null=True)
    f = serializers.IntegerField(allow_null=True)
    m = serializers.IntegerField(allow_null=True)
    code = serializers.CharField(allow_blank=True)
    label = serializers.CharField(allow_blank=True)


class DriverSerializer(serializers.Serializer):
    feature = serializers.CharField()
    label = serializers.CharField()
    contribution = serializers.FloatField()


class CustomerScoreSerializer(serializers.ModelSerializer):
    """A customer's latest scores (as of ``as_of``; money as decimal strings)."""

    customer_id = serializers.IntegerField()
    rfm = serializers.SerializerMethodField()
    p_alive_label = serializers.SerializerMethodField()
    detractor_drivers = serializers.SerializerMethodField()
    model_run = serializers.IntegerField(source="model_run_id", allow_null=True)

    class Meta:
        model = CustomerScore
        fields = (
            "customer_id",
            "p_alive",
            "p_alive_label",
            "churn_risk",
            "expected_purchases_90d",
            "expected_order_value",
            "clv",
            "rfm",
            "revenue",
            "cost_to_serve",
            "profitability",
            "detractor_risk",
            "detractor_drivers",
            "purchases",
            "model_run",
            "as_of",
        )

    def get_rfm(self, score) -> dict:
        from ..compute import RFM_LABELS

        return {
            "r": score.rfm_r,
            "f": score.rfm_f,
            "m": score.rfm_m,
            "code": score.rfm_code,
            "label": RFM_LABELS.get(score.rfm_label, ""),
        }

    def get_p_alive_label(self, score) -> str | None:
        from ..presentation import alive_label

        return alive_label(score.p_alive)

    def get_detractor_drivers(self, score) -> list[dict]:
        from ..presentation import drivers_with_labels

        return drivers_with_labels(score.detractor_drivers)
