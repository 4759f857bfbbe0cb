"""Admin: every gateway decision (sent, blocked and why) with its events; suppressions, caps, providers."""

from django import forms
from django.contrib import admin

from .models import DeliveryProvider, FrequencyCap, Message, MessageEvent, Suppression


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ("at", "status", "detail")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "customer_id",
        "channel",
        "purpose",
        "origin",
        "status",
        "reason",
        "subject",
    )
    list_filter = ("status", "reason", "channel", "purpose", "origin")
    search_fields = (
        "=id",
        "=customer__id",
        "to_address",
        "subject",
        "provider_message_id",
        "idempotency_key",
    )
    date_hierarchy = "created_at"
    list_select_related = ()
    show_full_result_count = False
    inlines = [MessageEventInline]
    readonly_fields = [f.name for f in Message._meta.fields]
    raw_id_fields = ("customer", "campaign", "interaction", "created_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("channel", "address", "reason", "created_at")
    list_filter = ("channel", "reason")
    search_fields = ("address",)
    raw_id_fields = ("message",)


@admin.register(FrequencyCap)
class FrequencyCapAdmin(admin.ModelAdmin):
    list_display = ("channel", "max_messages", "window_days")


class ProviderForm(forms.ModelForm):
    url = forms.URLField(
        required=False, assume_scheme="https", help_text="HTTP providers: where messages are POSTed."
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current secret.",
    )

    class Meta:
        model = DeliveryProvider
        fields = ("code", "kind", "channels", "url", "secret", "rate_per_minute", "max_attempts", "active")

    def clean_secret(self):
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


@admin.register(DeliveryProvider)
class DeliveryProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("code", "kind", "channels", "url", "rate_per_minute", "active")
