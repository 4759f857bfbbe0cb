"""Retention: per-kind periods from settings, enforced by the daily beat task."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from audit.models import AuditEvent
from audit.services import record_audit
from customers.retention import enforce_retention, retention_kinds
from customers.tasks import enforce_retention as enforce_retention_task
from interactions.models import Interaction
from metrics.models import SurveyResponse
from tests.factories import CustomerFactory, InteractionFactory
from tests.metrics.helpers import add_response, make_survey

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 10, 5, 12, tzinfo=UTC)


def test_every_documented_kind_has_a_purge_and_a_default():
    assert set(settings.RETENTION_DAYS) == {"interactions", "survey_comments", "audit"}
    assert set(retention_kinds()) >= set(settings.RETENTION_DAYS)
    assert settings.RETENTION_DAYS == {"interactions": 1095, "survey_comments": 730, "audit": 2190}


def test_beat_runs_retention_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["customers-enforce-retention"]
    assert entry == {"task": "customers.enforce_retention", "schedule": 86400.0}
    assert enforce_retention_task.name == "customers.enforce_retention"


def test_retention_purges_exactly_what_is_older_than_each_period(settings):
    settings.RETENTION_DAYS = {"interactions": 30, "survey_comments": 10, "audit": 100}
    customer = CustomerFactory()
    old_calls = [
        InteractionFactory(customer=customer, occurred_at=NOW - timedelta(days=31 + i)) for i in range(4)
    ]
    recent_calls = [
        InteractionFactory(customer=customer, occurred_at=NOW - timedelta(days=29)) for _ in range(2)
    ]
    survey = make_survey("nps")
    old_comment = add_response(
        survey, 9, customer=customer, when=NOW - timedelta(days=11), comment="Lovely staff"
    )
    new_comment = add_response(
        survey, 2, customer=customer, when=NOW - timedelta(days=9), comment="Late again"
    )
    record_audit(action="customer.view", customer_id=customer.pk, at=NOW - timedelta(days=101))
    kept_event = record_audit(action="customer.view", customer_id=customer.pk, at=NOW - timedelta(days=99))

    assert enforce_retention(now=NOW) == {"audit": 1, "interactions": 4, "survey_comments": 1}

    assert sorted(Interaction.objects.values_list("pk", flat=True)) == sorted(i.pk for i in recent_calls)
    assert not Interaction.objects.filter(pk__in=[i.pk for i in old_calls]).exists()
    old_comment.refresh_from_db()
    new_comment.refresh_from_db()
    assert (old_comment.score, old_comment.comment) == (9, "")  # the score stays for NPS
    assert (new_comment.score, new_comment.comment) == (2, "Late again")
    assert SurveyResponse.objects.count() == 2
    views = AuditEvent.objects.filter(action="customer.view")
    assert list(views.values_list("pk", flat=True)) == [kept_event.pk]
    run = AuditEvent.objects.get(action="retention.enforce")
    assert run.detail == {"audit": 1, "interactions": 4, "survey_comments": 1}


def test_a_period_of_zero_keeps_that_kind_forever(settings):
    settings.RETENTION_DAYS = {"interactions": 0, "survey_comments": 0, "audit": 0}
    InteractionFactory(occurred_at=NOW - timedelta(days=5000))
    assert enforce_retention(now=NOW) == {}
    assert Interaction.objects.count() == 1


def test_retention_removes_interactions_that_other_rows_point_at(settings):
    """Survey responses and journey transitions keep their rows; the link is cleared."""
    settings.RETENTION_DAYS = {"interactions": 30}
    customer = CustomerFactory()
    old = InteractionFactory(customer=customer, occurred_at=NOW - timedelta(days=40))
    response = add_response(make_survey("nps"), 7, customer=customer, when=NOW, prompted_by=old)
    enforce_retention(now=NOW)
    response.refresh_from_db()
    assert response.prompted_by_id is None and not Interaction.objects.filter(pk=old.pk).exists()
