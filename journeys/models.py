"""Journeys: definitions with ordered stages, instances per customer, exceptions and orchestration."""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class Journey(models.Model):
    """A journey definition, e.g. Order to Cash.

    ``correlation_key`` is a path into an interaction (``properties.order_id``) whose value
    tells concurrent instances of one customer apart; empty means one open instance per customer.
    """

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)
    correlation_key = models.CharField(
        max_length=200, blank=True, help_text="Path into the interaction, e.g. properties.order_id."
    )
    stall_factor = models.PositiveSmallIntegerField(
        default=3, help_text="An instance is stalled after this many times its stage SLA without an event."
    )
    abandon_after = models.DurationField(
        default=timedelta(days=30), help_text="An open instance with no event for this long is abandoned."
    )
    template = models.CharField(max_length=80, blank=True, help_text="Shipped template it was loaded from.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Direction(models.TextChoices):
    ANY = "", "Any"
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class Stage(models.Model):
    """One ordered step of a journey; an interaction matching its entry criteria moves an instance in."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="stages")
    position = models.PositiveSmallIntegerField()
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    interaction_type = models.CharField(max_length=64, help_text="Interaction type that enters this stage.")
    channels = models.JSONField(
        default=list, blank=True, help_text='Channel codes allowed, e.g. ["web", "phone"]; empty: any.'
    )
    direction = models.CharField(max_length=10, choices=Direction.choices, blank=True, default="")
    property_matches = models.JSONField(
        default=dict,
        blank=True,
        help_text='Interaction properties that must match, e.g. {"status": "fixed"}.',
    )
    sla = models.DurationField(null=True, blank=True, help_text="Time allowed in this stage.")
    terminal = models.BooleanField(default=False)

    class Meta:
        ordering = ["journey_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "position"], name="stage_journey_position_uniq"),
            models.UniqueConstraint(fields=["journey", "slug"], name="stage_journey_slug_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class InstanceState(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    BREACHED = "breached", "SLA breached"
    ABANDONED = "abandoned", "Abandoned"


OPEN_STATES = (InstanceState.ACTIVE, InstanceState.BREACHED)


class JourneyInstance(models.Model):
    """One customer's run through a journey (one per correlation value)."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="instances")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="journey_instances"
    )
    correlation_value = models.CharField(max_length=200, blank=True, default="")
    current_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=12, choices=InstanceState.choices, default=InstanceState.ACTIVE)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Bookkeeping for the engine and the beat task (derived from the stage on each event).
    last_event_at = models.DateTimeField()
    stage_entered_at = models.DateTimeField()
    stage_channel = models.CharField(
        max_length=50, blank=True, help_text="Last inbound channel in this stage."
    )
    sla_due_at = models.DateTimeField(null=True, blank=True)
    stall_at = models.DateTimeField(null=True, blank=True)
    abandon_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer", "correlation_value"],
                condition=Q(state__in=["active", "breached"]),
                name="journey_instance_open_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "state"], name="jinstance_customer_state_idx"),
            models.Index(fields=["journey", "started_at"], name="jinstance_journey_started_idx"),
            models.Index(fields=["state", "sla_due_at"], name="jinstance_sla_due_idx"),
            models.Index(fields=["state", "stall_at"], name="jinstance_stall_idx"),
            models.Index(fields=["state", "abandon_at"], name="jinstance_abandon_idx"),
        ]

    def __str__(self) -> str:
        suffix = f" {self.correlation_value}" if self.correlation_value else ""
        return f"{self.journey}{suffix} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class JourneyTransition(models.Model):
    """An instance entering a stage, with the interaction that moved it and when."""

    instance = models.ForeignKey(JourneyInstance, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.ForeignKey(Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    interaction = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=50, blank=True)
    at = models.DateTimeField()
    # Filled when the instance leaves ``to_stage``: the time it spent there (analytics).
    exited_at = models.DateTimeField(null=True, blank=True)
    seconds_in_stage = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "interaction"],
                condition=Q(interaction__isnull=False),
                name="jtransition_instance_interaction_uniq",
            ),
        ]
        indexes = [models.Index(fields=["to_stage", "at"], name="jtransition_stage_at_idx")]

    def __str__(self) -> str:
        return f"{self.instance_id}: → {self.to_stage_id} at {self.at:%Y-%m-%d %H:%M}"


class ProcessedInteraction(models.Model):
    """Marks an interaction the engine has seen, so reprocessing it changes nothing."""

    interaction = models.OneToOneField(
        "interactions.Interaction", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    processed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"interaction {self.interaction_id}"


class ExceptionKind(models.TextChoices):
    SLA_BREACHED = "sla_breached", "SLA breached"
    STALLED = "stalled", "Stalled"
    OUT_OF_ORDER = "out_of_order", "Out-of-order step"
    CHANNEL_SWITCH = "channel_switch", "Channel switch mid-stage"
    ABANDONED = "abandoned", "Abandoned"


TIME_BASED_KINDS = ("sla_breached", "stalled", "abandoned")

# Exceptions of one instance that mean the same thing share a family: while one of a family
# is open, a later one of the same family adds to it instead of opening another.
EXCEPTION_FAMILIES = {
    "sla_breached": "overdue",
    "stalled": "overdue",
    "abandoned": "overdue",
    "channel_switch": "channel_switch",
    "out_of_order": "out_of_order",
}


class JourneyException(models.Model):
    """Something wrong with an instance that an agent should look at."""

    instance = models.ForeignKey(JourneyInstance, on_delete=models.CASCADE, related_name="exceptions")
    kind = models.CharField(max_length=20, choices=ExceptionKind.choices)
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    interaction = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.CharField(max_length=500, blank=True)
    detected_at = models.DateTimeField()
    # The time by which an agent should have resolved it (detected + JOURNEY_EXCEPTION_SLA_HOURS).
    due_at = models.DateTimeField(null=True, blank=True)
    # How many signals of this family were folded into it, and when the last one came.
    occurrences = models.PositiveIntegerField(default=1)
    last_detected_at = models.DateTimeField(null=True, blank=True)
    latest_kind = models.CharField(
        max_length=20, choices=ExceptionKind.choices, blank=True, help_text="The kind of the latest signal."
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True, max_length=2000)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            # Time-based exceptions are raised once per instance and stage.
            models.UniqueConstraint(
                fields=["instance", "kind", "stage"],
                condition=Q(kind__in=TIME_BASED_KINDS),
                name="jexception_time_once_per_stage_uniq",
            ),
            models.UniqueConstraint(
                fields=["instance", "kind", "interaction"],
                condition=Q(interaction__isnull=False),
                name="jexception_interaction_uniq",
            ),
        ]
        indexes = [
            models.Index(fields=["resolved_at", "-detected_at"], name="jexception_open_idx"),
            models.Index(fields=["instance", "kind"], name="jexception_instance_kind_idx"),
            models.Index(
                fields=["due_at"], condition=Q(resolved_at__isnull=True), name="jexception_open_due_idx"
            ),
            models.Index(
                fields=["assigned_to", "due_at"],
                condition=Q(resolved_at__isnull=True),
                name="jexception_assignee_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.instance_id}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def family(self) -> str:
        return EXCEPTION_FAMILIES.get(self.kind, self.kind)


class WebhookEndpoint(models.Model):
    """A receiver of signed journey events."""

    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, help_text="Shared secret for the HMAC-SHA256 signature.")
    active = models.BooleanField(default=True)
    max_attempts = models.PositiveSmallIntegerField(default=5)
    timeout_seconds = models.FloatField(default=5.0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WebhookAllowedHost(models.Model):
    """A host an Admin lets webhooks reach although it is private, loopback or link-local.

    Every other target must resolve to public addresses only, when the endpoint is saved and
    again at each delivery (a name that later resolves to an internal address is refused).
    """

    host = models.CharField(
        max_length=253, unique=True, help_text="Host name or IP address exactly as in the endpoint URL."
    )
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        ordering = ["host"]

    def __str__(self) -> str:
        return self.host

    def save(self, *args, **kwargs):
        self.host = self.host.strip().strip("[]").lower()
        super().save(*args, **kwargs)


class ActionTrigger(models.TextChoices):
    STAGE_ENTRY = "stage_entry", "Stage entry"
    STAGE_EXIT = "stage_exit", "Stage exit"
    EXCEPTION = "exception", "Exception"


class ActionKind(models.TextChoices):
    MESSAGE = "message", "Message on a channel"
    AGENT_TASK = "agent_task", "Agent task"
    WEBHOOK = "webhook", "Signed webhook"


class StageAction(models.Model):
    """An orchestration rule: when ``trigger`` happens (on ``stage``, or any stage), do ``kind``."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="actions")
    stage = models.ForeignKey(
        Stage,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="actions",
        help_text="Empty: any.",
    )
    trigger = models.CharField(max_length=12, choices=ActionTrigger.choices)
    exception_kind = models.CharField(
        max_length=20,
        choices=ExceptionKind.choices,
        blank=True,
        help_text="For exception triggers; empty: any.",
    )
    kind = models.CharField(max_length=12, choices=ActionKind.choices)
    channel = models.CharField(
        max_length=50,
        blank=True,
        help_text='Message channel code, or "next_best" to use the next best channel for each customer.',
    )
    purpose = models.CharField(max_length=30, default="service", help_text="Consent purpose of the message.")
    subject = models.CharField(max_length=255, blank=True)
    body = models.TextField(
        blank=True,
        help_text="Message or task text; {first_name}, {journey}, {stage}, {reference} are filled in.",
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["journey_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind="webhook") | Q(endpoint__isnull=False), name="stage_action_webhook_endpoint"
            ),
            models.CheckConstraint(
                condition=~Q(kind="message") | ~Q(channel=""), name="stage_action_message_channel"
            ),
        ]

    def __str__(self) -> str:
        where = self.stage.name if self.stage_id else "any stage"
        return f"{self.get_kind_display()} on {self.get_trigger_display().lower()} ({where})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from interactions.models import Channel
        from outreach.next_best import NEXT_BEST

        if self.kind != ActionKind.MESSAGE or self.channel == NEXT_BEST:
            return
        if not Channel.objects.filter(code=self.channel, active=True).exists():
            raise ValidationError(
                {"channel": f"Unknown or inactive channel {self.channel!r}; use a channel code or next_best."}
            )


class AgentTask(models.Model):
    """Work for an agent created by an orchestration rule."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="agent_tasks")
    instance = models.ForeignKey(
        JourneyInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="tasks"
    )
    exception = models.ForeignKey(
        JourneyException, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    title = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="agent_task_status_idx")]

    def __str__(self) -> str:
        return self.title


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Retrying"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent to an endpoint, with its attempts; the body is stored exactly as signed."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    action = models.ForeignKey(
        StageAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.CharField(max_length=50)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_ms = models.FloatField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    replay_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due; the sweep re-queues deliveries whose task was lost.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "retrying"]),
                name="webhook_delivery_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP attempt of a delivery: the log the admin shows."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["delivery_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error}"


class ActionResult(models.TextChoices):
    SENT = "sent", "Sent"
    BLOCKED_CONSENT = "blocked_consent", "Blocked: no consent"
    BLOCKED_QUIET_HOURS = "blocked_quiet_hours", "Blocked: quiet hours"
    TASK_CREATED = "task_created", "Task created"
    WEBHOOK_QUEUED = "webhook_queued", "Webhook queued"
    WEBHOOK_REPLAYED = "webhook_replayed", "Webhook replayed"
    EXCEPTION_RESOLVED = "exception_resolved", "Exception resolved"
    FAILED = "failed", "Failed"


class ActionAudit(models.Model):
    """What was done (or refused), why, by which rule, on which channel, with what result."""

    at = models.DateTimeField()
    action = models.ForeignKey(
        StageAction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=20)
    trigger = models.CharField(max_length=12, blank=True)
    reason = models.CharField(max_length=300, blank=True, help_text="Why: the event that fired the rule.")
    instance = models.ForeignKey(
        JourneyInstance, null=True, blank=True, on_delete=models.SET_NULL, related_name="audits"
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=50, blank=True)
    result = models.CharField(max_length=20, choices=ActionResult.choices)
    detail = models.CharField(max_length=500, blank=True)
    interaction = models.ForeignKey(
        "interactions.Interaction", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "-at"], name="action_audit_customer_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.result} at {self.at:%Y-%m-%d %H:%M}"
