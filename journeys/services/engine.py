"""The journey engine: interactions start and advance instances, recording every transition.

Each interaction is looked at once (``ProcessedInteraction``), in the order it occurred,
against every active journey. Per batch: one query for the open instances concerned, one
for their open stage entries, bulk writes for transitions and instance updates; the only
Python loop is over the new interactions of the batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Prefetch, Q
from django.utils import timezone

from cxhub.db import bulk_write
from interactions.models import Interaction

from ..models import (
    EXCEPTION_FAMILIES,
    OPEN_STATES,
    ActionTrigger,
    ExceptionKind,
    InstanceState,
    Journey,
    JourneyException,
    JourneyInstance,
    JourneyTransition,
    ProcessedInteraction,
    Stage,
)

BATCH_SIZE = 1000
# Interaction fields a correlation key may name besides ``properties.<path>``.
CORRELATION_FIELDS = frozenset({"external_id", "source", "touchpoint", "subject", "outcome"})


@dataclass(frozen=True)
class StageSpec:
    stage: Stage
    position: int
    interaction_type: str
    channels: frozenset[str]
    direction: str
    property_matches: dict
    terminal: bool

    @classmethod
    def of(cls, stage: Stage) -> StageSpec:
        return cls(
            stage=stage,
            position=stage.position,
            interaction_type=stage.interaction_type,
            channels=frozenset(stage.channels or ()),
            direction=stage.direction or "",
            property_matches=dict(stage.property_matches or {}),
            terminal=stage.terminal,
        )

    def matches(self, interaction: Interaction) -> bool:
        if interaction.type != self.interaction_type:
            return False
        if self.channels and interaction.channel.code not in self.channels:
            return False
        if self.direction and interaction.direction != self.direction:
            return False
        properties = interaction.properties or {}
        return all(
            key in properties and str(properties[key]) == str(expected)
            for key, expected in self.property_matches.items()
        )


@dataclass
class JourneySpec:
    journey: Journey
    stages: list[StageSpec]
    by_type: dict[str, list[StageSpec]] = field(default_factory=dict)
    by_stage_id: dict[int, StageSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in self.stages:
            self.by_type.setdefault(spec.interaction_type, []).append(spec)
            self.by_stage_id[spec.stage.pk] = spec

    @property
    def first(self) -> StageSpec:
        return self.stages[0]

    def matching_stages(self, interaction: Interaction) -> list[StageSpec]:
        return [s for s in self.by_type.get(interaction.type, ()) if s.matches(interaction)]


def active_journeys() -> list[JourneySpec]:
    """Active journeys with their stages (two queries), skipping journeys without stages."""
    journeys = Journey.objects.filter(active=True).prefetch_related(
        Prefetch("stages", queryset=Stage.objects.order_by("position"))
    )
    specs = []
    for journey in journeys.order_by("id"):
        stages = [StageSpec.of(stage) for stage in journey.stages.all()]
        if stages:
            specs.append(JourneySpec(journey=journey, stages=stages))
    return specs


def correlation_value(interaction: Interaction, path: str) -> str | None:
    """The value at ``path`` in the interaction ("" when the journey has no key; None when absent)."""
    if not path:
        return ""
    head, *rest = path.split(".")
    if head == "properties":
        value = interaction.properties or {}
    elif head in CORRELATION_FIELDS:
        value = getattr(interaction, head)
    else:
        return None
    for part in rest:
        value = value.get(part) if isinstance(value, dict) else None
    if value is None or value == "" or isinstance(value, dict | list):
        return None
    return str(value)[:200]


def relevance_q(specs: list[JourneySpec]) -> Q:
    """Interactions any active journey could care about: a stage's type, or carrying a correlation key."""
    types = sorted({s.interaction_type for spec in specs for s in spec.stages})
    condition = Q(type__in=types)
    for spec in specs:
        head, *rest = (spec.journey.correlation_key or "").split(".")
        if head == "properties" and rest:
            condition |= Q(properties__has_key=rest[0])
        elif head in CORRELATION_FIELDS:
            condition |= Q(**{f"{head}__isnull": False})
    return condition


@dataclass
class ProcessResult:
    interactions: int = 0
    started: int = 0
    advanced: int = 0
    completed: int = 0
    exceptions: int = 0


@dataclass
class JourneyEvent:
    """Something that may fire orchestration rules: a stage entry/exit or an exception."""

    trigger: str
    instance: JourneyInstance
    stage: Stage
    exception: JourneyException | None = None
    interaction: Interaction | None = None


def process_customers(customer_ids: Iterable[int]) -> ProcessResult:
    """Dirty-customer handler: process the relevant interactions of these customers not yet processed."""
    ids = sorted({int(i) for i in customer_ids})
    specs = active_journeys()
    if not ids or not specs:
        return ProcessResult()
    pending = (
        Interaction.objects.filter(customer_id__in=ids)
        .filter(relevance_q(specs))
        .exclude(Exists(ProcessedInteraction.objects.filter(interaction_id=OuterRef("pk"))))
        .values_list("id", flat=True)
    )
    return process_interactions(interaction_ids=list(pending), specs=specs)


def process_interactions(
    *, interaction_ids: Iterable[int], specs: list[JourneySpec] | None = None
) -> ProcessResult:
    """Start and advance journey instances from these interactions; already processed ones are skipped."""
    ids = sorted({int(i) for i in interaction_ids})
    result = ProcessResult()
    if not ids:
        return result
    specs = active_journeys() if specs is None else specs
    if not specs:
        return result
    ordered: list[int] = []
    for start in range(0, len(ids), BATCH_SIZE):
        chunk = ids[start : start + BATCH_SIZE]
        ordered.extend(
            Interaction.objects.filter(id__in=chunk).filter(relevance_q(specs)).values_list("id", flat=True)
        )
    for start in range(0, len(ordered), BATCH_SIZE):
        with transaction.atomic():
            _process_batch(ordered[start : start + BATCH_SIZE], specs, result)
    return result


def _process_batch(ids: list[int], specs: list[JourneySpec], result: ProcessResult) -> None:
    from .actions import run_actions

    customer_ids = sorted(set(Interaction.objects.filter(id__in=ids).values_list("customer_id", flat=True)))
    lock_customers(customer_ids)
    fresh = list(
        Interaction.objects.filter(id__in=ids)
        .exclude(Exists(ProcessedInteraction.objects.filter(interaction_id=OuterRef("pk"))))
        .select_related("channel")
        .order_by("occurred_at", "id")
    )
    if not fresh:
        return
    now = timezone.now()
    ProcessedInteraction.objects.bulk_create(
        [ProcessedInteraction(interaction_id=i.pk, processed_at=now) for i in fresh], ignore_conflicts=True
    )
    result.interactions += len(fresh)
    run = _Run(specs=specs, interactions=fresh, now=now, result=result)
    run.load()
    for interaction in fresh:
        for spec in specs:
            run.apply(spec, interaction)
    run.save()
    run_actions(run.events)


# Advisory-lock namespace of the journey engine (two-int4 key space: never meets bigint-keyed locks).
LOCK_NAMESPACE = 0x4A524E59


def lock_customers(customer_ids: list[int]) -> None:
    """Serialise journey work per customer until the transaction ends.

    PostgreSQL: transaction-level advisory locks in id order (no deadlock between engines, and
    none with merges, which lock customer rows). SQLite serialises writers already.
    """
    if connection.vendor != "postgresql" or not customer_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, (c %% 2147483647)::int4) "
            "FROM (SELECT unnest(%s::bigint[]) AS c ORDER BY 1) AS ids",
            [LOCK_NAMESPACE, sorted(customer_ids)],
        )


class _Run:
    """The state of one batch: open instances by key, their open stage entries, pending writes."""

    def __init__(self, *, specs, interactions, now, result):
        self.specs = specs
        self.interactions = interactions
        self.now = now
        self.result = result
        self.open: dict[tuple[int, int, str], JourneyInstance] = {}
        self.seen: set[tuple[int, int, str]] = set()
        self.entries: dict[int, JourneyTransition] = {}
        self.new_transitions: list[JourneyTransition] = []
        self.touched: dict[int, JourneyInstance] = {}
        self.exited_entries: dict[int, JourneyTransition] = {}
        self.events: list[JourneyEvent] = []

    def load(self) -> None:
        customer_ids = {i.customer_id for i in self.interactions}
        values = {
            value
            for spec in self.specs
            if spec.journey.correlation_key
            for i in self.interactions
            if (value := correlation_value(i, spec.journey.correlation_key))
        }
        instances = JourneyInstance.objects.filter(
            customer_id__in=customer_ids, journey_id__in=[s.journey.pk for s in self.specs]
        ).filter(Q(state__in=OPEN_STATES) | Q(correlation_value__in=values))
        open_ids = []
        for instance in instances:
            key = (instance.journey_id, instance.customer_id, instance.correlation_value)
            self.seen.add(key)
            if instance.state in OPEN_STATES:
                self.open[key] = instance
                open_ids.append(instance.pk)
        for entry in JourneyTransition.objects.filter(instance_id__in=open_ids, exited_at__isnull=True):
            self.entries[entry.instance_id] = entry

    def apply(self, spec: JourneySpec, interaction: Interaction) -> None:
        value = correlation_value(interaction, spec.journey.correlation_key)
        if value is None:
            return
        matched = spec.matching_stages(interaction)
        key = (spec.journey.pk, interaction.customer_id, value)
        instance = self.open.get(key)
        if instance is None:
            starts = any(s.position == spec.first.position for s in matched)
            if starts and not (spec.journey.correlation_key and key in self.seen):
                self._start(spec, key, interaction)
            return
        current = spec.by_stage_id[instance.current_stage_id]
        later = sorted((s for s in matched if s.position > current.position), key=lambda s: s.position)
        if later:
            target = later[0]
            skipped = [s.stage.name for s in spec.stages if current.position < s.position < target.position]
            self._move(spec, key, instance, current, target, interaction)
            if skipped:
                self._exception(
                    instance,
                    ExceptionKind.OUT_OF_ORDER,
                    target.stage,
                    interaction,
                    f"Skipped {', '.join(skipped)}",
                )
            return
        earlier = [s for s in matched if s.position < current.position]
        if earlier:
            detail = f"{earlier[0].stage.name} after {current.stage.name}"
            self._exception(instance, ExceptionKind.OUT_OF_ORDER, current.stage, interaction, detail)
        if matched or spec.journey.correlation_key:
            self._touch(spec, instance, current, interaction)

    def _schedule(self, spec: JourneySpec, instance: JourneyInstance, stage: Stage) -> None:
        if instance.state not in OPEN_STATES:
            instance.sla_due_at = instance.stall_at = instance.abandon_at = None
            return
        if stage.sla:
            instance.sla_due_at = instance.stage_entered_at + stage.sla
            instance.stall_at = instance.last_event_at + stage.sla * max(spec.journey.stall_factor, 1)
        else:
            instance.sla_due_at = instance.stall_at = None
        instance.abandon_at = instance.last_event_at + spec.journey.abandon_after

    def _start(self, spec: JourneySpec, key, interaction: Interaction) -> None:
        at, first = interaction.occurred_at, spec.first
        instance = JourneyInstance(
            journey=spec.journey,
            customer_id=interaction.customer_id,
            correlation_value=key[2],
            current_stage=first.stage,
            state=InstanceState.COMPLETED if first.terminal else InstanceState.ACTIVE,
            started_at=at,
            completed_at=at if first.terminal else None,
            last_event_at=at,
            stage_entered_at=at,
            stage_channel=_inbound_channel(interaction),
        )
        self._schedule(spec, instance, first.stage)
        try:
            with transaction.atomic():
                instance.save()
        except IntegrityError:  # another worker opened it meanwhile; its run owns the instance
            return
        self.seen.add(key)
        if instance.state in OPEN_STATES:
            self.open[key] = instance
        entry = self._transition(instance, None, first.stage, interaction)
        self.entries[instance.pk] = entry
        self.touched[instance.pk] = instance
        self.result.started += 1
        self.events.append(
            JourneyEvent(ActionTrigger.STAGE_ENTRY, instance, first.stage, interaction=interaction)
        )

    def _move(self, spec, key, instance, current: StageSpec, target: StageSpec, interaction) -> None:
        at = interaction.occurred_at
        entry = self.entries.get(instance.pk)
        if entry is not None:
            entry.exited_at = at
            entry.seconds_in_stage = max((at - entry.at).total_seconds(), 0.0)
            if entry.pk:
                self.exited_entries[entry.pk] = entry
        self.events.append(
            JourneyEvent(ActionTrigger.STAGE_EXIT, instance, current.stage, interaction=interaction)
        )
        self.entries[instance.pk] = self._transition(instance, current.stage, target.stage, interaction)
        instance.current_stage = target.stage
        instance.stage_entered_at = at
        instance.last_event_at = max(instance.last_event_at, at)
        instance.stage_channel = _inbound_channel(interaction)
        if target.terminal:
            instance.state = InstanceState.COMPLETED
            instance.completed_at = at
            self.open.pop(key, None)
            self.result.completed += 1
        else:
            instance.state = InstanceState.ACTIVE
        self._schedule(spec, instance, target.stage)
        self.touched[instance.pk] = instance
        self.result.advanced += 1
        self.events.append(
            JourneyEvent(ActionTrigger.STAGE_ENTRY, instance, target.stage, interaction=interaction)
        )

    def _touch(self, spec, instance, current: StageSpec, interaction) -> None:
        """An event inside the current stage: keeps the instance alive, may reveal a channel switch."""
        instance.last_event_at = max(instance.last_event_at, interaction.occurred_at)
        channel = _inbound_channel(interaction)
        if channel:
            if instance.stage_channel and instance.stage_channel != channel:
                detail = f"{instance.stage_channel} → {channel} during {current.stage.name}"
                self._exception(instance, ExceptionKind.CHANNEL_SWITCH, current.stage, interaction, detail)
            instance.stage_channel = channel
        due = instance.sla_due_at
        self._schedule(spec, instance, current.stage)
        instance.sla_due_at = due  # the SLA runs from stage entry, not from the latest event
        self.touched[instance.pk] = instance

    def _transition(self, instance, from_stage, to_stage, interaction) -> JourneyTransition:
        transition = JourneyTransition(
            instance=instance,
            from_stage=from_stage,
            to_stage=to_stage,
            interaction=interaction,
            channel=interaction.channel.code,
            at=interaction.occurred_at,
        )
        self.new_transitions.append(transition)
        return transition

    def _exception(self, instance, kind, stage, interaction, detail: str) -> None:
        exception = create_exception(
            instance=instance, kind=kind, stage=stage, interaction=interaction, detail=detail, at=self.now
        )
        if exception is not None:
            self.result.exceptions += 1
            self.events.append(
                JourneyEvent(
                    ActionTrigger.EXCEPTION, instance, stage, exception=exception, interaction=interaction
                )
            )

    def save(self) -> None:
        JourneyTransition.objects.bulk_create(self.new_transitions)
        if self.exited_entries:
            bulk_write(list(self.exited_entries.values()), ["exited_at", "seconds_in_stage"])
        for instance in self.touched.values():
            instance.updated_at = self.now
        if self.touched:
            bulk_write(list(self.touched.values()), INSTANCE_FIELDS)


INSTANCE_FIELDS = [
    "current_stage",
    "state",
    "completed_at",
    "last_event_at",
    "stage_entered_at",
    "stage_channel",
    "sla_due_at",
    "stall_at",
    "abandon_at",
    "updated_at",
]


def _inbound_channel(interaction: Interaction) -> str:
    return interaction.channel.code if interaction.direction == "inbound" else ""


def exception_sla() -> timedelta:
    """How long an agent has to resolve an exception (``JOURNEY_EXCEPTION_SLA_HOURS``, default 24)."""
    return timedelta(hours=float(getattr(settings, "JOURNEY_EXCEPTION_SLA_HOURS", 24)))


def create_exception(
    *, instance, kind: str, stage, interaction=None, detail: str = "", at: datetime
) -> JourneyException | None:
    """Record an exception; None when nothing new needs an agent.

    None when the same one is already recorded, or when an open exception of the same
    family (``EXCEPTION_FAMILIES``: an SLA breach, a stall and an abandonment all say the
    instance is overdue) is already on the instance: that one absorbs the new signal (one
    more occurrence, the latest kind and detail) and keeps its kind (analytics count SLA
    breaches by it) and due time, so a customer with three late orders has three
    exceptions, not a dozen.
    """
    with transaction.atomic():
        absorbed = _absorbed(
            instance=instance, kind=kind, stage=stage, interaction=interaction, detail=detail, at=at
        )
    if absorbed:
        return None
    try:
        with transaction.atomic():
            return JourneyException.objects.create(
                instance=instance,
                kind=kind,
                stage=stage,
                interaction=interaction,
                detail=detail[:500],
                detected_at=at,
                last_detected_at=at,
                due_at=at + exception_sla(),
            )
    except IntegrityError:
        return None


def _absorbed(*, instance, kind: str, stage, interaction, detail: str, at: datetime) -> bool:
    if (
        interaction is not None
        and JourneyException.objects.filter(instance=instance, kind=kind, interaction=interaction).exists()
    ):
        return True  # this event was seen already
    family = [k for k, f in EXCEPTION_FAMILIES.items() if f == EXCEPTION_FAMILIES.get(kind, kind)]
    open_one = (
        JourneyException.objects.select_for_update()
        .filter(instance=instance, kind__in=family, resolved_at__isnull=True)
        .order_by("detected_at", "id")
        .first()
    )
    if open_one is None:
        return False
    JourneyException.objects.filter(pk=open_one.pk).update(
        occurrences=F("occurrences") + 1, last_detected_at=at, latest_kind=kind, detail=detail[:500]
    )
    return True
