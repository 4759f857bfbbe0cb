import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from cxhub.roles import ADMIN, AGENT, MARKETER

pytestmark = pytest.mark.django_db


def test_role_groups_exist_with_permissions():
    agent = Group.objects.get(name=AGENT)
    marketer = Group.objects.get(name=MARKETER)
    admin = Group.objects.get(name=ADMIN)
    agent_perms = set(agent.permissions.values_list("codename", flat=True))
    assert {"view_customer", "add_interaction"} <= agent_perms
    assert "delete_customer" not in agent_perms
    assert "change_channel" not in agent_perms
    marketer_perms = set(marketer.permissions.values_list("codename", flat=True))
    assert "add_interaction" not in marketer_perms
    assert "delete_customer" in set(admin.permissions.values_list("codename", flat=True))


def test_anonymous_user_is_sent_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/")


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert b"Sign in to CX Hub" in response.content


def test_login_with_password_reaches_home(client, make_user):
    make_user(AGENT, username="ann", password="s3cret-pass-word")
    response = client.post(
        "/accounts/login/", {"username": "ann", "password": "s3cret-pass-word"}, follow=True
    )
    assert response.status_code == 200
    assert b"Your roles: Agent" in response.content


def test_user_without_role_is_forbidden(client, make_user):
    client.force_login(make_user(None))
    assert client.get("/").status_code == 403


def test_logout_needs_post_and_ends_session(agent_client):
    response = agent_client.post("/accounts/logout/")
    assert response.status_code == 302
    assert agent_client.get("/").status_code == 302


def test_csrf_is_enforced_on_login(make_user):
    from django.test import Client

    make_user(AGENT, username="bob", password="s3cret-pass-word")
    csrf_client = Client(enforce_csrf_checks=True)
    response = csrf_client.post("/accounts/login/", {"username": "bob", "password": "s3cret-pass-word"})
    assert response.status_code == 403


def test_admin_is_staff_only(client, agent_user, marketer_user):
    client.force_login(agent_user)
    assert client.get("/admin/").status_code == 302  # not staff: sent to the admin login
    client.force_login(marketer_user)
    assert client.get("/admin/").status_code == 200


def test_ensure_admin_creates_logins_and_is_repeatable(tmp_path, capsys, client):
    password_file = tmp_path / "pw"
    call_command("ensure_admin", "--password-file", str(password_file))
    call_command("ensure_admin", "--password-file", str(password_file))
    out = capsys.readouterr().out
    password = password_file.read_text().strip()
    assert out.count(f"password: {password}") == 8
    assert client.login(username="admin", password=password)
    assert client.get("/admin/").status_code == 200


def test_team_lead_role_works_the_queues_and_may_resolve(client, make_user):
    from cxhub.roles import TEAM_LEAD, user_scopes

    lead = make_user(TEAM_LEAD)
    perms = set(Group.objects.get(name=TEAM_LEAD).permissions.values_list("codename", flat=True))
    assert {"view_customer", "add_interaction", "change_journeyexception"} <= perms
    assert "delete_customer" not in perms and "change_segment" not in perms
    assert "journeys:write" in user_scopes(lead) and "segments:write" not in user_scopes(lead)
    client.force_login(lead)
    assert client.get("/journeys/exceptions/").status_code == 200
    assert client.get("/metrics/cases/").status_code == 200
    assert client.get("/admin/").status_code == 302  # not staff
