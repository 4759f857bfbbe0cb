"""Model runs and scores in the admin: read-only records of what was fitted and computed."""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from . import services
from .models import CustomerScore, ModelRun


def _pretty(value) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, default=str))


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "model",
        "status",
        "trigger",
        "calibration_end",
        "time_unit",
        "n_customers",
        "n_repeat_customers",
        "bgnbd_ll",
        "detractor_auc",
        "fit_seconds",
        "scored_customers",
        "created_at",
    )
    list_filter = ("status", "trigger", "time_unit")
    actions = ("refit_like_this",)
    fields = (
        "model",
        "status",
        "trigger",
        "error",
        "calibration_end",
        "holdout_end",
        "time_unit",
        "transaction_types",
        "value_field",
        "business_unit",
        "options_shown",
        "n_customers",
        "n_repeat_customers",
        "params_shown",
        "log_likelihood_shown",
        "holdout_shown",
        "detractor_shown",
        "checks_shown",
        "fit_seconds",
        "score_seconds",
        "scored_customers",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    @admin.display(description="BG/NBD log-likelihood")
    def bgnbd_ll(self, run):
        value = (run.log_likelihood or {}).get("bgnbd")
        return None if value is None else round(value, 1)

    @admin.display(description="Detractor AUC (held out)")
    def detractor_auc(self, run):
        value = (run.detractor or {}).get("auc")
        return None if value is None else round(value, 3)

    @admin.display(description="Options")
    def options_shown(self, run):
        return _pretty(run.options)

    @admin.display(description="Parameters")
    def params_shown(self, run):
        return _pretty(run.params)

    @admin.display(description="Log-likelihood")
    def log_likelihood_shown(self, run):
        return _pretty(run.log_likelihood)

    @admin.display(description="Holdout check")
    def holdout_shown(self, run):
        return _pretty(run.holdout) if run.holdout else "—"

    @admin.display(description="Detractor model")
    def detractor_shown(self, run):
        return _pretty(run.detractor)

    @admin.display(description="Checks")
    def checks_shown(self, run):
        return _pretty(run.checks)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Fit again with the same settings, as of today")
    def refit_like_this(self, request, queryset):
        for run in queryset[:1]:
            new = services.request_fit(
                time_unit=run.time_unit,
                transaction_types=run.transaction_types,
                value_field=run.value_field,
                business_unit=run.business_unit.code if run.business_unit else None,
                options=run.options,
                trigger="admin",
                user=request.user,
            )
            self.message_user(request, f"Model run #{new.pk} queued.", messages.SUCCESS)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm("scoring.add_modelrun"):
            actions.pop("refit_like_this", None)
        return actions


@admin.register(CustomerScore)
class CustomerScoreAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "clv",
        "p_alive",
        "churn_risk",
        "rfm_code",
        "rfm_label",
        "cost_to_serve",
        "profitability",
        "detractor_risk",
        "as_of",
    )
    list_filter = ("rfm_label",)
    search_fields = ("customer__id", "customer__email", "customer__last_name")
    list_select_related = ("customer",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
