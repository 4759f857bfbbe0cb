from django.contrib import admin

from .models import BusinessUnit, Consent, Customer, Identity


@admin.register(BusinessUnit)
class BusinessUnitAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "namespace", "value", "source", "is_flagged", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "first_name", "last_name", "email", "phone", "lifecycle_stage", "last_seen_at")
    list_filter = ("lifecycle_stage", "business_units")
    search_fields = ("=id", "email", "phone", "last_name", "first_name")
    readonly_fields = ("created_at", "updated_at", "merged_into")
    filter_horizontal = ("business_units",)
    inlines = [IdentityInline]
    show_full_result_count = False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ("customer", "channel", "purpose", "granted", "source", "captured_at")
    list_filter = ("channel", "purpose", "granted")
    raw_id_fields = ("customer", "recorded_by")
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the ledger is append-only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
