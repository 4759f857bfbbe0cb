"""Orchestration: rules fired on stage entry, exit or exception, each audited; agent resolutions."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from customers.models import Customer
from cxhub.errors import Conflict
from interactions.models import Channel

from ..models import (
    ActionAudit,
    ActionKind,
    ActionResult,
    ActionTrigger,
    AgentTask,
    JourneyException,
    StageAction,
    WebhookDelivery,
)

logger = logging.getLogger("cxhub.journeys")

MESSAGE_SOURCE = "journeys"
MESSAGE_TYPE = "journey_message"


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def run_actions(events: list) -> int:
    """Run every active rule matching these events (one query for the rules); return actions taken."""
    if not events:
        return 0
    journey_ids = {e.instance.journey_id for e in events}
    rules = list(
        StageAction.objects.filter(journey_id__in=journey_ids, active=True)
        .select_related("endpoint")
        .order_by("id")
    )
    if not rules:
        return 0
    customers = Customer.objects.in_bulk({e.instance.customer_id for e in events})
    channels = {c.code: c for c in Channel.objects.filter(code__in={r.channel for r in rules if r.channel})}
    due = [(rule, event) for event in events for rule in rules if _applies(rule, event)]
    choices = _next_best_choices(due, customers)
    for rule, event in due:
        customer = customers[event.instance.customer_id]
        _execute(rule, event, customer, channels, choices.get((rule.purpose, customer.pk)))
    return len(due)


def _next_best_choices(due: list, customers: dict) -> dict:
    """For message rules on ``next_best``: the channel for each (purpose, customer), chosen for all
    the customers of this run at once (a constant number of queries per purpose)."""
    from outreach.next_best import NEXT_BEST, choose_for_sending

    wanted: dict[str, set[int]] = {}
    for rule, event in due:
        if rule.kind == ActionKind.MESSAGE and rule.channel == NEXT_BEST:
            wanted.setdefault(rule.purpose, set()).add(event.instance.customer_id)
    now = timezone.now()
    choices = {}
    for purpose, ids in wanted.items():
        found = choose_for_sending(customers=[customers[i] for i in sorted(ids)], purpose=purpose, now=now)
        choices.update({(purpose, customer_id): choice for customer_id, choice in found.items()})
    return choices


def _applies(rule: StageAction, event) -> bool:
    if rule.journey_id != event.instance.journey_id or rule.trigger != event.trigger:
        return False
    if rule.stage_id and rule.stage_id != event.stage.pk:
        return False
    if event.trigger == ActionTrigger.EXCEPTION and rule.exception_kind:
        return rule.exception_kind == event.exception.kind
    return True


def _reason(event) -> str:
    if event.trigger == ActionTrigger.EXCEPTION:
        return f"{event.exception.get_kind_display()} in stage {event.stage.name}"[:300]
    verb = "entered" if event.trigger == ActionTrigger.STAGE_ENTRY else "left"
    return f"Instance {event.instance.pk} {verb} stage {event.stage.name}"[:300]


def _audit(rule, event, customer, result: str, *, channel: str = "", detail: str = "", interaction_id=None):
    return ActionAudit.objects.create(
        at=timezone.now(),
        action=rule,
        kind=rule.kind,
        trigger=event.trigger,
        reason=_reason(event),
        instance=event.instance,
        customer=customer,
        channel=channel,
        result=result,
        detail=detail[:500],
        interaction_id=interaction_id,
    )


def _text(template: str, event, customer: Customer) -> str:
    values = _Blank(
        first_name=customer.first_name,
        last_name=customer.last_name,
        journey=event.instance.journey.name,
        stage=event.stage.name,
        reference=event.instance.correlation_value,
        exception=event.exception.get_kind_display() if event.exception else "",
    )
    try:
        return template.format_map(values)
    except (ValueError, IndexError):  # a stray brace in an admin-edited text: send it as written
        return template


def _execute(rule: StageAction, event, customer: Customer, channels: dict[str, Channel], choice=None) -> None:
    if rule.kind == ActionKind.MESSAGE:
        send_message(
            rule=rule, event=event, customer=customer, channel=channels.get(rule.channel), choice=choice
        )
    elif rule.kind == ActionKind.AGENT_TASK:
        task = AgentTask.objects.create(
            customer=customer,
            instance=event.instance,
            exception=event.exception,
            title=_text(rule.subject or "Follow up: {journey} — {stage}", event, customer)[:255],
            description=_text(rule.body, event, customer),
        )
        _audit(rule, event, customer, ActionResult.TASK_CREATED, detail=f"Task {task.pk}: {task.title}")
    elif rule.kind == ActionKind.WEBHOOK:
        queue_webhook(rule=rule, event=event, customer=customer)


def send_message(
    *, rule: StageAction, event, customer: Customer, channel: Channel | None, choice=None
) -> ActionAudit:
    """Send the rule's message through the outbound gateway and audit its decision (sent or blocked).

    A rule on ``next_best`` sends on the channel ``outreach.next_best`` chooses for the customer and
    purpose (``choice``, chosen now when not given); the choice and its reasons go on the message."""
    from outreach.models import BlockReason, MessageOrigin, MessageStatus
    from outreach.next_best import NEXT_BEST, choose_for_sending
    from outreach.services import send_message as send_through_gateway

    code = rule.channel
    context = {"journey_instance": event.instance.pk, "action": rule.pk}
    if code == NEXT_BEST:
        if choice is None:
            choice = choose_for_sending(customers=[customer], purpose=rule.purpose, now=timezone.now())[
                customer.pk
            ]
        if choice.channel is None:
            result = {
                BlockReason.CONSENT: ActionResult.BLOCKED_CONSENT,
                BlockReason.QUIET_HOURS: ActionResult.BLOCKED_QUIET_HOURS,
            }.get(choice.reason, ActionResult.FAILED)
            detail = f"Next best channel: none allowed ({choice.reason}): {choice.detail}"
            return _audit(rule, event, customer, result, channel=NEXT_BEST, detail=detail)
        code = choice.channel
        context["next_best"] = choice.record()
    elif channel is None:
        return _audit(rule, event, customer, ActionResult.FAILED, channel=code, detail="Unknown channel")
    external_id = _message_key(rule, event)
    message = send_through_gateway(
        customer=customer,
        channel=code,
        purpose=rule.purpose,
        subject=rule.subject,
        body=rule.body or rule.subject or event.stage.name,
        values=_placeholders(event),
        idempotency_key=external_id,
        origin=MessageOrigin.JOURNEY,
        context=context,
        timeline_entry={
            "type": MESSAGE_TYPE,
            "source": MESSAGE_SOURCE,
            "external_id": external_id,
            "properties": {
                "journey": event.instance.journey.slug,
                "journey_instance": event.instance.pk,
                "stage": event.stage.slug,
                "action": rule.pk,
            },
        },
    )
    if message.status != MessageStatus.BLOCKED:
        detail = f"Message {message.pk}" + (" (next best channel)" if rule.channel == NEXT_BEST else "")
        return _audit(
            rule,
            event,
            customer,
            ActionResult.SENT,
            channel=code,
            detail=detail,
            interaction_id=message.interaction_id,
        )
    result = {
        BlockReason.CONSENT: ActionResult.BLOCKED_CONSENT,
        BlockReason.QUIET_HOURS: ActionResult.BLOCKED_QUIET_HOURS,
    }.get(message.reason, ActionResult.FAILED)
    detail = {
        BlockReason.CONSENT: f"No {rule.purpose} consent on {code}",
        BlockReason.QUIET_HOURS: "Quiet hours",
    }.get(message.reason, f"Blocked ({message.reason}): {message.detail}")
    return _audit(rule, event, customer, result, channel=code, detail=f"{detail} (message {message.pk})")


def _placeholders(event) -> dict:
    return {
        "journey": event.instance.journey.name,
        "stage": event.stage.name,
        "reference": event.instance.correlation_value,
        "exception": event.exception.get_kind_display() if event.exception else "",
    }


def _message_key(rule: StageAction, event) -> str:
    """One message per rule and event, so a replayed event never messages twice."""
    suffix = f"x{event.exception.pk}" if event.exception else f"{event.trigger}-{event.stage.pk}"
    return f"journey-{rule.pk}-{event.instance.pk}-{suffix}"


def event_payload(event) -> dict:
    instance = event.instance
    return {
        "event": f"journey.{event.trigger}",
        "journey": instance.journey.slug,
        "instance": {
            "id": instance.pk,
            "correlation_value": instance.correlation_value,
            "state": instance.state,
            "current_stage": instance.current_stage.slug,
        },
        "customer_id": instance.customer_id,
        "stage": event.stage.slug,
        "exception": (
            {"id": event.exception.pk, "kind": event.exception.kind, "detail": event.exception.detail}
            if event.exception
            else None
        ),
        "interaction_id": event.interaction.pk if event.interaction else None,
        "occurred_at": _iso(event.interaction.occurred_at if event.interaction else timezone.now()),
    }


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def queue_webhook(*, rule: StageAction, event, customer: Customer) -> ActionAudit:
    endpoint = rule.endpoint
    if not endpoint.active:
        return _audit(rule, event, customer, ActionResult.FAILED, detail=f"Endpoint {endpoint.name} inactive")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        action=rule,
        event=f"journey.{event.trigger}",
        payload=event_payload(event),
        next_attempt_at=timezone.now(),
    )
    enqueue_delivery(delivery.pk)
    return _audit(
        rule,
        event,
        customer,
        ActionResult.WEBHOOK_QUEUED,
        detail=f"Delivery {delivery.pk} to {endpoint.name}",
    )


def enqueue_delivery(delivery_id: int) -> None:
    def send() -> None:
        from ..tasks import deliver_webhook

        try:
            deliver_webhook.delay(delivery_id)
        except Exception:  # broker down: requeue_due_deliveries (beat) picks it up
            logger.warning("Could not queue webhook delivery %s", delivery_id, exc_info=True)

    transaction.on_commit(send)


@transaction.atomic
def resolve_exception(*, exception: JourneyException, user, note: str = "") -> JourneyException:
    """An agent closes an exception; audited with who and why."""
    locked = JourneyException.objects.select_for_update().select_related("instance").get(pk=exception.pk)
    if locked.resolved_at is not None:
        raise Conflict("This exception is already resolved.", code="already_resolved")
    locked.resolved_at = timezone.now()
    locked.resolved_by = user
    locked.resolution_note = note[:2000]
    locked.save(update_fields=["resolved_at", "resolved_by", "resolution_note"])
    ActionAudit.objects.create(
        at=locked.resolved_at,
        kind="resolve_exception",
        trigger=ActionTrigger.EXCEPTION,
        reason=f"{locked.get_kind_display()} resolved by an agent",
        instance=locked.instance,
        customer_id=locked.instance.customer_id,
        result=ActionResult.EXCEPTION_RESOLVED,
        detail=note[:500],
        actor=user,
    )
    return locked


def assign_exceptions(*, exception_ids: list[int], assignee, actor) -> int:
    """Assign open exceptions to ``assignee`` (None: back to the pool); returns how many changed."""
    now = timezone.now()
    with transaction.atomic():
        rows = JourneyException.objects.filter(pk__in=exception_ids, resolved_at__isnull=True)
        changed = rows.update(assigned_to=assignee, assigned_at=now if assignee else None)
    return changed


def resolve_exceptions(*, exception_ids: list[int], user, note: str = "") -> int:
    """Resolve several open exceptions at once, each audited (one UPDATE, one bulk INSERT).

    Already resolved ones are left as they are; returns how many were resolved now.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = JourneyException.objects.filter(pk__in=exception_ids, resolved_at__isnull=True)
        if connection.features.has_select_for_update_of:
            rows = rows.select_for_update(of=("self",))
        found = list(rows.select_related("instance").order_by("pk"))
        if not found:
            return 0
        JourneyException.objects.filter(pk__in=[e.pk for e in found]).update(
            resolved_at=now, resolved_by=user, resolution_note=note[:2000]
        )
        ActionAudit.objects.bulk_create(
            [
                ActionAudit(
                    at=now,
                    kind="resolve_exception",
                    trigger=ActionTrigger.EXCEPTION,
                    reason=f"{e.get_kind_display()} resolved by an agent (bulk)",
                    instance=e.instance,
                    customer_id=e.instance.customer_id,
                    result=ActionResult.EXCEPTION_RESOLVED,
                    detail=note[:500],
                    actor=user,
                )
                for e in found
            ]
        )
    return len(found)


@transaction.atomic
def complete_agent_task(*, task: AgentTask, user) -> AgentTask:
    locked = AgentTask.objects.select_for_update().get(pk=task.pk)
    if locked.status == AgentTask.Status.DONE:
        raise Conflict("This task is already done.", code="already_done")
    locked.status = AgentTask.Status.DONE
    locked.done_at = timezone.now()
    locked.done_by = user
    locked.save(update_fields=["status", "done_at", "done_by"])
    return locked
