"""Admin: every gateway decision (sent, blocked and why); suppressions, caps, providers; campaigns."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from cxhub.errors import DomainError

from . import selectors
from .models import BlockReason, Campaign, DeliveryProvider, FrequencyCap, Message, MessageEvent, Suppression
from .next_best import NEXT_BEST
from .services import campaigns


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


def _campaign_channels() -> list[tuple[str, str]]:
    from interactions.models import Channel

    active = [(c.code, c.name) for c in Channel.objects.filter(active=True).order_by("code")]
    return [(NEXT_BEST, "Next best channel (chosen per customer when sending)"), *active]


class CampaignForm(forms.ModelForm):
    channel = forms.ChoiceField(
        choices=_campaign_channels,
        help_text="A fixed channel, or the next best one for each customer: consent, reachability, quiet "
        "hours, their behaviour, past campaign results and cost decide; the choice is kept on each message.",
    )
    conversion_events = forms.JSONField(
        required=False,
        initial=dict,
        help_text='What counts as a conversion: an events filter as in segment rules, e.g. {"type": "order"}',
    )

    class Meta:
        model = Campaign
        fields = (
            "name",
            "segment",
            "channel",
            "purpose",
            "subject",
            "body_text",
            "body_html",
            "schedule",
            "send_at",
            "holdout_percent",
            "conversion_events",
            "conversion_within_days",
        )

    def clean_conversion_events(self):
        return self.cleaned_data.get("conversion_events") or {}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        candidate = Campaign(**{name: cleaned.get(name) for name in self.Meta.fields})
        candidate.pk = self.instance.pk
        try:
            campaigns.validate_campaign(candidate)
        except DomainError as exc:
            field = (exc.field or "").replace("conversion.events", "conversion_events").split(".")[0]
            field = {"body": "body_text", "conversion": "conversion_events"}.get(field, field)
            self.add_error(field if field in self.fields else None, exc.message)
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = (
        "name",
        "segment",
        "channel",
        "purpose",
        "schedule",
        "holdout_percent",
        "status",
        "sent_at",
    )
    list_filter = ("status", "channel", "purpose", "schedule")
    search_fields = ("name",)
    list_select_related = ("segment",)
    readonly_fields = ("status", "created_by", "created_at", "sent_at", "entries_since")
    actions = ["send_selected"]
    change_form_template = "admin/outreach/campaign/change_form.html"

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            if obj.schedule == "at":
                obj.status = "scheduled"
        super().save_model(request, obj, form, change)

    @admin.action(description="Send the selected campaigns", permissions=["change"])
    def send_selected(self, request, queryset):
        for campaign in queryset:
            self._send(request, campaign)

    def _send(self, request, campaign) -> None:
        try:
            counts = campaigns.send_campaign(campaign=campaign, user=request.user)
        except DomainError as exc:
            self.message_user(request, f"{campaign.name}: {exc.message}", messages.ERROR)
            return
        campaign.refresh_from_db()
        if campaign.status == "active":
            self.message_user(
                request, f"{campaign.name}: active — new segment members are treated.", messages.SUCCESS
            )
        else:
            self.message_user(
                request,
                f"{campaign.name}: {counts['decided']} decided, {counts['messages']} messages queued.",
                messages.SUCCESS,
            )

    def get_urls(self):
        extra = [
            path("<int:pk>/send/", self.admin_site.admin_view(self.send_view), name="outreach_campaign_send"),
            path(
                "<int:pk>/results/",
                self.admin_site.admin_view(self.results_view),
                name="outreach_campaign_results",
            ),
        ]
        return extra + super().get_urls()

    def send_view(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        if request.method == "POST" and self.has_change_permission(request, campaign):
            self._send(request, campaign)
        return HttpResponseRedirect(reverse("admin:outreach_campaign_results", args=[campaign.pk]))

    def results_view(self, request, pk):
        campaign = get_object_or_404(Campaign.objects.select_related("segment"), pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        campaigns.refresh_conversions(campaign=campaign)
        results = selectors.campaign_results(campaign=campaign)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": campaign,
            "title": f"Results: {campaign.name}",
            "results": results,
            "blocked_rows": [(BlockReason(k).label, v) for k, v in results["blocked"].items()],
            "has_change_permission": self.has_change_permission(request, campaign),
        }
        return TemplateResponse(request, "admin/outreach/campaign/results.html", context)
