"""A page a role may not open says so, names the roles that may, and lists where to go; the API stays JSON."""

import pytest
from rest_framework.test import APIClient

from cxhub.roles import AGENT

pytestmark = pytest.mark.django_db


def _destinations(html: str) -> str:
    return html.split('class="destinations"', 1)[1].split("</ul>", 1)[0]


def test_agent_opening_the_marketers_dashboard_gets_the_role_page(agent_client):
    response = agent_client.get("/metrics/")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
    html = " ".join(response.content.decode().split())
    assert "This page is not open to your role" in html
    assert "with the role <strong>Agent</strong>" in html
    assert "for the roles <strong>Marketer or Admin</strong>" in html
    assert '<code class="path">/metrics/</code>' in html
    links = _destinations(html)
    assert 'href="/journeys/exceptions/"' in links and 'href="/metrics/cases/"' in links
    assert 'href="/metrics/"' not in links and 'href="/journeys/"' not in links


def test_marketer_opening_the_exception_queue_is_pointed_to_their_own_pages(marketer_client):
    response = marketer_client.get("/journeys/exceptions/")
    assert response.status_code == 403
    html = " ".join(response.content.decode().split())
    assert "for the roles <strong>Agent, Team lead or Admin</strong>" in html
    links = _destinations(html)
    assert 'href="/metrics/"' in links and 'href="/journeys/"' in links and 'href="/admin/"' in links
    assert 'href="/journeys/exceptions/"' not in links


def test_user_without_a_role_is_told_to_ask_for_one(client, make_user):
    client.force_login(make_user(None, username="norole"))
    response = client.get("/")
    assert response.status_code == 403
    html = " ".join(response.content.decode().split())
    assert "your account has no role yet" in html
    assert 'class="destinations"' not in html


def test_agent_opening_the_admin_gets_the_role_page_not_a_login_form(agent_client):
    response = agent_client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/admin/login/")
    assert response.status_code == 403
    html = " ".join(response.content.decode().split())
    assert "for the roles <strong>Marketer or Admin</strong>" in html
    assert 'name="password"' not in html


def test_admin_login_form_still_serves_anonymous_users_and_staff_reach_the_admin(client, make_user):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert b'name="password"' in response.content
    make_user(AGENT, username="desk", password="pass-word-123")
    client.force_login(make_user("Marketer", username="mk"))
    assert client.get("/admin/").status_code == 200


def test_api_keeps_json_errors_for_a_missing_role_scope(agent_user):
    client = APIClient()
    client.force_login(agent_user)
    response = client.post("/api/v1/segments/", {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
