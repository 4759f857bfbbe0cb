from django.contrib import admin

from .models import FollowUpCase, RollupRebuild, Survey, SurveyInvitation, SurveyResponse, Theme


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "channel",
        "touchpoint",
        "is_active",
        "trigger_interaction_type",
        "created_at",
    )
    list_filter = ("kind", "is_active", "channel")
    search_fields = ("name", "question", "touchpoint")
    readonly_fields = ("scale_min", "scale_max", "created_at")
    fieldsets = (
        (None, {"fields": ("name", "kind", "question", "scale_min", "scale_max", "is_active")}),
        (
            "Where",
            {
                "fields": (
                    "channel",
                    "touchpoint",
                    "business_unit",
                    "journey_stage",
                    "active_from",
                    "active_until",
                )
            },
        ),
        (
            "Invitations and triggers",
            {
                "fields": (
                    "invitation_ttl_days",
                    "trigger_interaction_type",
                    "trigger_outcome",
                    "frequency_cap_days",
                    "reminder_after_days",
                )
            },
        ),
        ("Closed loop", {"fields": ("follow_up", "follow_up_sla_hours")}),
    )


@admin.register(Theme)
class ThemeAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "keywords")
    search_fields = ("name", "keywords")


@admin.register(SurveyResponse)
class SurveyResponseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "survey",
        "customer",
        "score",
        "sentiment_label",
        "channel",
        "responded_at",
        "source",
    )
    list_filter = ("kind", "survey", "sentiment_label", "themes", "source")
    search_fields = ("comment", "external_id", "=customer__id")
    raw_id_fields = ("customer", "prompted_by", "timeline_interaction", "invitation")
    readonly_fields = ("received_at", "sentiment", "sentiment_label")
    date_hierarchy = "responded_at"
    show_full_result_count = False


@admin.register(SurveyInvitation)
class SurveyInvitationAdmin(admin.ModelAdmin):
    list_display = ("id", "survey", "customer", "status", "channel", "trigger", "created_at", "responded_at")
    list_filter = ("status", "trigger", "survey")
    raw_id_fields = ("customer", "trigger_interaction", "outbound_interaction", "created_by")
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # decisions are a record, not editable


@admin.register(FollowUpCase)
class FollowUpCaseAdmin(admin.ModelAdmin):
    list_display = ("id", "customer", "status", "assigned_to", "due_at", "is_overdue", "closed_at")
    list_filter = ("status", "is_overdue")
    raw_id_fields = ("response", "customer", "assigned_to", "closed_by", "message_interaction")
    readonly_fields = ("closed_at", "closed_by", "message_interaction")


@admin.register(RollupRebuild)
class RollupRebuildAdmin(admin.ModelAdmin):
    """When the rollups were last rebuilt in full (read only: the nightly task writes them)."""

    list_display = ("started_at", "segment_id", "finished_at", "cells", "segment_cells")
    date_hierarchy = "started_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
