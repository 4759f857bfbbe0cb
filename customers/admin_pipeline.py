"""Admin for the dirty-customer pipeline: the work a handler failed on (Admins only)."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from cxhub.roles import ADMIN, has_role

from .models import DirtyHandlerFailure
from .pipeline import retry_set_aside


@admin.register(DirtyHandlerFailure)
class DirtyHandlerFailureAdmin(admin.ModelAdmin):
    """The dirty-customer work a handler failed on: retried by the sweep, set aside after too many tries."""

    list_display = (
        "handler",
        "customer_link",
        "attempts",
        "set_aside",
        "short_error",
        "last_failed_at",
        "next_attempt_at",
    )
    list_filter = ("set_aside", "handler")
    search_fields = ("=customer__id", "error")
    readonly_fields = [f.name for f in DirtyHandlerFailure._meta.fields]
    ordering = ("-set_aside", "-last_failed_at")
    actions = ["retry_now"]

    def has_module_permission(self, request) -> bool:
        return has_role(request.user, ADMIN)

    def has_view_permission(self, request, obj=None) -> bool:
        return has_role(request.user, ADMIN)

    def has_change_permission(self, request, obj=None) -> bool:
        return has_role(request.user, ADMIN)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Customer")
    def customer_link(self, obj):
        url = reverse("admin:customers_customer_change", args=[obj.customer_id])
        return format_html('<a href="{}">#{}</a>', url, obj.customer_id)

    @admin.display(description="Error")
    def short_error(self, obj) -> str:
        return obj.error if len(obj.error) <= 120 else obj.error[:117] + "…"

    @admin.action(description="Retry at the next sweep", permissions=["change"])
    def retry_now(self, request, queryset):
        count = retry_set_aside(failure_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} failure(s) will be retried at the next sweep.", messages.SUCCESS)
