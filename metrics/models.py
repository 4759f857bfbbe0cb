"""Surveys, responses, invitations, rollups, themes and closed-loop follow-up cases."""

from django.conf import settings
from django.db import models

from . import scores


class SurveyKind(models.TextChoices):
    NPS = "nps", "Net Promoter Score (0–10)"
    CES = "ces", "Customer Effort Score (1–7)"
    CSAT = "csat", "Customer Satisfaction (1–5)"
    CUSTOM = "custom", "Custom scale"


class Survey(models.Model):
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=SurveyKind.choices)
    question = models.CharField(max_length=500)
    scale_min = models.SmallIntegerField(help_text="Set from the kind for NPS, CES and CSAT.")
    scale_max = models.SmallIntegerField()
    channel = models.ForeignKey(
        "interactions.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    touchpoint = models.CharField(max_length=100, blank=True)
    business_unit = models.ForeignKey(
        "customers.BusinessUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    journey_stage = models.CharField(max_length=100, blank=True)
    active_from = models.DateTimeField(null=True, blank=True)
    active_until = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Invitations and triggers.
    invitation_ttl_days = models.PositiveSmallIntegerField(default=14)
    trigger_interaction_type = models.CharField(
        max_length=64, blank=True, help_text="Invite when an interaction of this type is logged."
    )
    trigger_outcome = models.CharField(max_length=50, blank=True, help_text="…and with this outcome.")
    frequency_cap_days = models.PositiveSmallIntegerField(
        default=30, help_text="At most one invitation per customer per N days, across surveys."
    )
    reminder_after_days = models.PositiveSmallIntegerField(null=True, blank=True)
    # Closed loop.
    follow_up = models.BooleanField(
        default=True, help_text="Open a follow-up case for NPS 0–6, CES 5–7 or CSAT 1–2."
    )
    follow_up_sla_hours = models.PositiveSmallIntegerField(default=48)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scale_min__lt=models.F("scale_max")), name="survey_scale"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        scale = scores.SCALES.get(self.kind)
        if scale is not None:
            self.scale_min, self.scale_max = scale.start, scale.stop - 1
        super().save(*args, **kwargs)

    def needs_follow_up(self, score: int) -> bool:
        if not self.follow_up:
            return False
        if self.kind == SurveyKind.NPS:
            return score <= scores.DETRACTOR_MAX
        if self.kind == SurveyKind.CES:
            return score >= 5
        if self.kind == SurveyKind.CSAT:
            return score <= 2
        return False


class InvitationStatus(models.TextChoices):
    SENT = "sent", "Sent"
    CAPPED = "capped", "Not sent: frequency cap"
    BLOCKED = "blocked_consent", "Not sent: no consent"
    NO_CHANNEL = "no_channel", "Not sent: no reachable channel"
    RESPONDED = "responded", "Responded"


class SurveyInvitation(models.Model):
    """One decision to invite a customer: sent (with a hosted link) or not, and why."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="invitations")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=InvitationStatus.choices)
    reason = models.CharField(max_length=255, blank=True)
    channel = models.CharField(max_length=50, blank=True)
    trigger = models.CharField(max_length=30, default="manual")  # manual | segment | interaction
    trigger_interaction = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outbound_interaction = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "status", "-created_at"], name="invitation_cap_idx"),
            models.Index(fields=["status", "created_at"], name="invitation_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "trigger_interaction"],
                condition=models.Q(trigger_interaction__isnull=False),
                name="invitation_once_per_trigger",
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey} → customer {self.customer_id}: {self.status}"


class Theme(models.Model):
    """A theme of the verbatim taxonomy, matched by keywords (editable in the admin)."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    keywords = models.TextField(help_text="Comma-separated words or phrases; matched case-insensitively.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def keyword_list(self) -> list[str]:
        return [k.strip().lower() for k in self.keywords.split(",") if k.strip()]


class SentimentLabel(models.TextChoices):
    POSITIVE = "positive", "Positive"
    NEUTRAL = "neutral", "Neutral"
    NEGATIVE = "negative", "Negative"


class SurveyResponse(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    # Denormalised from the survey so metrics filter without a join.
    kind = models.CharField(max_length=10, choices=SurveyKind.choices)
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="survey_responses"
    )
    score = models.SmallIntegerField()
    comment = models.TextField(blank=True, max_length=4000)
    responded_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    external_id = models.CharField(max_length=200, null=True, blank=True)
    source = models.CharField(max_length=20, default="api")  # api | hosted | import | demo
    channel = models.ForeignKey(
        "interactions.Channel", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    touchpoint = models.CharField(max_length=100, blank=True)
    business_unit = models.ForeignKey(
        "customers.BusinessUnit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    prompted_by = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    timeline_interaction = models.OneToOneField(
        "interactions.Interaction",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="survey_response",
    )
    invitation = models.OneToOneField(
        SurveyInvitation, null=True, blank=True, on_delete=models.SET_NULL, related_name="response"
    )
    sentiment = models.FloatField(null=True, blank=True, help_text="Compound score −1…1.")
    sentiment_label = models.CharField(max_length=10, choices=SentimentLabel.choices, blank=True)
    themes = models.ManyToManyField(Theme, blank=True, related_name="responses")

    class Meta:
        ordering = ["-responded_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="response_survey_external_id_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["kind", "responded_at"], name="response_kind_time_idx"),
            models.Index(fields=["survey", "responded_at"], name="response_survey_time_idx"),
            models.Index(fields=["customer", "kind", "-responded_at"], name="response_customer_idx"),
            # Covers metrics by segment (responses joined to memberships on customer).
            models.Index(
                fields=["kind", "customer", "score", "responded_at", "survey"],
                name="response_kind_customer_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.survey}: {self.score} from customer {self.customer_id}"

    @property
    def category(self) -> str:
        if self.kind == SurveyKind.NPS:
            return scores.nps_category(self.score)
        return ""


class ResponseRollup(models.Model):
    """Response counts per (survey, day, channel, touchpoint, business unit, score).

    Every grouping the metrics API offers except segments sums these cells; kept current
    from dirty customers and rebuilt nightly.
    """

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10)
    day = models.DateField()
    channel = models.ForeignKey("interactions.Channel", null=True, on_delete=models.CASCADE, related_name="+")
    touchpoint = models.CharField(max_length=100, blank=True)
    business_unit = models.ForeignKey(
        "customers.BusinessUnit", null=True, on_delete=models.CASCADE, related_name="+"
    )
    score = models.SmallIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["kind", "day"], name="rollup_kind_day_idx"),
            models.Index(fields=["survey", "day"], name="rollup_survey_day_idx"),
        ]

    def __str__(self) -> str:
        return f"survey {self.survey_id} {self.day}: {self.count} × {self.score}"


class SegmentRollup(models.Model):
    """Response counts per (segment, survey, day, score) by current segment membership."""

    segment_id = models.BigIntegerField(db_index=True)
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10)
    day = models.DateField()
    score = models.SmallIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["kind", "segment_id", "day"], name="segrollup_kind_seg_day_idx"),
            # the cell a refresh recounts: (segment, survey, day)
            models.Index(fields=["segment_id", "survey", "day"], name="segrollup_cell_idx"),
        ]

    def __str__(self) -> str:
        return f"segment {self.segment_id} survey {self.survey_id} {self.day}: {self.count} × {self.score}"


class RollupRebuild(models.Model):
    """A rebuild of the rollups: in full (the nightly task; ``segment_id`` empty), or of one
    segment's rollups after its membership moved. Every response received and every movement
    recorded before ``started_at`` is counted in it, so the incremental refreshes count only
    what came since (``metrics.services.rollups``)."""

    segment_id = models.BigIntegerField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    cells = models.PositiveIntegerField()
    segment_cells = models.PositiveIntegerField()

    class Meta:
        get_latest_by = "started_at"
        indexes = [models.Index(fields=["segment_id", "started_at"], name="rollup_rebuild_segment_idx")]

    def __str__(self) -> str:
        what = "rollups" if self.segment_id is None else f"segment {self.segment_id} rollups"
        return f"{what} rebuilt {self.started_at:%Y-%m-%d %H:%M}: {self.cells} + {self.segment_cells} cells"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class FollowUpCase(models.Model):
    """Closed loop: a poor score opens a case; closing it records what the customer was told."""

    response = models.OneToOneField(SurveyResponse, on_delete=models.CASCADE, related_name="follow_up_case")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="follow_up_cases"
    )
    status = models.CharField(max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opened_at = models.DateTimeField()
    due_at = models.DateTimeField()
    is_overdue = models.BooleanField(default=False)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=255, blank=True)
    message_to_customer = models.TextField(blank=True, max_length=4000)
    message_channel = models.CharField(max_length=50, blank=True)
    message_interaction = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["status", "due_at"], name="case_queue_idx"),
            models.Index(fields=["customer", "status"], name="case_customer_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status="open")
                | (~models.Q(outcome="") & ~models.Q(message_to_customer="")),
                name="case_closed_needs_outcome_and_message",
            )
        ]

    def __str__(self) -> str:
        return f"Follow-up for customer {self.customer_id} ({self.status})"
