"""Schemathesis against our own OpenAPI schema: generated requests never get a 500,
and every error answer uses the common JSON error format.

Every operation of the schema is run, list parameters (cursor, page_size, filters) included.
Path ids point at real rows (a customer, a segment, a survey, a follow-up case) so that the
segment, survey and metrics endpoints are exercised past their 404.
"""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from cxhub.roles import SCOPES
from cxhub.services import create_api_client
from tests.factories import CustomerFactory


@pytest.fixture
def keep_test_connection():
    """The WSGI app closes "old" connections after each request; inside the test's
    transaction that would close it. Django's own test client disconnects the same hook."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def full_scope_token(db, keep_test_connection):
    return create_api_client(name="fuzzer", scopes=list(SCOPES)).token


@pytest.fixture
def known_ids(db):
    from metrics.models import Survey
    from metrics.services import record_response
    from segments.models import Segment

    customer = CustomerFactory()
    Segment.objects.create(
        slug="vip", name="VIP", rules={"attr": "lifecycle_stage", "op": "eq", "value": "lead"}
    )
    segment = Segment.objects.create(
        slug="fuzzed", name="Fuzzed", rules={"segment": "vip", "is": "member"}, refresh="manual"
    )
    survey = Survey.objects.create(name="NPS", kind="nps", question="Recommend us?")
    case = record_response(survey=survey, score=1, customer_id=customer.pk, comment="Late").response
    return {
        "customers": customer.pk,
        "segments": segment.pk,
        "surveys": survey.pk,
        "follow-up-cases": case.follow_up_case.pk,
        "journeys": "order-to-cash",
    }


def _aim_at_real_rows(case, known_ids) -> None:
    """Point path ids at existing rows of the operation's resource (``/api/v1/<resource>/{id}/``)."""
    parts = case.operation.path.strip("/").split("/")
    resource = parts[2] if len(parts) > 2 else ""
    for name in list(case.path_parameters or {}):
        if name == "customer_id":
            case.path_parameters[name] = known_ids["customers"]
        elif name in ("id", "pk", "journey") and resource in known_ids:
            case.path_parameters[name] = known_ids[resource]


def _load_schema():
    from cxhub.wsgi import application

    # The schema view needs no database, so it loads at collection time.
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


schema = _load_schema()


@schema.parametrize()
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_generated_requests_never_get_a_server_error(case, full_scope_token, known_ids):
    _aim_at_real_rows(case, known_ids)
    response = case.call(headers={"Authorization": f"Bearer {full_scope_token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400 and "json" in response.headers.get("Content-Type", [""])[0]:
        body = json.loads(response.text)
        assert set(body) == {"error"}, body
        assert {"code", "message"} <= set(body["error"]), body
