"""API polish: an unsupported method is a 405 in the common error format (not a scope error),
and the OpenAPI schema groups every operation under one resource tag for Swagger UI."""

import base64
import re

import pytest
from django.apps import apps
from django.test import Client
from rest_framework.test import APIClient

from cxhub.api.tags import TAGS

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
RESOURCE_TAGS = [tag["name"] for tag in TAGS]


@pytest.fixture
def schema() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def _concrete(path: str) -> str:
    """A request path for a schema path: every parameter filled with a plausible value."""
    return re.sub(r"\{[^}]+\}", lambda m: "order-to-cash" if m.group(0) == "{journey}" else "1", path)


def _assert_405(response, method: str):
    assert response.status_code == 405, (method, response.status_code, response.content[:200])
    body = response.json()
    assert body["error"]["code"] == "method_not_allowed"
    assert method.upper() in body["error"]["message"]
    assert method.upper() not in response["Allow"]


def test_unsupported_method_is_405_even_without_the_scope(api_client_with):
    reader = api_client_with("customers:read")
    _assert_405(reader.delete("/api/v1/customers/1/identities/"), "delete")
    _assert_405(reader.put("/api/v1/interactions/", {}, format="json"), "put")
    _assert_405(api_client_with("segments:read").post("/api/v1/segments/1/", {}, format="json"), "post")
    _assert_405(api_client_with("ingest:write").get("/api/v1/interactions/batch/"), "get")


def test_supported_method_without_its_scope_is_still_403(api_client_with):
    response = api_client_with("segments:read").delete("/api/v1/segments/1/")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error == {"code": "permission_denied", "message": "Missing scope: segments:write."}


def test_anonymous_caller_is_401_before_any_405():
    response = APIClient().delete("/api/v1/customers/1/identities/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_session_user_gets_405_for_an_unsupported_method(marketer_user):
    client = APIClient()
    client.force_login(marketer_user)  # marketers hold no ingest:write scope
    _assert_405(client.patch("/api/v1/interactions/batch/", {}, format="json"), "patch")


def test_tracking_endpoint_answers_405_to_get(api_client_with):
    issued = api_client_with("ingest:write")
    basic = base64.b64encode(f"{issued.write_key}:".encode()).decode()
    response = Client().get("/v1/track", HTTP_AUTHORIZATION=f"Basic {basic}")
    _assert_405(response, "get")


def test_every_method_the_schema_does_not_list_is_405_for_a_client_without_scopes(schema, api_client_with):
    client = api_client_with()  # no scope at all: a scope check first would answer 403
    checked = 0
    for path, operations in schema["paths"].items():
        for method in METHODS:
            if method in operations:
                continue
            if path.startswith("/v1/"):
                continue  # write-key endpoints, covered above
            _assert_405(getattr(client, method)(_concrete(path)), method)
            checked += 1
    assert checked > 40


def test_every_operation_has_exactly_one_resource_tag(schema):
    tags = {}
    for path, operations in schema["paths"].items():
        for method in METHODS:
            if method in operations:
                assert len(operations[method]["tags"]) == 1, (method, path)
                tags[f"{method.upper()} {path}"] = operations[method]["tags"][0]
    # Anything outside the resource families is tagged with the app that serves it.
    app_labels = {config.label for config in apps.get_app_configs()}
    assert set(tags.values()) <= set(RESOURCE_TAGS) | app_labels, set(tags.values())
    expected = {
        "POST /api/v1/customers/resolve/": "customers",
        "GET /api/v1/customers/{customer_id}/timeline/": "customers",
        "POST /api/v1/interactions/batch/": "interactions",
        "POST /api/v1/segments/preview/": "segments",
        "GET /api/v1/segments/{id}/kpis/": "segments",
        "GET /api/v1/journeys/exceptions/": "journeys",
        "GET /api/v1/metrics/nps/": "metrics",
        "POST /api/v1/surveys/{id}/responses/": "metrics",
        "GET /api/v1/follow-up-cases/": "metrics",
        "POST /v1/track": "tracking",
        "POST /v1/batch": "tracking",
    }
    assert {key: tags.get(key) for key in expected} == expected


def test_schema_lists_the_resource_tags_in_order_with_descriptions(schema):
    listed = schema["tags"]
    assert [tag["name"] for tag in listed][:6] == [
        "customers",
        "interactions",
        "segments",
        "journeys",
        "metrics",
        "tracking",
    ]
    assert all(tag["description"] for tag in listed)
