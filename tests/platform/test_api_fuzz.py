"""Schemathesis against our own OpenAPI schema: generated requests never get a 500,
and every error answer uses the common JSON error format."""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from cxhub.roles import SCOPES
from cxhub.services import create_api_client


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
def test_generated_requests_never_get_a_server_error(case, full_scope_token):
    response = case.call(headers={"Authorization": f"Bearer {full_scope_token}"})
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400 and "json" in response.headers.get("Content-Type", [""])[0]:
        body = json.loads(response.text)
        assert set(body) == {"error"}, body
        assert {"code", "message"} <= set(body["error"]), body
