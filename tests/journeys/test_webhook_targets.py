"""Webhooks reach public addresses only (checked on save, before each delivery and on the
connected socket), unless an Admin allows a host; endpoint secrets are shown once."""

import socket

import pytest

from cxhub.roles import MARKETER
from journeys.models import DeliveryStatus, WebhookAllowedHost, WebhookDelivery, WebhookEndpoint
from journeys.services import webhook_targets
from journeys.services.webhooks import attempt_delivery
from tests.journeys.test_actions import _Receiver

pytestmark = pytest.mark.django_db

ADD = "/admin/journeys/webhookendpoint/add/"
INTERNAL = [
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://10.0.0.5/hook",
    "http://192.168.1.10/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",
]


def _form(url, **extra):
    return {"name": "crm", "url": url, "active": "on", "max_attempts": "5", "timeout_seconds": "5", **extra}


@pytest.mark.parametrize("url", INTERNAL)
def test_admin_refuses_internal_targets(admin_web_client, url):
    response = admin_web_client.post(ADD, _form(url))
    assert response.status_code == 200  # the form again, with the error
    assert webhook_targets.REFUSED_MARKER in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_admin_can_allow_an_internal_host_explicitly(admin_web_client):
    added = admin_web_client.post(
        "/admin/journeys/webhookallowedhost/add/", {"host": "127.0.0.1", "reason": "ERP on this host"}
    )
    assert added.status_code == 302
    assert admin_web_client.post(ADD, _form("http://127.0.0.1:8000/hook")).status_code == 302
    assert WebhookEndpoint.objects.get().url == "http://127.0.0.1:8000/hook"


def test_only_admins_may_allow_hosts(client, make_user):
    client.force_login(make_user(MARKETER))
    response = client.post("/admin/journeys/webhookallowedhost/add/", {"host": "127.0.0.1"})
    assert response.status_code == 403
    assert not WebhookAllowedHost.objects.exists()


def _delivery(url):
    endpoint = WebhookEndpoint.objects.create(name="crm", url=url, secret="k", max_attempts=5)
    return WebhookDelivery.objects.create(endpoint=endpoint, event="journey.test", payload={"a": 1})


def test_a_delivery_to_an_internal_address_is_refused_and_not_retried():
    with _Receiver([200]) as receiver:
        delivery = _delivery(receiver.url)  # written past the admin form
        assert attempt_delivery(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert webhook_targets.REFUSED_MARKER in delivery.last_error
    assert receiver.requests == []


def _rebinding(monkeypatch, host, *, check_sees, socket_sees):
    """``host`` resolves to ``check_sees`` for the target check and to ``socket_sees`` when the
    HTTP client connects (what a DNS rebinding attacker arranges with a short TTL)."""
    real = socket.getaddrinfo

    def fake_getaddrinfo(name, port, *args, **kwargs):
        if name == host:
            return real(socket_sees, port, *args, **kwargs)
        return real(name, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    monkeypatch.setattr(webhook_targets, "resolve", lambda name, port: [check_sees] if name == host else [])


def test_a_name_that_rebinds_to_loopback_at_connection_time_is_refused(monkeypatch):
    with _Receiver([200]) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        _rebinding(monkeypatch, "hooks.partner.test", check_sees="93.184.216.34", socket_sees="127.0.0.1")
        delivery = _delivery(f"http://hooks.partner.test:{port}/hook")
        assert attempt_delivery(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert "connected to 127.0.0.1" in delivery.last_error
    assert receiver.requests == []


def test_a_name_that_resolves_to_loopback_at_delivery_time_is_refused(monkeypatch):
    with _Receiver([200]) as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        _rebinding(monkeypatch, "hooks.partner.test", check_sees="93.184.216.34", socket_sees="127.0.0.1")
        endpoint_form_check = webhook_targets.check_target(f"http://hooks.partner.test:{port}/hook")
        assert endpoint_form_check is False  # passed when saved
        monkeypatch.setattr(webhook_targets, "resolve", lambda name, port: ["127.0.0.1"])
        delivery = _delivery(f"http://hooks.partner.test:{port}/hook")
        assert attempt_delivery(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert "resolves to 127.0.0.1" in delivery.last_error
    assert receiver.requests == []


def test_an_allowed_host_receives_its_deliveries():
    WebhookAllowedHost.objects.create(host="127.0.0.1")
    with _Receiver([200]) as receiver:
        delivery = _delivery(receiver.url)
        assert attempt_delivery(delivery_id=delivery.pk) == DeliveryStatus.SUCCEEDED
    assert len(receiver.requests) == 1


def test_the_secret_is_shown_once_and_never_again(admin_web_client):
    WebhookAllowedHost.objects.create(host="127.0.0.1")
    created = admin_web_client.post(ADD, _form("http://127.0.0.1:8000/hook"), follow=True)
    endpoint = WebhookEndpoint.objects.get()
    assert len(endpoint.secret) >= 32
    assert endpoint.secret in created.content.decode()  # once, in the message after saving
    change = admin_web_client.get(f"/admin/journeys/webhookendpoint/{endpoint.pk}/change/").content.decode()
    listing = admin_web_client.get("/admin/journeys/webhookendpoint/").content.decode()
    assert endpoint.secret not in change and endpoint.secret not in listing
    # Saving the form without a new secret keeps the old one; giving one replaces it.
    admin_web_client.post(f"/admin/journeys/webhookendpoint/{endpoint.pk}/change/", _form(endpoint.url))
    kept = endpoint.secret
    endpoint.refresh_from_db()
    assert endpoint.secret == kept
    admin_web_client.post(
        f"/admin/journeys/webhookendpoint/{endpoint.pk}/change/", _form(endpoint.url, new_secret="rotated-1")
    )
    endpoint.refresh_from_db()
    assert endpoint.secret == "rotated-1"
