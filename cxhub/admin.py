from django.contrib import admin

from .models import ApiClient


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "token_prefix", "write_key_prefix", "scopes", "is_active", "last_used_at")
    list_filter = ("is_active",)
    search_fields = ("name", "token_prefix", "write_key_prefix")
    readonly_fields = (
        "token_prefix",
        "token_hash",
        "write_key_prefix",
        "write_key_hash",
        "created_at",
        "last_used_at",
    )

    def has_add_permission(self, request) -> bool:
        # Secrets are shown once; clients are created with `manage.py create_api_client`.
        return False
