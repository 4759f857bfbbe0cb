"""The marketers' segment builder: rules editor with a live preview, recompute, runs, freeze, export."""

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from customers.models import BusinessUnit, ConsentPurpose
from cxhub.errors import DomainError
from interactions.models import Channel

from . import services
from .models import Segment, SegmentKind, SegmentRun


class RulesWidget(forms.Textarea):
    """The raw-JSON editor plus the builder controls and the live preview (templates/admin/segments)."""

    def __init__(self, attrs=None):
        super().__init__(
            attrs={"rows": 14, "cols": 90, "class": "segment-rules", "spellcheck": "false", **(attrs or {})}
        )

    def render(self, name, value, attrs=None, renderer=None):
        textarea = super().render(name, value, attrs, renderer)
        input_id = (attrs or {}).get("id") or self.attrs.get("id") or f"id_{name}"
        builder = render_to_string(
            "admin/segments/rules_builder.html",
            {"input_id": input_id, "options": json.dumps(builder_options())},
        )
        # Both parts come from escaping templates; the builder comes first, the JSON editor below it.
        return mark_safe(
            f'<div class="segment-rules-editor">{builder}<div class="sb-json-editor">'
            '<p class="sb-json-title">The rule as JSON (for anything the controls do not cover)</p>'
            f"{textarea}</div></div>"
        )

    def format_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        return json.dumps(value or {}, indent=2)


def builder_options() -> dict:
    """What the builder's pickers offer: segments by name, business units, channels, consent purposes."""
    return {
        "segments": [
            {"slug": slug, "name": name}
            for slug, name in Segment.objects.order_by("name", "slug").values_list("slug", "name")
        ],
        "business_units": [
            {"code": code, "name": name}
            for code, name in BusinessUnit.objects.order_by("name", "code").values_list("code", "name")
        ],
        "channels": [
            {"code": code, "name": name}
            for code, name in Channel.objects.filter(active=True).order_by("name").values_list("code", "name")
        ],
        "purposes": [[value, label] for value, label in ConsentPurpose.choices],
    }


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ("name", "slug", "description", "purpose", "kind", "parent", "refresh", "rules")
        widgets = {"rules": RulesWidget}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        cleaned["rules"] = cleaned.get("rules") or {}
        try:
            services.validate_definition(
                rules=cleaned.get("rules") or {},
                kind=cleaned.get("kind"),
                slug=cleaned.get("slug", ""),
                parent=cleaned.get("parent"),
                segment_id=self.instance.pk,
            )
        except DomainError as exc:
            field = "parent" if exc.field == "parent" else "rules"
            self.add_error(field, exc.message)
        return cleaned


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    change_form_template = "admin/segments/segment/change_form.html"
    list_display = (
        "name",
        "slug",
        "purpose",
        "kind",
        "refresh",
        "parent",
        "member_count",
        "last_computed_at",
    )
    list_filter = ("purpose", "kind", "refresh")
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    raw_id_fields = ()
    readonly_fields = ("owner", "member_count", "last_computed_at", "recent_runs")
    actions = ("recompute_selected",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "purpose", "kind", "parent", "refresh")}),
        ("Rules", {"fields": ("rules",)}),
        ("Status", {"fields": ("owner", "member_count", "last_computed_at", "recent_runs")}),
    )

    def save_model(self, request, obj, form, change):
        if not change and obj.owner_id is None:
            obj.owner = request.user
        services.save_segment(segment=obj)
        rules_changed = not change or {"rules", "parent", "kind"} & set(form.changed_data)
        if rules_changed and obj.is_dynamic and obj.refresh != "manual":
            services.request_recompute(segment=obj, trigger="created" if not change else "updated")

    def delete_model(self, request, obj):
        try:
            services.delete_segment(segment=obj)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    @admin.display(description="Recent runs")
    def recent_runs(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        runs = SegmentRun.objects.filter(segment=obj).order_by("-id")[:10]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>+{} / −{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    r.pk,
                    r.trigger,
                    r.status,
                    timezone.localtime(r.started_at).strftime("%Y-%m-%d %H:%M:%S") if r.started_at else "—",
                    r.added,
                    r.removed,
                    r.member_count if r.member_count is not None else "—",
                    r.error[:200],
                )
                for r in runs
            ),
        )
        return format_html(
            '<table class="segment-runs"><thead><tr><th>Run</th><th>Trigger</th><th>Status</th>'
            "<th>Started</th><th>Moved</th><th>Members</th><th>Error</th></tr></thead><tbody>{}</tbody></table>",
            rows or mark_safe('<tr><td colspan="7">No runs yet.</td></tr>'),
        )

    @admin.action(description="Recompute selected segments", permissions=["change"])
    def recompute_selected(self, request, queryset):
        queued = 0
        for segment in queryset.filter(kind=SegmentKind.DYNAMIC):
            services.request_recompute(segment=segment, trigger="admin")
            queued += 1
        self.message_user(request, f"Queued {queued} recompute(s).", messages.SUCCESS)

    def get_urls(self):
        extra = [
            path(
                "<int:pk>/recompute/",
                self.admin_site.admin_view(self.recompute_view),
                name="segments_segment_recompute",
            ),
            path(
                "<int:pk>/freeze/",
                self.admin_site.admin_view(self.freeze_view),
                name="segments_segment_freeze",
            ),
        ]
        return extra + super().get_urls()

    def _change_url(self, segment):
        return reverse("admin:segments_segment_change", args=[segment.pk])

    def recompute_view(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, segment):
            return HttpResponseRedirect(self._change_url(segment))
        try:
            run = services.request_recompute(segment=segment, trigger="admin")
            self.message_user(request, f"Recompute queued (run {run.pk}).", messages.SUCCESS)
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(self._change_url(segment))

    def freeze_view(self, request, pk):
        segment = get_object_or_404(Segment, pk=pk)
        if request.method != "POST" or not self.has_add_permission(request):
            return HttpResponseRedirect(self._change_url(segment))
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        try:
            frozen = services.freeze_segment(
                segment=segment,
                slug=f"{segment.slug}-{stamp}"[:100],
                name=f"{segment.name} (frozen {stamp})"[:200],
                actor=request.user,
            )
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(self._change_url(segment))
        self.message_user(request, f"Frozen as static segment “{frozen.name}”.", messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(frozen))


@admin.register(SegmentRun)
class SegmentRunAdmin(admin.ModelAdmin):
    list_display = ("id", "segment", "trigger", "status", "started_at", "finished_at", "added", "removed")
    list_filter = ("status", "trigger")
    list_select_related = ("segment",)
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
