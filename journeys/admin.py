import secrets

from django import forms
from django.contrib import admin, messages

from cxhub.roles import ADMIN, has_role

from .models import (
    ActionAudit,
    AgentTask,
    Journey,
    JourneyException,
    JourneyInstance,
    JourneyTransition,
    Stage,
    StageAction,
    WebhookAllowedHost,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from .services import replay_delivery, webhook_targets


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = (
        "position",
        "slug",
        "name",
        "interaction_type",
        "channels",
        "direction",
        "property_matches",
        "sla",
        "terminal",
    )
    ordering = ("position",)
    prepopulated_fields = {"slug": ("name",)}


class StageActionInline(admin.StackedInline):
    model = StageAction
    extra = 0
    fields = (
        ("trigger", "stage", "exception_kind", "active"),
        ("kind", "channel", "purpose", "endpoint"),
        "subject",
        "body",
    )

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        # Only this journey's stages make sense in a rule.
        stage_field = formset.form.base_fields.get("stage")
        if stage_field is not None:
            stage_field.queryset = Stage.objects.filter(journey=obj) if obj else Stage.objects.none()
        return formset


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "active", "correlation_key", "template", "updated_at")
    list_filter = ("active",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("template", "created_at", "updated_at")
    inlines = [StageInline, StageActionInline]


class TransitionInline(admin.TabularInline):
    model = JourneyTransition
    extra = 0
    fields = ("from_stage", "to_stage", "interaction", "channel", "at", "seconds_in_stage")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JourneyInstance)
class JourneyInstanceAdmin(admin.ModelAdmin):
    list_display = ("id", "journey", "customer", "correlation_value", "current_stage", "state", "started_at")
    list_filter = ("journey", "state")
    search_fields = ("=id", "=customer__id", "correlation_value")
    raw_id_fields = ("customer",)
    readonly_fields = (
        "journey",
        "customer",
        "correlation_value",
        "current_stage",
        "started_at",
        "updated_at",
        "completed_at",
        "last_event_at",
        "stage_entered_at",
        "stage_channel",
        "sla_due_at",
        "stall_at",
        "abandon_at",
    )
    inlines = [TransitionInline]
    show_full_result_count = False


@admin.register(JourneyException)
class JourneyExceptionAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "instance", "stage", "detected_at", "resolved_at", "resolved_by")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    raw_id_fields = ("instance", "interaction", "resolved_by")
    readonly_fields = ("detected_at",)
    show_full_result_count = False


class WebhookEndpointForm(forms.ModelForm):
    """The secret is shown once, when the endpoint is created; afterwards it can only be replaced."""

    new_secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current secret (on a new endpoint: to generate one, shown once).",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("name", "url", "active", "max_attempts", "timeout_seconds")

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            webhook_targets.check_target(url)
        except webhook_targets.RefusedTarget as exc:
            raise forms.ValidationError(exc.message) from None
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("name", "url", "active", "max_attempts", "timeout_seconds")
    fields = ("name", "url", "new_secret", "active", "max_attempts", "timeout_seconds")

    def save_model(self, request, obj, form, change):
        new_secret = form.cleaned_data.get("new_secret")
        if new_secret:
            obj.secret = new_secret
        elif not change:
            obj.secret = secrets.token_urlsafe(32)
            messages.warning(
                request,
                f"Signing secret for {obj.name}: {obj.secret} — copy it now, it will not be shown again.",
            )
        super().save_model(request, obj, form, change)


@admin.register(WebhookAllowedHost)
class WebhookAllowedHostAdmin(admin.ModelAdmin):
    """Internal hosts webhooks may reach: only Admins add or remove them."""

    list_display = ("host", "reason", "created_by", "created_at")
    fields = ("host", "reason")

    def has_add_permission(self, request) -> bool:
        return has_role(request.user, ADMIN)

    def has_change_permission(self, request, obj=None) -> bool:
        return has_role(request.user, ADMIN)

    def has_delete_permission(self, request, obj=None) -> bool:
        return has_role(request.user, ADMIN)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    fields = ("number", "at", "status_code", "response_ms", "error")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "endpoint",
        "event",
        "status",
        "attempts",
        "last_status_code",
        "last_response_ms",
        "created_at",
        "delivered_at",
    )
    list_filter = ("status", "endpoint", "event")
    readonly_fields = (
        "endpoint",
        "action",
        "event",
        "payload",
        "status",
        "attempts",
        "last_status_code",
        "last_response_ms",
        "last_error",
        "replay_of",
        "created_at",
        "delivered_at",
    )
    inlines = [AttemptInline]
    actions = ["replay"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Replay selected deliveries (new signature and timestamp)")
    def replay(self, request, queryset):
        replays = [
            replay_delivery(delivery=d, user=request.user) for d in queryset.select_related("endpoint")
        ]
        self.message_user(request, f"Queued {len(replays)} replay(s).", messages.SUCCESS)


@admin.register(AgentTask)
class AgentTaskAdmin(admin.ModelAdmin):
    list_display = ("title", "customer", "status", "created_at", "done_at")
    list_filter = ("status",)
    raw_id_fields = ("customer", "instance", "exception", "done_by")


@admin.register(ActionAudit)
class ActionAuditAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "trigger", "result", "channel", "reason", "action", "customer")
    list_filter = ("kind", "result", "trigger")
    readonly_fields = [f.name for f in ActionAudit._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
