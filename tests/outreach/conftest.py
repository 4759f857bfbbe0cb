"""Real delivery endpoints for outreach tests: an SMTP server (aiosmtpd), an HTTP provider (http.server)."""

import json
import socket
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from customers.services import record_consent
from outreach.models import FrequencyCap
from tests.factories import MessageFactory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """Keeps every accepted mail; recipients in ``refuse`` get that SMTP reply at RCPT time."""

    def __init__(self):
        self.received: list = []
        self.refuse: dict[str, str] = {}
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(
                {
                    "to": list(envelope.rcpt_tos),
                    "mail": message_from_bytes(envelope.content, policy=policy.default),
                }
            )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_sink(settings, monkeypatch):
    """A real SMTP server on a free port; Django's SMTP backend (and any worker started later) point at it."""
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{port}")
    sink.port = port
    try:
        yield sink
    finally:
        controller.stop()


class HttpSink:
    def __init__(self):
        self.requests: list[dict] = []
        self.answers: list[int] = []  # status codes to answer, in order; then 200


@pytest.fixture
def http_sink():
    """A real HTTP server standing in for an SMS provider: records signed POSTs, answers scripted codes."""
    sink = HttpSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sink.requests.append(
                {
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "raw": raw,
                    "json": json.loads(raw),
                }
            )
            code = sink.answers.pop(0) if sink.answers else 200
            body = json.dumps({"id": f"prov-{len(sink.requests)}"}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sink.url = f"http://127.0.0.1:{server.server_address[1]}/send"
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def consenting():
    """consenting(customer, "email", "marketing") grants that consent in the ledger."""

    def grant(customer, channel: str, purpose: str = "marketing"):
        record_consent(customer=customer, channel=channel, purpose=purpose, granted=True, source="test")
        return customer

    return grant


@pytest.fixture
def email_cap_reached():
    """email_cap_reached(customer) caps marketing email at one a week and records one sent to
    ``customer`` the day before ``now`` (default: now), so the next is over the cap."""

    def reach(customer, *, now=None):
        FrequencyCap.objects.update_or_create(channel="email", defaults={"max_messages": 1, "window_days": 7})
        MessageFactory(customer=customer, created_at=(now or timezone.now()) - timedelta(days=1))
        return customer

    return reach
