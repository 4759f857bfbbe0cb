from django.contrib import admin

from .models import Channel, Interaction


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "is_digital", "cost_per_interaction", "active")
    list_editable = ("cost_per_interaction", "active")
    list_filter = ("is_digital", "active")


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "channel", "direction", "type", "occurred_at", "outcome", "value")
    list_filter = ("channel", "direction", "type")
    search_fields = ("=customer__id", "external_id", "subject")
    raw_id_fields = ("customer", "agent")
    date_hierarchy = "occurred_at"
    list_select_related = ("customer", "channel")
    show_full_result_count = False
