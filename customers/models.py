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


# The customer profile's fields, named once: the API serializers, the CSV export, merge
# survivorship, the segment ``attr`` conditions and the data generator build their lists
# from these (``attributes`` holds everything else).
PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "lifecycle_stage")
CONTACT_PREFERENCE_FIELDS = ("preferred_channel", "language")
QUIET_HOURS_FIELDS = ("timezone", "quiet_hours_start", "quiet_hours_end")
TIMESTAMP_FIELDS = ("created_at", "updated_at", "last_seen_at")


class Customer(models.Model):
    """One person: the survivor of every profile resolved into it."""

    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    # Denormalised from the primary email / phone identity for lists and search.
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=32, blank=True)
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
    # Not indexed on purpose: every inbound interaction moves it, and an unindexed column lets
    # PostgreSQL update the row in place (HOT) instead of touching the table's dozen indexes.
    last_seen_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=50, blank=True, help_text="Source system that created the profile.")
    timezone = models.CharField(max_length=64, blank=True, help_text="IANA zone for quiet hours.")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="merged_profiles"
    )
    # Set when the person's data was erased: the row stays as a tombstone (aggregates keep their ids).
    erased_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["last_name", "first_name"], name="customer_name_idx"),
            # Exact lookups only (search uses the trigram indexes): no LIKE-pattern twins.
            models.Index(fields=["email"], name="customer_email_idx"),
            models.Index(fields=["phone"], name="customer_phone_idx"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or self.phone or f"Customer {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_merged(self) -> bool:
        return self.merged_into_id is not None

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None


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

    # Indexed by (customer, kind) below, which also serves lookups by customer alone.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="identities", db_index=False
    )
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    namespace = models.CharField(max_length=50, blank=True, default="")
    value = models.CharField(max_length=254)
    source = models.CharField(max_length=50, blank=True)
    is_flagged = models.BooleanField(
        default=False, help_text="Shared by too many profiles: never used to merge."
    )
    merge_count = models.PositiveIntegerField(default=0, help_text="Profiles this value has merged.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "namespace", "value"], name="identity_kind_namespace_value_uniq"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "kind"], name="identity_customer_kind_idx"),
            models.Index(fields=["value"], name="identity_value_idx"),
        ]

    def __str__(self) -> str:
        ns = f"{self.namespace}:" if self.namespace else ""
        return f"{self.kind} {ns}{self.value}"


class IdentityRejection(models.Model):
    """An identity a resolution could not attach because the profile already held as many
    values of its kind as the rules allow: kept for the data-quality page, never dropped silently."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="identity_rejections")
    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    namespace = models.CharField(max_length=50, blank=True, default="")
    value = models.CharField(max_length=254)
    reason = models.CharField(max_length=20, default="over_limit")
    source = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["-at"], name="identity_rejection_at_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.value} → customer {self.customer_id} ({self.reason})"


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


class DirtyLane(models.IntegerChoices):
    """Which handlers a mark is for: each lane has its own marks, workers, queue and pace."""

    # Segment membership and what acts on an entry the moment it is seen: seconds matter.
    REALTIME = 1, "real-time"
    # Journeys, metrics, scores: minutes do not.
    STANDARD = 2, "standard"


class DirtyCustomer(models.Model):
    """A mark: this customer's derived data (segments, journeys, metrics, scores) must be recomputed.

    Append-only: marking inserts a row per lane and never waits on a worker holding older marks
    of the same customer; a lane's worker processes each customer once per batch and deletes the
    marks it claimed. No database foreign key, so marking takes no lock on the customer row.
    """

    id = models.BigAutoField(primary_key=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, db_constraint=False, related_name="+")
    lane = models.PositiveSmallIntegerField(choices=DirtyLane.choices, default=DirtyLane.STANDARD)
    marked_at = models.DateTimeField()
    reason = models.CharField(max_length=50, blank=True)

    class Meta:
        indexes = [models.Index(fields=["lane", "id"], name="dirty_lane_claim_idx")]

    def __str__(self) -> str:
        return f"customer {self.customer_id} dirty since {self.marked_at:%Y-%m-%d %H:%M:%S}"


class DirtyHandlerFailure(models.Model):
    """A dirty-customer handler failed on this customer: the handler's own pending work.

    The other handlers and the other customers of the batch went on; this row is retried by
    the sweep with growing delays, counts its attempts, and after ``pipeline.MAX_ATTEMPTS`` is
    set aside (shown in the admin with its error) until someone retries it or a later success
    for the customer clears it.
    """

    handler = models.CharField(max_length=50)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, db_constraint=False, related_name="+")
    attempts = models.PositiveIntegerField(default=1)
    error = models.TextField(blank=True)
    first_failed_at = models.DateTimeField()
    last_failed_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    set_aside = models.BooleanField(
        default=False, help_text="Failed too often: no longer retried on its own."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["handler", "customer"], name="dirty_failure_handler_customer_uniq"
            )
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], condition=models.Q(set_aside=False), name="dirty_failure_due_idx"
            ),
            models.Index(fields=["customer"], name="dirty_failure_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.handler} failed on customer {self.customer_id} ({self.attempts}×)"


class SurvivorStrategy(models.TextChoices):
    OLDEST = "oldest", "Oldest profile survives"
    NEWEST = "newest", "Newest profile survives"
    MOST_IDENTITIES = "most_identities", "Profile with most identities survives"


class FieldPolicy(models.TextChoices):
    MOST_RECENT = "most_recent", "Non-empty wins, then the most recently updated profile"
    SOURCE_PRIORITY = "source_priority", "Non-empty wins, then the profile from the higher-priority source"
    SURVIVOR = "survivor", "Non-empty wins, then the survivor"


class MergeSettings(models.Model):
    """Global merge configuration (a single row, pk=1); per-kind rules live in IdentityRule."""

    auto_merge_enabled = models.BooleanField(
        default=True, help_text="Off: resolution never merges; several matches attach to the best one."
    )
    survivor_strategy = models.CharField(
        max_length=20, choices=SurvivorStrategy.choices, default=SurvivorStrategy.OLDEST
    )
    default_field_policy = models.CharField(
        max_length=20, choices=FieldPolicy.choices, default=FieldPolicy.MOST_RECENT
    )
    field_policies = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per-field override, e.g. {"first_name": "source_priority", "language": "survivor"}.',
    )
    source_priority = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated source codes, most trusted first."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "merge settings"
        verbose_name_plural = "merge settings"

    def __str__(self) -> str:
        return "Merge settings"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @property
    def source_ranks(self) -> dict[str, int]:
        codes = [c.strip() for c in self.source_priority.split(",") if c.strip()]
        return {code: rank for rank, code in enumerate(codes)}


class KeepOrder(models.TextChoices):
    OLDEST = "oldest", "Keep the oldest"
    NEWEST = "newest", "Keep the newest"


class IdentityRule(models.Model):
    """How one identity kind takes part in resolution and merging.

    ``namespace`` empty means every namespace of that kind; a rule for a specific
    namespace overrides it. Rules apply to future resolutions and merges only.
    """

    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    namespace = models.CharField(max_length=50, blank=True, default="")
    auto_merge = models.BooleanField(
        default=True, help_text="May two profiles sharing this kind of identity be merged automatically?"
    )
    priority = models.PositiveSmallIntegerField(
        default=100,
        help_text="Lower is more trusted: when profiles cannot be merged, the match by the most trusted "
        "kind wins.",
    )
    max_per_customer = models.PositiveIntegerField(
        default=0,
        help_text="Most values of this kind (per namespace) on one profile; 0 = no limit. A merge that "
        "would exceed it drops the merged profile's extra values (recorded for unmerge).",
    )
    keep = models.CharField(
        max_length=10,
        choices=KeepOrder.choices,
        default=KeepOrder.OLDEST,
        help_text="Which of the merged profile's values are kept when the limit is reached.",
    )
    max_merges_per_value = models.PositiveIntegerField(
        default=0,
        help_text="Most profiles one value may merge; beyond it the identity is flagged, not merged. "
        "0 = no limit.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["priority", "kind", "namespace"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "namespace"], name="identity_rule_kind_namespace_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.kind}{':' + self.namespace if self.namespace else ''}"


class BlockedIdentityValue(models.Model):
    """An identity value that never matches (test addresses, placeholder phone numbers)."""

    kind = models.CharField(max_length=20, choices=IdentityKind.choices, blank=True, help_text="Empty: any")
    value = models.CharField(
        max_length=254, help_text="Normalised value, or a regular expression when 'is pattern' is set."
    )
    is_pattern = models.BooleanField(default=False)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "value", "is_pattern"], name="blocked_identity_value_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind or 'any'} {'~' if self.is_pattern else '='} {self.value}"

    def clean(self):
        import re

        from django.core.exceptions import ValidationError

        if self.is_pattern:
            try:
                re.compile(self.value)
            except re.error as exc:
                raise ValidationError({"value": f"Not a valid regular expression: {exc}"}) from exc


class MergeEvent(models.Model):
    """One merge of ``merged`` into ``survivor`` with everything needed to undo it."""

    survivor = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merge_events")
    merged = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="merged_events")
    rule = models.CharField(max_length=100, blank=True, help_text="'manual' or the rule that merged them.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Survivor fields the merge changed, with their values before it.
    survivor_changes = models.JSONField(default=dict, blank=True)
    # {"app_label.Model.field": [pk, ...]} rows moved from merged to survivor.
    moved = models.JSONField(default=dict, blank=True)
    # {"app_label.Model.field": [{attname: value}, ...]} rows deleted (duplicates, identity limits).
    removed = models.JSONField(default=dict, blank=True)
    business_units_added = models.JSONField(default=list, blank=True)
    # Customers previously merged into ``merged`` and re-pointed at the survivor.
    repointed = models.JSONField(default=list, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merged", "-created_at"], name="merge_event_merged_idx")]

    def __str__(self) -> str:
        return f"{self.merged_id} → {self.survivor_id} ({self.rule or 'manual'})"

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None


class ImportRun(models.Model):
    """One CSV import (command or admin): counts and the rejected rows, for the report and data quality."""

    file_name = models.CharField(max_length=255)
    source = models.CharField(max_length=50)
    business_unit = models.ForeignKey(BusinessUnit, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
    rejected_rows = models.PositiveIntegerField(default=0)
    rejected_values = models.PositiveIntegerField(default=0)
    # The first errors: [{"row", "column", "value", "error"}, ...] (the full list goes to the report file).
    errors = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.source}) {self.started_at:%Y-%m-%d %H:%M}"


class ErasureStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ErasureRequest(models.Model):
    """A request to erase a person (and every profile merged into them), and its completion.

    ``customer_id`` has no foreign key: the record outlives the profile, even if an admin
    later deletes the tombstone.
    """

    customer_id = models.BigIntegerField(db_index=True)
    reason = models.TextField(max_length=2000)
    status = models.CharField(max_length=10, choices=ErasureStatus.choices, default=ErasureStatus.QUEUED)
    requested_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.CharField(max_length=150, help_text="User or API client name.")
    completed_at = models.DateTimeField(null=True, blank=True)
    # Every profile erased: the person's survivor id and the ids merged into it.
    customer_ids = models.JSONField(default=list, blank=True)
    # {"app_label.Model": rows deleted or anonymised, ...}
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Erasure #{self.pk} of customer {self.customer_id} ({self.status})"


class SuppressedIdentity(models.Model):
    """An identity of an erased person, kept only as a keyed hash (HMAC-SHA256 with
    ``ERASURE_HASH_KEY``): proof that it was erased, and a way to recognise it when it comes
    back (a re-import then starts a fresh profile; outbound may refuse it)."""

    kind = models.CharField(max_length=20, choices=IdentityKind.choices)
    namespace = models.CharField(max_length=50, blank=True, default="")
    value_hash = models.CharField(max_length=64)
    erasure = models.ForeignKey(
        ErasureRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    suppressed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "suppressed identities"
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "namespace", "value_hash"], name="suppressed_identity_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value_hash[:12]}…"
