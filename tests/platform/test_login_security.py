"""Login lockout (django-axes) and Django's password-reset flow with e-mail."""

import re

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client

from cxhub.roles import AGENT

pytestmark = pytest.mark.django_db

PASSWORD = "right-pass-word-42"


@pytest.fixture
def ann(make_user):
    user = make_user(AGENT, username="ann", password=PASSWORD)
    user.email = "ann@example.com"
    user.save()
    return user


def _login(client, password, path="/accounts/login/"):
    return client.post(path, {"username": "ann", "password": password})


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_forty_wrong_passwords_then_the_right_one_stays_locked_out(ann, settings):
    client = Client()
    statuses = [_login(client, f"wrong-{n}").status_code for n in range(40)]
    assert statuses[: settings.AXES_FAILURE_LIMIT - 1] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert set(statuses[settings.AXES_FAILURE_LIMIT :]) == {429}
    locked = _login(client, PASSWORD)
    assert locked.status_code == 429
    assert b"Too many failed sign-ins" in locked.content
    assert not _signed_in(client)
    # The admin's login form is locked for the same account, and so is another address.
    other = Client(REMOTE_ADDR="203.0.113.9")
    assert _login(other, PASSWORD, "/admin/login/").status_code == 429
    assert not _signed_in(other)


def test_an_admin_can_unlock_and_the_right_password_then_works(ann, settings):
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"wrong-{n}")
    assert _login(client, PASSWORD).status_code == 429
    call_command("axes_reset_username", "ann")
    call_command("axes_reset_ip", "127.0.0.1")
    assert _login(client, PASSWORD).status_code == 302
    assert _signed_in(client)


def test_a_success_before_the_limit_resets_the_count(ann, settings):
    client = Client()
    for round_ in range(3):
        for n in range(settings.AXES_FAILURE_LIMIT - 1):
            assert _login(client, f"wrong-{round_}-{n}").status_code == 200
        assert _login(client, PASSWORD).status_code == 302
        client.post("/accounts/logout/")


def _reset_link(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/reset/\S+/)", message.body).group(1)


def test_password_reset_by_email_sets_a_new_password_once(ann):
    client = Client()
    login_page = client.get("/accounts/login/").content.decode()
    assert 'href="/accounts/password_reset/"' in login_page
    assert client.get("/accounts/password_reset/").status_code == 200
    sent = client.post("/accounts/password_reset/", {"email": "ann@example.com"})
    assert sent.status_code == 302 and sent["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ann@example.com"]
    assert mail.outbox[0].subject == "Reset your CX Hub password"
    link = _reset_link(mail.outbox[0])
    form = client.get(link, follow=True)
    assert form.status_code == 200 and b"Choose a new password" in form.content
    set_url = form.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "a-new-pass-word-7", "new_password2": "a-new-pass-word-7"})
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert _login(Client(), PASSWORD).status_code == 200  # the old password no longer works
    fresh = Client()
    assert (
        fresh.post("/accounts/login/", {"username": "ann", "password": "a-new-pass-word-7"}).status_code
        == 302
    )
    again = Client().get(link, follow=True)
    assert b"This link does not work" in again.content  # used once


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(ann):
    response = Client().post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []
