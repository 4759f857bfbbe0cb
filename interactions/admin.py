from django.contrib import admin

from .models import Channel, IdempotencyKey, Interaction


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_digital", "cost_per_interaction", "active")
    list_editable = ("cost_per_interaction", "active")
    list_filter = ("is_digital", "active")
    search_fields = ("code", "name")


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer",
        "channel",
        "direction",
        "type",
        "occurred_at",
        "source",
        "external_id",
        "outcome",
        "value",
    )
    list_filter = ("channel", "direction", "type")
    search_fields = ("=customer__id", "=external_id", "subject")
    raw_id_fields = ("customer", "agent")
    readonly_fields = ("received_at",)
    date_hierarchy = "occurred_at"
    list_select_related = ("customer", "channel")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("customer", "channel", "direction", "type", "occurred_at", "received_at")}),
        ("Origin", {"fields": ("source", "external_id", "business_unit", "touchpoint", "agent")}),
        ("Content", {"fields": ("subject", "summary", "outcome", "value", "currency", "duration_seconds")}),
        ("Data", {"fields": ("properties", "context"), "classes": ("collapse",)}),
    )


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    """Stored first responses for Idempotency-Key replays: for inspection only."""

    list_display = ("key", "owner", "status_code", "created_at")
    search_fields = ("=key", "=owner")
    date_hierarchy = "created_at"
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
