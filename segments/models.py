"""Segments, their members, the movements in and out, and the history of recompute runs."""

from django.conf import settings
from django.db import models


class Purpose(models.TextChoices):
    CROSS_SELL = "cross_sell", "Cross-sell"
    UP_SELL = "up_sell", "Up-sell"
    RETENTION = "retention", "Retention"
    LEAVE_ALONE = "leave_alone", "Leave alone"
    ACQUISITION = "acquisition", "Acquisition"
    WIN_BACK = "win_back", "Win-back"
    SERVICE = "service", "Service"
    OTHER = "other", "Other"


class SegmentKind(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic (rules)"
    STATIC = "static", "Static (frozen list)"


class Refresh(models.TextChoices):
    REALTIME = "realtime", "Real-time (incremental)"
    HOURLY = "hourly", "Hourly"
    DAILY = "daily", "Daily"
    MANUAL = "manual", "Manual"


class Segment(models.Model):
    """A list of customers: dynamic (rules, recomputed) or static (a frozen list).

    A segment with a ``parent`` is a micro-segment: its rules are ANDed with membership
    of the parent, so it is always a subset of the parent's members.
    """

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.OTHER)
    kind = models.CharField(max_length=10, choices=SegmentKind.choices, default=SegmentKind.DYNAMIC)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    refresh = models.CharField(max_length=10, choices=Refresh.choices, default=Refresh.DAILY)
    rules = models.JSONField(default=dict, blank=True)
    member_count = models.PositiveIntegerField(default=0)
    last_computed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(parent=models.F("id")), name="segment_not_own_parent"),
        ]
        indexes = [models.Index(fields=["kind", "refresh"], name="segment_kind_refresh_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_dynamic(self) -> bool:
        return self.kind == SegmentKind.DYNAMIC


class SegmentMembership(models.Model):
    # Both foreign keys are served by the two composite indexes below (their leading column):
    # no single-column twins to maintain on every entry and exit.
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships", db_index=False)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="segment_memberships", db_index=False
    )
    since = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "customer"], name="segment_membership_uniq"),
        ]
        indexes = [models.Index(fields=["customer", "segment"], name="membership_customer_idx")]

    def __str__(self) -> str:
        return f"customer {self.customer_id} in {self.segment_id}"


class MovementKind(models.TextChoices):
    ENTERED = "entered", "Entered"
    EXITED = "exited", "Exited"


class SegmentMovement(models.Model):
    """A customer entering or leaving a segment: the raw material of movement KPIs.

    Append-only history, written in the same statement as the membership row it describes
    (whose foreign keys are checked): no database foreign keys of its own, so a segment filling
    with half a million members does not check and key-share-lock every customer row a second
    time. Deleting a customer or a segment still deletes its movements (Django's cascade).
    The foreign keys are served by the composite indexes below.
    """

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="movements", db_index=False, db_constraint=False
    )
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=10, choices=MovementKind.choices)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["segment", "-at"], name="movement_segment_at_idx"),
            models.Index(fields=["customer", "-at"], name="movement_customer_at_idx"),
        ]

    def __str__(self) -> str:
        return f"customer {self.customer_id} {self.kind} {self.segment_id} at {self.at:%Y-%m-%d %H:%M}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SegmentRun(models.Model):
    """One full recompute (or list change) of a segment: when, why, and what moved."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    added = models.PositiveIntegerField(default=0)
    removed = models.PositiveIntegerField(default=0)
    member_count = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["segment", "-id"], name="run_segment_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} of segment {self.segment_id} ({self.status})"
