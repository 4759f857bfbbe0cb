import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from customers.models import Consent
from interactions.models import Interaction
from journeys.models import (
    ActionAudit,
    ActionKind,
    ActionTrigger,
    DeliveryStatus,
    Journey,
    StageAction,
    WebhookDelivery,
    WebhookEndpoint,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _local_receiver_allowed(db):
    """The receivers here listen on loopback, which webhooks may reach only once an Admin allows it."""
    from journeys.models import WebhookAllowedHost

    WebhookAllowedHost.objects.create(host="127.0.0.1", reason="the tests' local receiver")


def _ship(event, process, customer, order_id="1"):
    """Walk an order into the Shipped stage, whose template rule e-mails the customer."""
    process(
        event(customer, "order_placed", order_id=order_id),
        event(customer, "payment_received", hours=1, order_id=order_id),
        event(customer, "order_shipped", hours=2, direction="outbound", order_id=order_id),
    )


def test_stage_entry_message_is_recorded_as_an_outbound_interaction(templates, customer, event, process):
    _ship(event, process, customer, order_id="991")
    message = Interaction.objects.get(source="journeys")
    assert message.direction == "outbound" and message.channel.code == "email"
    assert message.type == "journey_message"
    assert message.subject == "Your order 991 is on its way"
    audit = ActionAudit.objects.get(kind=ActionKind.MESSAGE)
    assert (audit.result, audit.channel, audit.interaction) == ("sent", "email", message)
    assert audit.trigger == ActionTrigger.STAGE_ENTRY and "Shipped" in audit.reason
    assert audit.action.stage.slug == "shipped"


def test_withdrawn_consent_blocks_the_message_and_logs_why(templates, customer, event, process):
    Consent.objects.create(
        customer=customer,
        channel="email",
        purpose="service",
        granted=False,
        source="preference_centre",
        captured_at=timezone.now() - timedelta(days=1),
    )
    _ship(event, process, customer)
    assert not Interaction.objects.filter(source="journeys").exists()
    audit = ActionAudit.objects.get(kind=ActionKind.MESSAGE)
    assert audit.result == "blocked_consent"
    assert "service" in audit.detail and audit.channel == "email"


def test_quiet_hours_block_the_message(templates, customer, event, process):
    now = timezone.now()
    customer.quiet_hours_start = (now - timedelta(hours=1)).time()
    customer.quiet_hours_end = (now + timedelta(hours=1)).time()
    customer.save()
    _ship(event, process, customer)
    assert not Interaction.objects.filter(source="journeys").exists()
    assert ActionAudit.objects.get(kind=ActionKind.MESSAGE).result == "blocked_quiet_hours"


class _Receiver:
    """A tiny webhook receiver on 127.0.0.1 that answers with scripted status codes."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests: list[tuple[dict, bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                code = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _webhook_rule(url: str, *, max_attempts: int = 5) -> StageAction:
    journey = Journey.objects.get(slug="order-to-cash")
    endpoint = WebhookEndpoint.objects.create(
        name="erp", url=url, secret="s3cret-key", max_attempts=max_attempts
    )
    return StageAction.objects.create(
        journey=journey,
        stage=journey.stages.get(slug="paid"),
        trigger=ActionTrigger.STAGE_ENTRY,
        kind=ActionKind.WEBHOOK,
        endpoint=endpoint,
    )


def _pay(event, process, customer):
    process(
        event(customer, "order_placed", order_id="55"),
        event(customer, "payment_received", hours=1, order_id="55"),
    )


def test_webhook_is_signed_and_retried_after_a_500(
    templates, customer, event, process, celery_eager, django_capture_on_commit_callbacks
):
    with _Receiver([500, 200]) as receiver:
        _webhook_rule(receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            _pay(event, process, customer)
    assert len(receiver.requests) == 2
    for headers, body in receiver.requests:
        expected = "sha256=" + hmac.new(b"s3cret-key", body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-CXHub-Signature"], expected)
        payload = json.loads(body)
        assert str(payload["timestamp"]) == headers["X-CXHub-Timestamp"]
        assert payload["event"] == "journey.stage_entry" and payload["stage"] == "paid"
        assert payload["journey"] == "order-to-cash" and payload["instance"]["correlation_value"] == "55"
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2
    log = list(delivery.attempt_log.order_by("number"))
    assert [a.status_code for a in log] == [500, 200]
    assert all(a.response_ms is not None and a.response_ms >= 0 for a in log)
    audit = ActionAudit.objects.get(kind=ActionKind.WEBHOOK)
    assert audit.result == "webhook_queued"


def test_a_wrong_secret_does_not_verify(
    templates, customer, event, process, celery_eager, django_capture_on_commit_callbacks
):
    with _Receiver([200]) as receiver:
        _webhook_rule(receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            _pay(event, process, customer)
    headers, body = receiver.requests[0]
    forged = "sha256=" + hmac.new(b"other-secret", body, hashlib.sha256).hexdigest()
    assert headers["X-CXHub-Signature"] != forged


def test_webhook_gives_up_after_max_attempts_and_on_client_errors(
    templates, customer, event, process, celery_eager, django_capture_on_commit_callbacks
):
    with _Receiver([503, 503, 503]) as receiver:
        _webhook_rule(receiver.url, max_attempts=3)
        with django_capture_on_commit_callbacks(execute=True):
            _pay(event, process, customer)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 3, 503)
    assert len(receiver.requests) == 3

    from journeys.services.webhooks import attempt_delivery

    with _Receiver([400]) as receiver:
        WebhookEndpoint.objects.update(url=receiver.url)
        other = WebhookDelivery.objects.create(endpoint=delivery.endpoint, event="journey.test", payload={})
        assert attempt_delivery(delivery_id=other.pk) == "failed"
    assert len(receiver.requests) == 1


def test_admin_replays_a_delivery_with_a_fresh_signature(
    templates, customer, event, process, celery_eager, django_capture_on_commit_callbacks, admin_web_client
):
    with _Receiver([200, 200]) as receiver:
        _webhook_rule(receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            _pay(event, process, customer)
        original = WebhookDelivery.objects.get()
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_web_client.post(
                "/admin/journeys/webhookdelivery/", {"action": "replay", "_selected_action": [original.pk]}
            )
    assert response.status_code == 302
    replay = WebhookDelivery.objects.exclude(pk=original.pk).get()
    assert replay.replay_of == original and replay.status == "succeeded"
    assert len(receiver.requests) == 2
    assert json.loads(receiver.requests[1][1])["instance"] == original.payload["instance"]
    assert ActionAudit.objects.filter(result="webhook_replayed").exists()


def test_backoff_doubles_and_is_capped():
    from journeys.services.webhooks import backoff_seconds

    assert [backoff_seconds(n, base=10) for n in range(4)] == [10, 20, 40, 80]
    assert backoff_seconds(20, base=10) == 3600


def test_worker_path_asks_celery_to_retry_later(templates, monkeypatch):
    from celery.exceptions import Retry

    from journeys import tasks

    monkeypatch.setattr(tasks, "attempt_delivery", lambda delivery_id: DeliveryStatus.RETRYING)
    with pytest.raises(Retry):
        tasks.deliver_webhook(1)  # called directly, as a worker would run it: not eager


def test_stage_exit_rule_fires_when_the_instance_moves_on(templates, customer, event, process):
    from journeys.models import AgentTask

    journey = Journey.objects.get(slug="query-to-resolve")
    StageAction.objects.create(
        journey=journey,
        stage=journey.stages.get(slug="query-received"),
        trigger=ActionTrigger.STAGE_EXIT,
        kind=ActionKind.AGENT_TASK,
        subject="Check answer to {reference}",
    )
    process(event(customer, "query", query_id="Q9"))
    assert not AgentTask.objects.exists()
    process(
        event(customer, "query_answered", hours=1, channel_code="email", direction="outbound", query_id="Q9")
    )
    task = AgentTask.objects.get()
    assert task.title == "Check answer to Q9"
    audit = ActionAudit.objects.get(kind=ActionKind.AGENT_TASK)
    assert audit.trigger == "stage_exit" and audit.result == "task_created"
    assert "left stage Query received" in audit.reason


def test_a_sent_message_goes_through_the_gateway_and_is_recorded_like_any_interaction(
    templates, customer, event, process, django_capture_on_commit_callbacks
):
    """Through the outbound gateway and interactions.services.record_interactions: dirty mark, then
    interactions_created on commit."""
    from customers.models import DirtyCustomer
    from interactions.signals import interactions_created
    from outreach.models import Message

    announced = []

    def receiver(sender, interaction_ids=(), customer_ids=(), **kwargs):
        announced.append((list(interaction_ids), list(customer_ids)))

    interactions_created.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            _ship(event, process, customer)
        message = Interaction.objects.get(type="journey_message")
        sent = Message.objects.get(customer=customer, origin="journey")
        assert sent.status == "queued" and sent.interaction_id == message.pk
        assert DirtyCustomer.objects.filter(customer_id=customer.pk, reason="message").exists()
        assert not [a for a in announced if message.pk in a[0]]
        for callback in callbacks:
            callback()
    finally:
        interactions_created.disconnect(receiver)
    assert ([message.pk], [customer.pk]) in announced


def test_lost_deliveries_are_requeued_by_the_sweep(
    templates, celery_eager, django_capture_on_commit_callbacks
):
    from journeys.services.webhooks import requeue_due_deliveries

    now = timezone.now()
    with _Receiver([200]) as receiver:
        endpoint = WebhookEndpoint.objects.create(name="crm", url=receiver.url, secret="k")
        lost = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event="journey.stage_entry",
            payload={"a": 1},
            next_attempt_at=now - timedelta(minutes=10),
        )
        waiting = WebhookDelivery.objects.create(
            endpoint=endpoint, event="journey.stage_entry", payload={"b": 2}, next_attempt_at=now
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert requeue_due_deliveries(now=now) == 1
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert lost.status == "succeeded" and waiting.status == "pending"
    assert len(receiver.requests) == 1


def test_a_retrying_delivery_knows_when_its_next_attempt_is_due(templates):
    from journeys.services.webhooks import attempt_delivery, retry_countdown

    endpoint = WebhookEndpoint.objects.create(
        name="down", url="http://127.0.0.1:9/none", secret="k", timeout_seconds=1
    )
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="journey.test", payload={})
    assert attempt_delivery(delivery_id=delivery.pk) == "retrying"  # connection refused
    delivery.refresh_from_db()
    assert delivery.last_status_code is None and "ConnectionError" in delivery.last_error
    assert 5 <= retry_countdown(delivery.pk) <= 10


def _ship_on_next_best():
    rule = StageAction.objects.get(
        journey__slug="order-to-cash", kind=ActionKind.MESSAGE, stage__slug="shipped"
    )
    rule.channel = "next_best"
    rule.full_clean()
    rule.save()
    return rule


def test_a_rule_on_next_best_sends_on_the_channel_chosen_for_the_customer(
    templates, customer, event, process
):
    from outreach.models import Message

    _ship_on_next_best()
    customer.phone = "+447700900555"
    customer.save()
    Consent.objects.create(  # no service e-mails, please: the cheapest allowed channel left is SMS
        customer=customer,
        channel="email",
        purpose="service",
        granted=False,
        source="preference_centre",
        captured_at=timezone.now() - timedelta(days=1),
    )
    _ship(event, process, customer, order_id="77")
    message = Message.objects.get(customer=customer, origin="journey")
    assert (message.channel, message.to_address, message.status) == ("sms", "+447700900555", "queued")
    record = message.context["next_best"]
    assert record["channel"] == "sms" and record["reasons"]
    assert {
        "channel": "email",
        "blocked_by": "no_consent",
        "why": "no consent for service on email",
    } in record["ruled_out"]
    audit = ActionAudit.objects.get(kind=ActionKind.MESSAGE)
    assert (audit.result, audit.channel) == ("sent", "sms") and "next best channel" in audit.detail
    _ship(event, process, customer, order_id="77")  # the same events again: nothing sent twice
    assert Message.objects.filter(customer=customer, origin="journey").count() == 1


def test_a_rule_on_next_best_with_no_allowed_channel_is_blocked_with_the_reason(
    templates, customer, event, process
):
    from outreach.models import Message

    _ship_on_next_best()
    Consent.objects.create(
        customer=customer,
        channel="all",
        purpose="service",
        granted=False,
        source="preference_centre",
        captured_at=timezone.now() - timedelta(days=1),
    )
    _ship(event, process, customer)
    assert not Message.objects.filter(customer=customer, origin="journey").exists()
    audit = ActionAudit.objects.get(kind=ActionKind.MESSAGE)
    assert (audit.result, audit.channel) == ("blocked_consent", "next_best")
    assert "none allowed (consent)" in audit.detail


def test_an_unknown_action_channel_is_refused_naming_the_field(templates):
    from django.core.exceptions import ValidationError

    rule = StageAction.objects.filter(kind=ActionKind.MESSAGE).first()
    rule.channel = "owl"
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    assert "channel" in refused.value.message_dict
