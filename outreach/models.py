"""Outbound messages, their delivery events, suppressed addresses, caps, providers and campaigns."""

from django.conf import settings
from django.db import models
from django.db.models import Q


class MessageStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked"


class BlockReason(models.TextChoices):
    CONSENT = "consent", "No consent"
    QUIET_HOURS = "quiet_hours", "Quiet hours"
    FREQUENCY_CAP = "frequency_cap", "Frequency cap"
    UNREACHABLE = "unreachable", "Unreachable"


class MessageOrigin(models.TextChoices):
    API = "api", "API"
    CAMPAIGN = "campaign", "Campaign"
    JOURNEY = "journey", "Journey action"
    SURVEY = "survey", "Survey invitation"
    FOLLOW_UP = "follow_up", "Follow-up case"
    OTHER = "other", "Other"


# Statuses that count against a frequency cap: everything the customer received or will receive.
CAPPED_STATUSES = (
    MessageStatus.QUEUED,
    MessageStatus.SENDING,
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
)
FINAL_STATUSES = (
    MessageStatus.DELIVERED,
    MessageStatus.BOUNCED,
    MessageStatus.COMPLAINED,
    MessageStatus.FAILED,
    MessageStatus.BLOCKED,
)


class Message(models.Model):
    """One outbound message and the gateway's decision about it (queued or blocked, and why)."""

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="messages")
    channel = models.CharField(max_length=50)
    purpose = models.CharField(max_length=30)
    origin = models.CharField(max_length=20, choices=MessageOrigin.choices, default=MessageOrigin.API)
    campaign = models.ForeignKey(
        "outreach.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    to_address = models.CharField(max_length=254, blank=True)
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    reason = models.CharField(max_length=20, choices=BlockReason.choices, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    provider = models.CharField(max_length=50, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    interaction = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    context = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Retries wait until then.")
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="message_customer_idx"),
            models.Index(fields=["customer", "channel", "purpose", "created_at"], name="message_cap_idx"),
            models.Index(fields=["provider", "provider_message_id"], name="message_provider_id_idx"),
            models.Index(fields=["campaign", "status"], name="message_campaign_idx"),
            models.Index(
                fields=["id"], condition=Q(status__in=["queued", "sending"]), name="message_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.pk} to customer {self.customer_id} on {self.channel} ({self.status})"

    @property
    def is_marketing(self) -> bool:
        return self.purpose == "marketing"


class MessageEvent(models.Model):
    """A step in a message's life: decided, sent, delivered, bounced… (append-only)."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=MessageStatus.choices)
    at = models.DateTimeField()
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["message", "at"], name="message_event_idx")]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Complaint"
    MANUAL = "manual", "Added by an operator"


class Suppression(models.Model):
    """An address that must not be sent to again on a channel (hard bounce, spam complaint)."""

    channel = models.CharField(max_length=50)
    address = models.CharField(max_length=254)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "address"], name="suppression_channel_address_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.address} ({self.reason})"


class FrequencyCap(models.Model):
    """At most ``max_messages`` marketing messages per customer on ``channel`` in ``window_days``."""

    channel = models.CharField(max_length=50, unique=True)
    max_messages = models.PositiveIntegerField()
    window_days = models.PositiveIntegerField(default=7)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(window_days__gte=1), name="frequency_cap_window")]

    def __str__(self) -> str:
        return f"{self.channel}: {self.max_messages} per {self.window_days} days"


class ProviderKind(models.TextChoices):
    EMAIL = "email", "Email (Django email backend from EMAIL_URL)"
    HTTP = "http", "HTTP provider (signed JSON POST)"


class DeliveryProvider(models.Model):
    """Where messages on some channels are handed over; built-ins come from settings."""

    code = models.SlugField(max_length=50, unique=True)
    kind = models.CharField(max_length=10, choices=ProviderKind.choices)
    channels = models.CharField(max_length=200, help_text="Comma-separated channel codes, e.g. sms,whatsapp")
    url = models.URLField(blank=True, help_text="HTTP providers: where messages are POSTed.")
    secret = models.CharField(
        max_length=200, blank=True, help_text="Signs requests and verifies status callbacks (HMAC-SHA256)."
    )
    rate_per_minute = models.PositiveIntegerField(default=600)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def channel_codes(self) -> list[str]:
        return [c.strip() for c in self.channels.split(",") if c.strip()]


class CampaignSchedule(models.TextChoices):
    NOW = "now", "Now"
    AT = "at", "At a time"
    ON_ENTRY = "on_entry", "When a customer enters the segment"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    ACTIVE = "active", "Active (on segment entry)"
    STOPPED = "stopped", "Stopped"


class Campaign(models.Model):
    """A treatment for a segment, with a random holdout group to measure its lift."""

    name = models.CharField(max_length=200)
    segment = models.ForeignKey("segments.Segment", on_delete=models.PROTECT, related_name="campaigns")
    channel = models.CharField(
        max_length=50, help_text='A channel code, or "next_best" to choose one per customer when sending.'
    )
    purpose = models.CharField(max_length=30, default="marketing")
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(help_text="Placeholders: {first_name}, {last_name}, {preferences_url}.")
    body_html = models.TextField(blank=True)
    schedule = models.CharField(max_length=10, choices=CampaignSchedule.choices, default=CampaignSchedule.NOW)
    send_at = models.DateTimeField(null=True, blank=True)
    holdout_percent = models.DecimalField(max_digits=5, decimal_places=2, default=10)
    conversion_events = models.JSONField(
        default=dict, blank=True, help_text='Events filter as in segment rules, e.g. {"type": "order"}.'
    )
    conversion_within_days = models.PositiveIntegerField(default=14)
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    entries_since = models.DateTimeField(
        null=True, blank=True, help_text="On-entry campaigns: segment entries after this time are treated."
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0) & Q(holdout_percent__lte=90),
                name="campaign_holdout_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RecipientGroup(models.TextChoices):
    TREATED = "treated", "Treated"
    HOLDOUT = "holdout", "Holdout"
    BLOCKED = "blocked", "Blocked"


class CampaignRecipient(models.Model):
    """One audience member's draw: treated (a message), holdout (nothing) or blocked (and why)."""

    id = models.BigAutoField(primary_key=True)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    group = models.CharField(max_length=10, choices=RecipientGroup.choices)
    reason = models.CharField(max_length=20, choices=BlockReason.choices, blank=True)
    channel = models.CharField(
        max_length=50,
        blank=True,
        help_text="Next-best campaigns: the channel chosen for this customer (the holdout's would-be one).",
    )
    segment = models.ForeignKey(
        "segments.Segment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField()
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_recipient_uniq"),
        ]
        indexes = [models.Index(fields=["campaign", "group"], name="recipient_group_idx")]

    def __str__(self) -> str:
        return f"customer {self.customer_id} in campaign {self.campaign_id}: {self.group}"
