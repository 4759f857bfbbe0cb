"""Forms of the agent pages: customer search, timeline filters, logging an interaction."""

import uuid
from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from .selectors import TimelineFilters

DIRECTIONS = (("", "Any direction"), ("inbound", "Inbound"), ("outbound", "Outbound"))

# What an agent can log from the 360 page: kind -> (channel code, interaction type).
LOGGABLE_KINDS = {
    "call_note": ("phone", "call", "Call note"),
    "email": ("email", "email", "Email"),
    "visit": ("store", "store_visit", "Visit"),
}
AGENT_SOURCE = "cxhub_agent"


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Search customers",
        max_length=200,
        required=False,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, email, phone or external id", "autofocus": True}
        ),
    )


class TimelineFilterForm(forms.Form):
    # Any code is accepted (an unknown one simply matches nothing); the select lists the active ones.
    channel = forms.CharField(label="Channel", required=False, max_length=50, widget=forms.Select)
    type = forms.CharField(label="Type", required=False, max_length=64)
    direction = forms.ChoiceField(label="Direction", required=False, choices=DIRECTIONS)
    since = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, channels=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].widget.choices = [("", "All channels"), *((c.code, c.name) for c in channels)]

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def to_filters(self) -> TimelineFilters:
        """Filters for the selector (dates are whole days in the current time zone; "To" inclusive)."""
        if not self.is_valid():
            return TimelineFilters()
        data = self.cleaned_data
        tz = timezone.get_current_timezone()
        since = datetime.combine(data["since"], time.min, tzinfo=tz) if data.get("since") else None
        until = (
            datetime.combine(data["until"] + timedelta(days=1), time.min, tzinfo=tz)
            if data.get("until")
            else None
        )
        return TimelineFilters(
            channel=data.get("channel") or None,
            type=(data.get("type") or "").strip() or None,
            direction=data.get("direction") or None,
            since=since,
            until=until,
        )


class LogInteractionForm(forms.Form):
    kind = forms.ChoiceField(
        label="What", choices=[(key, label) for key, (_, _, label) in LOGGABLE_KINDS.items()]
    )
    direction = forms.ChoiceField(label="Direction", choices=DIRECTIONS[1:], initial="inbound")
    occurred_at = forms.DateTimeField(
        label="When",
        required=False,
        help_text="Leave empty for now.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )
    subject = forms.CharField(label="Subject", required=False, max_length=255)
    summary = forms.CharField(label="Notes", max_length=4000, widget=forms.Textarea(attrs={"rows": 3}))
    outcome = forms.CharField(
        label="Outcome",
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": "resolved, callback, escalated…", "list": "outcomes"}),
    )
    # Generated with the form: a double submit of the same form is recognised as a duplicate.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if value and value > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError("This is in the future.")
        return value

    def to_item(self, *, customer_id: int) -> dict:
        """The ingest item (API.md "Interactions" shape) for this form."""
        data = self.cleaned_data
        channel, interaction_type, _ = LOGGABLE_KINDS[data["kind"]]
        occurred_at = data.get("occurred_at") or timezone.now()
        item = {
            "source": AGENT_SOURCE,
            "external_id": str(data["token"]),
            "channel": channel,
            "direction": data["direction"],
            "type": interaction_type,
            "occurred_at": occurred_at.isoformat(),
            "customer_id": customer_id,
            "summary": data["summary"],
        }
        for optional in ("subject", "outcome"):
            if data.get(optional):
                item[optional] = data[optional]
        return item
