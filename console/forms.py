"""Forms of the agent pages: customer search, timeline filters, logging an interaction."""

import json
import uuid
from datetime import datetime, time, timedelta

from django import forms
from django.core.validators import RegexValidator
from django.utils import timezone

from .selectors import TimelineFilters

DIRECTIONS = (("", "Any direction"), ("inbound", "Inbound"), ("outbound", "Outbound"))

# What an agent logs from the 360 page: the usual interaction type per channel, and the types an
# agent picks from (the journeys' own stage types are added at run time, so a logged event can
# advance a journey). "Other" takes any type code.
USUAL_TYPE = {
    "phone": "call",
    "email": "email",
    "chat": "chat",
    "sms": "message",
    "whatsapp": "message",
    "social": "message",
    "store": "store_visit",
    "letter": "letter",
    "video": "video_call",
    "web": "note",
    "mobile_app": "note",
    "self_service": "note",
}
AGENT_TYPES = (
    (
        "Conversation",
        ("call", "callback", "email", "chat", "message", "video_call", "store_visit", "letter", "note"),
    ),
    ("Service", ("query", "complaint", "problem_reported", "ticket_update")),
    ("Sales", ("quote_sent", "order_placed", "return_requested", "cancellation_requested")),
)
# The earlier form's kinds, still accepted: kind → (channel, type).
LEGACY_KINDS = {
    "call_note": ("phone", "call"),
    "email": ("email", "email"),
    "visit": ("store", "store_visit"),
}
OTHER_TYPE = "other"
TYPE_CODE = RegexValidator(
    r"^[a-z][a-z0-9_]{0,63}$", "Use lower-case letters, digits and _ (e.g. warranty_claim)."
)
AGENT_SOURCE = "cxhub_agent"


def type_label(code: str) -> str:
    return code.replace("_", " ").capitalize()


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
    channel = forms.ChoiceField(label="Channel")
    type = forms.ChoiceField(label="Type", required=False)
    other_type = forms.CharField(
        label="Other type",
        required=False,
        max_length=64,
        validators=[TYPE_CODE],
        widget=forms.TextInput(attrs={"placeholder": "e.g. warranty_claim"}),
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
    reference = forms.CharField(
        label="Reference",
        required=False,
        max_length=100,
        help_text="Order, complaint, problem or query number: links the event to its journey.",
    )
    outcome = forms.CharField(
        label="Outcome",
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": "resolved, callback, escalated…", "list": "outcomes"}),
    )
    summary = forms.CharField(
        label="Notes", required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    # Generated with the form: a double submit of the same form is recognised as a duplicate.
    token = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)

    def __init__(
        self, data=None, *args, channels=(), journey_types: dict[str, list[str]] | None = None, **kwargs
    ):
        """``channels``: the active channels; ``journey_types``: interaction type → the property keys
        its journeys correlate on (``order_id``…), from the journey definitions."""
        if data is not None and "channel" not in data and data.get("kind") in LEGACY_KINDS:
            data = data.copy()  # the earlier form's "kind" (call note, email, visit) still works
            data["channel"], data["type"] = LEGACY_KINDS[data["kind"]]
        super().__init__(data, *args, **kwargs)
        self.journey_types = journey_types or {}
        codes = [c.code for c in channels]
        self.fields["channel"].choices = [(c.code, c.name) for c in channels]
        if "phone" in codes:
            self.fields["channel"].initial = "phone"
        listed = {code for _, group in AGENT_TYPES for code in group}
        journey_only = sorted(set(self.journey_types) - listed)
        groups = [(title, [(code, type_label(code)) for code in group]) for title, group in AGENT_TYPES]
        if journey_only:
            groups.append(("Journey steps", [(code, type_label(code)) for code in journey_only]))
        self.fields["type"].choices = [
            ("", "Usual type"),
            *groups,
            (OTHER_TYPE, "Other…"),
        ]
        self.usual_types = {code: USUAL_TYPE.get(code, "note") for code in codes}
        # Everything an unbound form's fields render from (the token is rendered on its own).
        self.choices_key = (tuple(self.fields["channel"].choices), tuple(journey_only))

    @property
    def usual_types_json(self) -> str:
        """Channel code → label of its usual type, for the page's hint next to the type picker."""
        return json.dumps({code: type_label(t) for code, t in self.usual_types.items()})

    def clean(self):
        cleaned = super().clean()
        chosen = cleaned.get("type")
        if chosen == OTHER_TYPE and not cleaned.get("other_type") and "other_type" not in self.errors:
            self.add_error("other_type", "Name the type, or pick one from the list.")
        return cleaned

    def clean_occurred_at(self):
        value = self.cleaned_data.get("occurred_at")
        if value and value > timezone.now() + timedelta(minutes=5):
            raise forms.ValidationError("This is in the future.")
        return value

    def interaction_type(self) -> str:
        data = self.cleaned_data
        if data.get("type") == OTHER_TYPE:
            return data["other_type"]
        return data.get("type") or self.usual_types.get(data["channel"], "note")

    def label(self) -> str:
        """What was logged, for the confirmation ("Call on Phone logged.")."""
        channel = dict(self.fields["channel"].choices).get(self.cleaned_data["channel"], "")
        return f"{type_label(self.interaction_type())} on {channel}"

    def to_item(self, *, customer_id: int) -> dict:
        """The ingest item (API.md "Interactions" shape) for this form."""
        data = self.cleaned_data
        interaction_type = self.interaction_type()
        occurred_at = data.get("occurred_at") or timezone.now()
        item = {
            "source": AGENT_SOURCE,
            "external_id": str(data["token"]),
            "channel": data["channel"],
            "direction": data["direction"],
            "type": interaction_type,
            "occurred_at": occurred_at.isoformat(),
            "customer_id": customer_id,
        }
        for optional in ("subject", "outcome", "summary"):
            if data.get(optional):
                item[optional] = data[optional]
        if data.get("reference"):
            keys = self.journey_types.get(interaction_type) or ["reference"]
            item["properties"] = dict.fromkeys(keys, data["reference"])
        return item
