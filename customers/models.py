"""Customers, their identities across sources, business units and consents."""

from django.conf import settings
from django.db import models


class BusinessUnit(models.Model):
    """A business unit or source system that keeps its own customer list."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class LifecycleStage(models.TextChoices):
    LEAD = "lead", "Lead"
    PROSPECT = "prospect", "Prospect"
    ACTIVE = "active", "Active customer"
    AT_RISK = "at_risk", "At risk"
    LAPSED = "lapsed", "Lapsed"
    CHURNED = "churned", "Churned"


class Customer(models.Model):
    """One person: the survivor of every profile resolved into it."""

    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    # Denormalised from the primary email / phone identity for lists and search.
    email = models.CharField(max_length=254, blank=True, db_index=True)
    phone = models.CharField(max_length=32, blank=True, db_index=True)
    lifecycle_stage = models.CharField(
        max_length=20, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    business_units = models.ManyToManyField(BusinessUnit, blank=True, related_name="customers")
    attributes = models.JSONField(default=dict, blank=True)
    preferred_channel = models.CharField(max_length=50, blank=True)
    language = models.CharField(max_length=10, blank=True)
    quiet_hours_start = models.TimeField(null=True, blank=True)
    quiet_hours_end = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_profiles"
    )

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="customer_name_idx"),
            models.Index(fields=["-last_seen_at"], name="customer_last_seen_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"Customer {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None


class IdentityKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    EXTERNAL_ID = "external_id", "External id"
    ANONYMOUS_ID = "anonymous_id", "Anonymous id"
    DEVICE_ID = "device_id", "Device id"


class Identity(models.Model):
    """A normalised identifier of a customer; (kind, namespace, value) is unique.

    ``namespace`` is the source system for external ids and empty for global kinds.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identities")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    namespace = models.CharField(max_length=50, blank=True, default="")
    value = models.CharField(max_length=254)
    source = models.CharField(max_length=50, blank=True)
    is_flagged = models.BooleanField(
        default=False, help_text="Shared by too many profiles: never used to merge."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "namespace", "value"], name="identity_kind_namespace_value_uniq"
            ),
        ]
        indexes = [models.Index(fields=["customer", "kind"], name="identity_customer_kind_idx")]

    def __str__(self) -> str:
        ns = f"{self.namespace}:" if self.namespace else ""
        return f"{self.kind} {ns}{self.value}"


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", "Marketing"
    SERVICE = "service", "Service messages"
    SURVEYS = "surveys", "Surveys"
    PROFILING = "profiling", "Profiling"


class Consent(models.Model):
    """Append-only consent ledger row; the current state is the latest row per (channel, purpose)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=50)
    purpose = models.CharField(max_length=30, choices=ConsentPurpose.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=100, blank=True)
    evidence = models.TextField(blank=True, max_length=2000)
    captured_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta:
        indexes = [
            models.Index(fields=["customer", "channel", "purpose", "-captured_at"], name="consent_state_idx")
        ]

    def __str__(self) -> str:
        verb = "granted" if self.granted else "withdrawn"
        return f"{self.channel}/{self.purpose} {verb} {self.captured_at:%Y-%m-%d}"


class DirtyCustomer(models.Model):
    """A customer whose derived data (segments, journeys, metrics, scores) must be recomputed."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="+")
    marked_at = models.DateTimeField()
    reason = models.CharField(max_length=50, blank=True)

    class Meta:
        indexes = [models.Index(fields=["marked_at"], name="dirty_customer_marked_idx")]

    def __str__(self) -> str:
        return f"customer {self.customer_id} dirty since {self.marked_at:%Y-%m-%d %H:%M:%S}"
