"""Delivery through a real SMTP server and a real HTTP provider; claims, retries, bounces, callbacks."""

import json
import time

import pytest
from django.test import override_settings

from interactions.models import Interaction
from outreach import providers
from outreach.models import DeliveryProvider, Message, MessageStatus, Suppression
from outreach.services import delivery, send_message
from outreach.tasks import deliver_message
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def queue(customer, channel="email", purpose="marketing", **kw):
    message = send_message(
        customer=customer, channel=channel, purpose=purpose, subject="News", body="Hi {first_name}", **kw
    )
    assert message.status == MessageStatus.QUEUED, message.detail
    return message


def test_email_goes_through_smtp_with_both_parts_threading_id_and_one_click_unsubscribe(
    smtp_sink, consenting
):
    customer = consenting(CustomerFactory(first_name="Ada"), "email")
    message = queue(customer)
    assert deliver_message(message.pk) == {"sent": 1}
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT and message.provider == "email"
    [received] = smtp_sink.received
    mail = received["mail"]
    assert received["to"] == [customer.email]
    assert (
        mail["Message-ID"] == message.provider_message_id == f"<cxhub.message.{message.pk}@cxhub.localhost>"
    )
    assert (
        str(mail["List-Unsubscribe"]).strip().startswith("<http")
        and "/unsubscribe/" in mail["List-Unsubscribe"]
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Hi Ada" in text and "/preferences/" in text
    assert "<p>Hi Ada</p>" in html and "/preferences/" in html
    assert list(message.events.order_by("at", "id").values_list("status", flat=True)) == ["queued", "sent"]


def test_a_redelivered_task_never_sends_twice(smtp_sink, consenting):
    message = queue(consenting(CustomerFactory(), "email"))
    deliver_message(message.pk)
    assert deliver_message(message.pk) == {}
    assert len(smtp_sink.received) == 1
    assert Message.objects.get(pk=message.pk).attempts == 1


def test_service_email_has_no_unsubscribe_header_but_a_preferences_link(smtp_sink):
    message = queue(CustomerFactory(), purpose="service")
    deliver_message(message.pk)
    mail = smtp_sink.received[0]["mail"]
    assert mail["List-Unsubscribe"] is None
    assert "/preferences/" in mail.get_body(("plain",)).get_content()


def test_hard_bounce_at_smtp_time_suppresses_the_address(smtp_sink, consenting):
    customer = consenting(CustomerFactory(), "email")
    smtp_sink.refuse[customer.email] = "550 5.1.1 No such user"
    message = queue(customer)
    assert deliver_message(message.pk) == {"bounced": 1}
    message.refresh_from_db()
    assert message.status == MessageStatus.BOUNCED and "550" in message.detail
    assert Suppression.objects.filter(channel="email", address=customer.email, reason="hard_bounce").exists()
    again = send_message(customer=customer, channel="email", purpose="marketing", body="x")
    assert again.reason == "unreachable"


def test_temporary_smtp_failure_is_retried_with_backoff_then_delivered(smtp_sink, consenting):
    customer = consenting(CustomerFactory(), "email")
    smtp_sink.refuse[customer.email] = "451 4.3.0 Try again later"
    message = queue(customer)
    assert deliver_message(message.pk) == {"retry": 1}
    message.refresh_from_db()
    assert message.status == MessageStatus.QUEUED and message.attempts == 1
    assert message.next_attempt_at is not None
    assert deliver_message(message.pk) == {}  # not before its backoff
    del smtp_sink.refuse[customer.email]
    Message.objects.filter(pk=message.pk).update(next_attempt_at=None)
    assert deliver_message(message.pk) == {"sent": 1}
    assert Message.objects.get(pk=message.pk).attempts == 2


def test_unreachable_smtp_server_fails_after_max_attempts(settings, consenting):
    from tests.outreach.conftest import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    message = queue(consenting(CustomerFactory(), "email"))
    for _ in range(5):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=None)
        deliver_message(message.pk)
    message.refresh_from_db()
    assert (message.status, message.attempts) == (MessageStatus.FAILED, 5)
    assert "Gave up after 5 attempts" in message.detail


def test_sms_goes_to_the_http_provider_signed_and_is_retried_on_5xx(http_sink, consenting):
    DeliveryProvider.objects.create(
        code="textco", kind="http", channels="sms", url=http_sink.url, secret="s3cret", max_attempts=3
    )
    customer = consenting(CustomerFactory(phone="+447700900123"), "sms")
    message = queue(customer, channel="sms")
    http_sink.answers = [503]
    assert deliver_message(message.pk) == {"retry": 1}
    Message.objects.filter(pk=message.pk).update(next_attempt_at=None)
    assert deliver_message(message.pk) == {"sent": 1}
    assert len(http_sink.requests) == 2
    request = http_sink.requests[-1]
    assert request["headers"]["x-cxhub-signature"] == providers.sign("s3cret", request["raw"])
    assert request["headers"]["idempotency-key"] == f"cxhub-message-{message.pk}"
    assert request["json"]["to"] == "+447700900123" and request["json"]["message_id"] == message.pk
    message.refresh_from_db()
    assert (message.status, message.provider, message.provider_message_id) == ("sent", "textco", "prov-2")


def test_provider_rate_limit_defers_what_exceeds_the_minute(http_sink, consenting):
    DeliveryProvider.objects.create(
        code="slow", kind="http", channels="sms", url=http_sink.url, rate_per_minute=2
    )
    messages = [
        queue(consenting(CustomerFactory(phone=f"+4477009001{i:02d}"), "sms"), channel="sms")
        for i in range(3)
    ]
    counts = delivery.deliver(delivery.claim(ids=[m.pk for m in messages], limit=10))
    assert counts == {"sent": 2, "deferred": 1}
    assert Message.objects.filter(status="queued").count() == 1
    assert len(http_sink.requests) == 2


def _callback(client, provider, body, secret="cb-secret"):
    raw = json.dumps(body).encode()
    return client.post(
        f"/hooks/messages/{provider}/",
        raw,
        content_type="application/json",
        HTTP_X_CXHUB_SIGNATURE=providers.sign(secret, raw),
    )


@override_settings(OUTREACH_CALLBACK_SECRET="cb-secret")
def test_signed_callbacks_move_the_status_and_complaints_suppress(client, smtp_sink, consenting):
    customer = consenting(CustomerFactory(), "email")
    message = queue(customer)
    deliver_message(message.pk)
    message.refresh_from_db()
    now = int(time.time())
    ok = _callback(
        client,
        "email",
        {"provider_message_id": message.provider_message_id, "status": "delivered", "timestamp": now},
    )
    assert ok.status_code == 200 and ok.json()["status"] == "delivered"
    complained = _callback(
        client, "email", {"message_id": message.pk, "status": "complained", "timestamp": now}
    )
    assert complained.json()["status"] == "complained"
    assert Suppression.objects.filter(address=customer.email, reason="complaint").exists()
    # A late "delivered" never undoes the complaint.
    _callback(client, "email", {"message_id": message.pk, "status": "delivered", "timestamp": now})
    assert Message.objects.get(pk=message.pk).status == "complained"
    assert list(message.events.order_by("id").values_list("status", flat=True)) == [
        "queued",
        "sent",
        "delivered",
        "complained",
    ]


@override_settings(OUTREACH_CALLBACK_SECRET="cb-secret")
def test_callbacks_with_a_bad_signature_stale_time_or_bad_body_are_refused(client, consenting):
    message = queue(consenting(CustomerFactory(), "email"))
    body = {"message_id": message.pk, "status": "delivered", "timestamp": int(time.time())}
    assert _callback(client, "email", body, secret="wrong").status_code == 403
    assert _callback(client, "email", dict(body, timestamp=1)).status_code == 403
    bad = _callback(client, "email", dict(body, status="eaten"))
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "status"
    assert _callback(client, "nobody", body).status_code == 404
    assert client.get("/hooks/messages/email/").status_code == 405


def test_channels_without_a_provider_are_recorded_not_lost(consenting):
    customer = CustomerFactory(phone="+447700900123")
    message = queue(customer, channel="phone", purpose="service")
    deliver_message(message.pk)
    message.refresh_from_db()
    assert (message.status, message.provider) == ("sent", "manual")
    assert Interaction.objects.filter(pk=message.interaction_id).exists()
