from datetime import timedelta

import pytest
from django.conf import settings

from journeys.models import AgentTask, ExceptionKind, InstanceState, JourneyException, JourneyInstance
from journeys.services import detect_time_exceptions, resolve_exception

from .conftest import T0

pytestmark = pytest.mark.django_db


def _placed(event, process, customer, order_id="1", hours=0):
    process(event(customer, "order_placed", hours=hours, order_id=order_id))
    return JourneyInstance.objects.get(correlation_value=order_id)


def test_sla_breach_is_detected_once_when_the_stage_runs_late(templates, customer, event, process):
    instance = _placed(event, process, customer)
    assert detect_time_exceptions(now=T0 + timedelta(hours=23))["sla_breached"] == 0
    counts = detect_time_exceptions(now=T0 + timedelta(hours=25))
    assert counts["sla_breached"] == 1
    instance.refresh_from_db()
    assert instance.state == InstanceState.BREACHED
    exception = JourneyException.objects.get(kind=ExceptionKind.SLA_BREACHED)
    assert exception.stage.slug == "order-placed"
    assert exception.detected_at == T0 + timedelta(hours=25)
    assert detect_time_exceptions(now=T0 + timedelta(hours=26))["sla_breached"] == 0
    assert JourneyException.objects.filter(kind=ExceptionKind.SLA_BREACHED).count() == 1


def test_sla_breach_creates_the_templates_agent_task(templates, customer, event, process):
    _placed(event, process, customer, order_id="77")
    detect_time_exceptions(now=T0 + timedelta(hours=25))
    task = AgentTask.objects.get()
    assert task.title == "Order 77 is late in Order placed"
    assert task.exception.kind == ExceptionKind.SLA_BREACHED
    assert task.customer == customer


def test_breached_instance_becomes_active_again_in_the_next_stage(templates, customer, event, process):
    instance = _placed(event, process, customer)
    detect_time_exceptions(now=T0 + timedelta(hours=25))
    process(event(customer, "payment_received", hours=30, order_id="1"))
    instance.refresh_from_db()
    assert instance.state == InstanceState.ACTIVE
    assert instance.current_stage.slug == "paid"
    assert instance.sla_due_at == T0 + timedelta(hours=30 + 48)


def test_stalled_after_n_times_the_sla_without_an_event(templates, customer, event, process):
    _placed(event, process, customer)
    counts = detect_time_exceptions(now=T0 + timedelta(hours=71))
    assert counts["stalled"] == 0
    counts = detect_time_exceptions(now=T0 + timedelta(hours=73))
    assert counts["stalled"] == 1
    assert detect_time_exceptions(now=T0 + timedelta(hours=80))["stalled"] == 0


def test_abandoned_after_the_journeys_quiet_period(templates, customer, event, process):
    instance = _placed(event, process, customer)
    counts = detect_time_exceptions(now=T0 + timedelta(days=46))
    assert counts["abandoned"] == 1
    instance.refresh_from_db()
    assert instance.state == InstanceState.ABANDONED
    assert instance.abandon_at is None and instance.sla_due_at is None
    # Abandoned first: no SLA or stall exception piles up for a dead instance.
    assert set(JourneyException.objects.values_list("kind", flat=True)) == {"abandoned"}


def test_completed_instances_raise_no_time_exceptions(templates, customer, event, process):
    process(
        event(customer, "order_placed", order_id="1"),
        event(customer, "payment_received", hours=1, order_id="1"),
        event(customer, "order_shipped", hours=2, direction="outbound", order_id="1"),
        event(customer, "order_delivered", hours=3, order_id="1"),
        event(customer, "invoice_settled", hours=4, order_id="1"),
    )
    assert sum(detect_time_exceptions(now=T0 + timedelta(days=400)).values()) == 0


def test_the_beat_schedule_runs_the_detector():
    entries = [
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "journeys.detect_time_exceptions"
    ]
    assert entries and entries[0]["schedule"] <= 300


def test_resolving_records_who_and_cannot_happen_twice(templates, customer, event, process, agent_user):
    from cxhub.errors import Conflict
    from journeys.models import ActionAudit

    _placed(event, process, customer)
    detect_time_exceptions(now=T0 + timedelta(hours=25))
    exception = JourneyException.objects.get()
    resolved = resolve_exception(exception=exception, user=agent_user, note="Called the warehouse")
    assert resolved.resolved_by == agent_user and resolved.resolved_at is not None
    audit = ActionAudit.objects.get(result="exception_resolved")
    assert audit.actor == agent_user and audit.detail == "Called the warehouse"
    with pytest.raises(Conflict):
        resolve_exception(exception=exception, user=agent_user)
