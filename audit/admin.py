"""The audit log in the admin: browsable and filterable by Admins, never editable."""

from django.contrib import admin

from cxhub.roles import ADMIN, has_role

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = (
        "at",
        "actor_label",
        "source",
        "action",
        "customer_id",
        "object_type",
        "object_id",
        "row_count",
    )
    list_filter = ("action", "source", "object_type")
    search_fields = ("=customer_id", "=actor_label", "action")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    show_full_result_count = False

    def has_module_permission(self, request) -> bool:
        return has_role(request.user, ADMIN)

    def has_view_permission(self, request, obj=None) -> bool:
        return has_role(request.user, ADMIN)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
