"""Channels and interactions: every touch with a customer, inbound and outbound."""

from django.conf import settings
from django.db import models

SUMMARY_MAX_LENGTH = 4000


class Channel(models.Model):
    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    is_digital = models.BooleanField(default=True)
    cost_per_interaction = models.DecimalField(
        max_digits=10, decimal_places=4, default=0, help_text="Cost of one interaction (feeds cost to serve)."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Interaction(models.Model):
    # Foreign keys are indexed by the composite / partial indexes below, not one index each:
    # every index costs on the ingest hot path.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="interactions", db_index=False
    )
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="interactions", db_index=False
    )
    direction = models.CharField(max_length=10, choices=Direction.choices)
    type = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=100, blank=True)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    business_unit = models.ForeignKey(
        "customers.BusinessUnit", null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    touchpoint = models.CharField(max_length=100, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, db_index=False
    )
    subject = models.CharField(max_length=255, blank=True)
    summary = models.TextField(blank=True, max_length=SUMMARY_MAX_LENGTH)
    outcome = models.CharField(max_length=50, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    properties = models.JSONField(default=dict, blank=True)
    # Where the event came from: tracking library, ip, user agent, page (spec ``context``).
    # db_default too: bulk loaders that COPY rows without this column still get {}.
    context = models.JSONField(default=dict, blank=True, db_default=models.Value({}, models.JSONField()))

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="interaction_source_external_id_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-occurred_at", "-id"], name="interaction_timeline_idx"),
            models.Index(fields=["type", "occurred_at"], name="interaction_type_time_idx"),
            models.Index(fields=["channel", "occurred_at"], name="interaction_channel_time_idx"),
            # Partial: most rows have no agent / business unit, and inserts of those skip the index.
            models.Index(
                fields=["agent"], condition=models.Q(agent__isnull=False), name="interaction_agent_idx"
            ),
            models.Index(
                fields=["business_unit", "occurred_at"],
                condition=models.Q(business_unit__isnull=False),
                name="interaction_unit_time_idx",
            ),
            # Plain time windows use a BRIN index on occurred_at on PostgreSQL (migration 0004):
            # tiny and nearly free to maintain, since rows arrive roughly in time order.
        ]

    def __str__(self) -> str:
        return f"{self.type} via {self.channel_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


IDEMPOTENCY_TTL_HOURS = 24


class IdempotencyKey(models.Model):
    """The stored first response to a request sent with an ``Idempotency-Key`` header."""

    # "client:<id>" for API clients, "user:<id>" for logged-in users: keys never cross callers.
    owner = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    status_code = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_uniq")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self) -> str:
        return f"{self.owner} {self.key}"
