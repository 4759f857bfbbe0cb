"""One permission matrix for follow-up cases: every page and endpoint × role × API scope.

``EXPECTED`` says which case actions each role may take. A new role must be added here
(the first test fails until it is), and gets its rights from ``cxhub.roles.ROLE_SCOPES``.
"""

import pytest
from rest_framework.test import APIClient

from cxhub.roles import ADMIN, AGENT, MARKETER, ROLES, SCOPES, TEAM_LEAD
from cxhub.services import create_api_client
from metrics.models import CaseStatus, FollowUpCase
from metrics.permissions import CASE_ACTION_SCOPES
from metrics.services import record_response
from tests.factories import CustomerFactory
from tests.metrics.helpers import make_survey

pytestmark = pytest.mark.django_db

ALL_ACTIONS = set(CASE_ACTION_SCOPES)
NO_ROLE = "(no role)"
ANONYMOUS = "(anonymous)"

EXPECTED: dict[str, set[str]] = {
    AGENT: ALL_ACTIONS,
    TEAM_LEAD: ALL_ACTIONS,
    MARKETER: set(),
    ADMIN: ALL_ACTIONS,
    NO_ROLE: set(),
    ANONYMOUS: set(),
}

CLOSE_BODY = {"outcome": "Called back", "message": "Sorry, fixed.", "channel": "email"}

# (action, kind, method, path, body)
ENDPOINTS = [
    ("list", "page", "get", "/metrics/cases/", None),
    ("view", "page", "get", "/metrics/cases/{pk}/", None),
    ("assign", "page", "post", "/metrics/cases/{pk}/assign/", {}),
    ("close", "page", "post", "/metrics/cases/{pk}/close/", CLOSE_BODY),
    ("list", "api", "get", "/api/v1/follow-up-cases/", None),
    ("close", "api", "post", "/api/v1/follow-up-cases/{pk}/close/", CLOSE_BODY),
]


def _case() -> FollowUpCase:
    recorded = record_response(survey=make_survey(), score=2, customer_id=CustomerFactory().pk, comment="Bad")
    return recorded.response.follow_up_case


def _call(client, method, path, body, kind):
    if method == "get":
        return client.get(path)
    if kind == "api":
        return client.post(path, body, format="json")
    return client.post(path, body, format="multipart")


def _allowed(response, case, action, kind) -> bool:
    case.refresh_from_db()
    if action == "close":
        return case.status == CaseStatus.CLOSED
    if action == "assign":
        return case.assigned_to_id is not None
    return response.status_code == 200


def test_every_role_has_a_row_in_the_matrix():
    assert set(ROLES) <= set(EXPECTED), "a new role must declare its follow-up case rights in EXPECTED"


@pytest.mark.parametrize("role", [*ROLES, NO_ROLE, ANONYMOUS])
@pytest.mark.parametrize(("action", "kind", "method", "path", "body"), ENDPOINTS)
def test_pages_and_endpoints_follow_the_matrix(role, action, kind, method, path, body, make_user):
    if role not in EXPECTED:
        pytest.fail(f"{role} has no row in EXPECTED")
    case = _case()
    client = APIClient()
    if role != ANONYMOUS:
        client.force_login(make_user(None if role == NO_ROLE else role))
    response = _call(client, method, path.format(pk=case.pk), body, kind)
    assert response.status_code < 500
    allowed = action in EXPECTED[role]
    assert _allowed(response, case, action, kind) == allowed, (role, path, response.status_code)
    if not allowed:
        if role == ANONYMOUS and kind == "page":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        else:
            assert response.status_code in (401, 403), (role, path, response.status_code)
        if kind == "api":
            assert set(response.json()) == {"error"}


@pytest.mark.parametrize(
    ("action", "kind", "method", "path", "body"), [e for e in ENDPOINTS if e[1] == "api"]
)
def test_api_clients_need_exactly_the_actions_scope(action, kind, method, path, body):
    needed = CASE_ACTION_SCOPES[action]
    for scopes, allowed in (([needed], True), ([s for s in SCOPES if s != needed], False)):
        case = _case()
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {create_api_client(name=f'c-{case.pk}', scopes=scopes).token}"
        )
        response = _call(client, method, path.format(pk=case.pk), body, kind)
        assert _allowed(response, case, action, kind) == allowed, (scopes, path, response.status_code)
        if not allowed:
            assert response.status_code == 403
            assert response.json()["error"]["message"] == f"Missing scope: {needed}."


def test_menus_and_panels_show_cases_only_to_roles_that_may_list_them(make_user, client):
    _case()
    for role in ROLES:
        client.force_login(make_user(role))
        home = client.get("/").content.decode()
        shows = 'href="/metrics/cases/"' in home
        assert shows == ("list" in EXPECTED[role]), role
