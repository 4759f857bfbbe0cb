"""Admin: customers searchable by any identity, merge with preview, merge history with unmerge,
merge rules, CSV import/export and the data-quality report."""

import contextlib
import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html

from audit.services import audited_stream
from cxhub.errors import DomainError
from cxhub.roles import ADMIN, has_role

from . import admin_pipeline  # noqa: F401  (registers the pipeline admin)
from .data_quality import data_quality_report
from .erasure import delete_person, request_erasure
from .exporting import customer_csv_rows
from .identities import InvalidIdentity, normalize_email, normalize_phone
from .importing import ImportFileError, import_customers
from .merging import SURVIVORSHIP_FIELDS, merge_customers, unmerge_customers
from .models import (
    TIMESTAMP_FIELDS,
    BlockedIdentityValue,
    BusinessUnit,
    Consent,
    Customer,
    ErasureRequest,
    Identity,
    IdentityRule,
    ImportRun,
    MergeEvent,
    MergeSettings,
)

MAX_ADMIN_IMPORT_BYTES = 20 * 1024 * 1024


@admin.register(BusinessUnit)
class BusinessUnitAdmin(admin.ModelAdmin):
    list_display = ("code", "name")
    search_fields = ("code", "name")


class IdentityInline(admin.TabularInline):
    model = Identity
    extra = 0
    fields = ("kind", "namespace", "value", "source", "is_flagged", "merge_count", "created_at")
    readonly_fields = ("merge_count", "created_at")


class ConsentInline(admin.TabularInline):
    """The ledger, read-only: consent changes are appended through the API or the 360 page."""

    model = Consent
    extra = 0
    fields = ("channel", "purpose", "granted", "source", "evidence", "captured_at", "recorded_by")
    readonly_fields = fields
    ordering = ("-captured_at",)
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row (UTF-8; comma, semicolon or tab separated).")
    source = forms.SlugField(
        max_length=50, help_text="Source system code: the namespace of its external ids."
    )
    business_unit = forms.ModelChoiceField(BusinessUnit.objects.all(), required=False, to_field_name="code")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("id", "first_name", "last_name", "email", "phone", "lifecycle_stage", "merged_into_link")
    list_filter = ("lifecycle_stage", "business_units", ("merged_into", admin.EmptyFieldListFilter))
    search_fields = ("=id", "email", "phone", "last_name", "first_name")
    readonly_fields = ("created_at", "updated_at", "merged_into", "source")
    filter_horizontal = ("business_units",)
    inlines = [IdentityInline, ConsentInline]
    show_full_result_count = False
    actions = ["merge_selected", "export_selected", "erase_selected"]
    change_list_template = "admin/customers/customer/change_list.html"

    @admin.display(description="Merged into")
    def merged_into_link(self, obj):
        if not obj.merged_into_id:
            return ""
        url = reverse("admin:customers_customer_change", args=[obj.merged_into_id])
        return format_html('<a href="{}">#{}</a>', url, obj.merged_into_id)

    def get_search_results(self, request, queryset, search_term):
        """Also match any identity: exact normalised email/phone, or any identity value."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        values = {term}
        for normalise in (normalize_email, normalize_phone):
            with contextlib.suppress(InvalidIdentity):
                values.add(normalise(term))
        owners = Identity.objects.filter(value__in=values).values("customer_id")
        return results | queryset.filter(Q(pk__in=owners)), may_have_duplicates

    def get_urls(self):
        own = [
            path("merge/", self.admin_site.admin_view(self.merge_view), name="customers_customer_merge"),
            path("erase/", self.admin_site.admin_view(self.erase_view), name="customers_customer_erase"),
            path("import/", self.admin_site.admin_view(self.import_view), name="customers_customer_import"),
            path("export/", self.admin_site.admin_view(self.export_view), name="customers_customer_export"),
            path(
                "data-quality/",
                self.admin_site.admin_view(self.data_quality_view),
                name="customers_customer_data_quality",
            ),
        ]
        return own + super().get_urls()

    # -- merge: pick two, preview side by side, confirm ------------------------------------
    @admin.action(description="Merge the two selected customers…", permissions=["change"])
    def merge_selected(self, request, queryset):
        ids = sorted(queryset.values_list("pk", flat=True))
        if len(ids) != 2:
            self.message_user(request, "Select exactly two customers to merge.", messages.WARNING)
            return None
        return HttpResponseRedirect(f"{reverse('admin:customers_customer_merge')}?ids={ids[0]},{ids[1]}")

    def merge_view(self, request):
        if not self.has_change_permission(request):
            raise PermissionDenied
        raw = request.POST.get("ids") or request.GET.get("ids", "")
        try:
            ids = [int(part) for part in raw.split(",") if part]
        except ValueError:
            ids = []
        customers = list(Customer.objects.filter(pk__in=ids).prefetch_related("identities", "business_units"))
        if len(customers) != 2:
            self.message_user(request, "Pick two existing customers to merge.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
        customers.sort(key=lambda c: (c.created_at, c.pk))
        survivor_id = int(request.POST.get("survivor") or customers[0].pk)
        if request.method == "POST" and request.POST.get("confirm"):
            survivor = next((c for c in customers if c.pk == survivor_id), customers[0])
            merged = customers[1] if survivor is customers[0] else customers[0]
            try:
                event = merge_customers(
                    survivor=survivor,
                    merged=merged,
                    actor=request.user,
                    rule="manual",
                    reason=request.POST.get("reason", "")[:2000],
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"Customer {merged.pk} merged into {survivor.pk} (merge #{event.pk}).",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:customers_customer_change", args=[survivor.pk]))
        rows = [
            (name.replace("_", " "), getattr(customers[0], name), getattr(customers[1], name))
            for name in (*SURVIVORSHIP_FIELDS, "source", *TIMESTAMP_FIELDS)
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Merge two customers",
            "opts": self.model._meta,
            "customers": customers,
            "rows": rows,
            "ids": f"{customers[0].pk},{customers[1].pk}",
            "survivor_id": survivor_id,
        }
        return render(request, "admin/customers/customer/merge.html", context)

    # -- delete and erase ---------------------------------------------------------------------
    def get_deleted_objects(self, objs, request):
        """Deleting a person takes their consent ledger and merge history with them (see delete_model)."""
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(Consent._meta.verbose_name)
        perms_needed.discard(MergeEvent._meta.verbose_name)
        if protected:  # merged profiles and merge events of the same person: deleted with them
            model_count[MergeEvent._meta.verbose_name_plural] = len(protected)
            protected = []
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        delete_person(customer=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for customer in queryset.filter(merged_into__isnull=True):
            delete_person(customer=customer, actor=request.user)

    @admin.action(description="Erase the selected customers' personal data…", permissions=["erase"])
    def erase_selected(self, request, queryset):
        ids = sorted(queryset.values_list("pk", flat=True))
        return HttpResponseRedirect(
            f"{reverse('admin:customers_customer_erase')}?ids={','.join(map(str, ids))}"
        )

    def has_erase_permission(self, request) -> bool:
        return has_role(request.user, ADMIN)

    def erase_view(self, request):
        if not self.has_erase_permission(request):
            raise PermissionDenied
        raw = request.POST.get("ids") or request.GET.get("ids", "")
        ids = [int(part) for part in raw.split(",") if part.isdigit()][:100]
        customers = list(Customer.objects.filter(pk__in=ids, erased_at__isnull=True).order_by("pk"))
        if not customers:
            self.message_user(request, "Pick customers that are not erased yet.", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
        error = ""
        if request.method == "POST" and request.POST.get("confirm"):
            reason = request.POST.get("reason", "").strip()
            try:
                with transaction.atomic():  # all of them or none
                    requests = [
                        request_erasure(customer=customer, reason=reason, actor=request.user)
                        for customer in customers
                    ]
            except DomainError as exc:
                error = exc.message
            else:
                numbers = ", ".join(f"#{r.pk}" for r in requests)
                self.message_user(request, f"Erasure requested ({numbers}).", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:customers_customer_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Erase personal data",
            "opts": self.model._meta,
            "customers": customers,
            "ids": ",".join(str(c.pk) for c in customers),
            "error": error,
        }
        return render(request, "admin/customers/customer/erase.html", context)

    # -- import / export / data quality ----------------------------------------------------
    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        result = None
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_ADMIN_IMPORT_BYTES:
                form.add_error("file", "Files over 20 MB: use `manage.py import_customers` instead.")
            else:
                unit = form.cleaned_data["business_unit"]
                try:
                    text = io.TextIOWrapper(upload.file, encoding="utf-8-sig", newline="")
                    result = import_customers(
                        text,
                        source=form.cleaned_data["source"],
                        business_unit=unit.code if unit else "",
                        file_name=upload.name,
                        actor=request.user,
                    )
                except (ImportFileError, UnicodeDecodeError) as exc:
                    form.add_error("file", str(exc))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import customers from CSV",
            "opts": self.model._meta,
            "form": form,
            "result": result,
        }
        return render(request, "admin/customers/customer/import.html", context)

    @admin.action(description="Export the selected customers as CSV", permissions=["view"])
    def export_selected(self, request, queryset):
        return self._csv_response(queryset.filter(merged_into__isnull=True))

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return self._csv_response(Customer.objects.filter(merged_into__isnull=True))

    @staticmethod
    def _csv_response(queryset):
        rows = audited_stream(customer_csv_rows(queryset), action="customers.export_csv")
        response = StreamingHttpResponse(rows, content_type="text/csv")
        response["Content-Disposition"] = 'attachment; filename="customers.csv"'
        return response

    def data_quality_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        findings = data_quality_report()
        for finding in findings:
            # The merge preview takes two: the first of a group with each of the others.
            finding.rows = [
                {"fields": item, "merge_pairs": [(ids[0], other) for other in ids[1:]]}
                for item in finding.sample
                for ids in [item.get("customer_ids") or []]
            ]
        context = {
            **self.admin_site.each_context(request),
            "title": "Customer data quality",
            "opts": self.model._meta,
            "findings": findings,
            "can_merge": self.has_change_permission(request),
        }
        return render(request, "admin/customers/customer/data_quality.html", context)


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


@admin.register(MergeEvent)
class MergeEventAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "survivor_link",
        "merged_link",
        "rule",
        "actor",
        "undone_at",
        "unmerge",
    )
    list_filter = ("rule", ("undone_at", admin.EmptyFieldListFilter))
    search_fields = ("=survivor__id", "=merged__id", "reason")
    readonly_fields = [f.name for f in MergeEvent._meta.fields]
    show_full_result_count = False
    list_select_related = ("actor",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Survivor")
    def survivor_link(self, obj):
        url = reverse("admin:customers_customer_change", args=[obj.survivor_id])
        return format_html('<a href="{}">#{}</a>', url, obj.survivor_id)

    @admin.display(description="Merged")
    def merged_link(self, obj):
        url = reverse("admin:customers_customer_change", args=[obj.merged_id])
        return format_html('<a href="{}">#{}</a>', url, obj.merged_id)

    @admin.display(description="")
    def unmerge(self, obj):
        if obj.undone_at:
            return "undone"
        url = reverse("admin:customers_mergeevent_unmerge", args=[obj.pk])
        return format_html('<a class="button" href="{}">Unmerge</a>', url)

    def get_urls(self):
        own = [
            path(
                "<int:pk>/unmerge/",
                self.admin_site.admin_view(self.unmerge_view),
                name="customers_mergeevent_unmerge",
            )
        ]
        return own + super().get_urls()

    def unmerge_view(self, request, pk: int):
        if not request.user.has_perm("customers.change_customer"):
            raise PermissionDenied
        event = get_object_or_404(MergeEvent.objects.select_related("survivor", "merged"), pk=pk)
        if request.method == "POST":
            try:
                restored = unmerge_customers(merge_event=event, actor=request.user)
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:customers_mergeevent_changelist"))
            self.message_user(request, f"Customer {restored.pk} restored.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:customers_customer_change", args=[restored.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"Unmerge customer {event.merged_id} from {event.survivor_id}",
            "opts": self.model._meta,
            "event": event,
            "moved": {key: len(pks) for key, pks in event.moved.items()},
            "removed": {key: len(rows) for key, rows in event.removed.items()},
        }
        return render(request, "admin/customers/mergeevent/unmerge.html", context)


@admin.register(MergeSettings)
class MergeSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "auto_merge_enabled",
        "survivor_strategy",
        "default_field_policy",
        "updated_at",
    )

    def has_add_permission(self, request) -> bool:
        return not MergeSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(IdentityRule)
class IdentityRuleAdmin(admin.ModelAdmin):
    list_display = (
        "kind",
        "namespace",
        "auto_merge",
        "priority",
        "max_per_customer",
        "keep",
        "max_merges_per_value",
        "updated_at",
    )
    list_editable = ("auto_merge", "priority", "max_per_customer", "max_merges_per_value")
    list_display_links = ("kind",)


@admin.register(BlockedIdentityValue)
class BlockedIdentityValueAdmin(admin.ModelAdmin):
    list_display = ("kind", "value", "is_pattern", "note", "created_at")
    list_filter = ("kind", "is_pattern")
    search_fields = ("value", "note")


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = (
        "file_name",
        "source",
        "started_at",
        "rows",
        "created",
        "matched",
        "merged",
        "rejected_rows",
        "rejected_values",
    )
    readonly_fields = [f.name for f in ImportRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ErasureRequest)
class ErasureRequestAdmin(admin.ModelAdmin):
    """Erasure requests and their completion (read-only: requests are made with the customer action)."""

    list_display = ("id", "customer_id", "status", "requested_by", "requested_at", "completed_at")
    list_filter = ("status",)
    search_fields = ("=customer_id", "requested_by")
    readonly_fields = [f.name for f in ErasureRequest._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
