"""Delivery providers: Django's email framework, a signed-JSON HTTP adapter, and local fall-backs.

A provider takes claimed messages and answers one ``Outcome`` per message: ``sent`` (handed
over), ``retry`` (a transient failure: try again later), ``bounced`` (the address is gone) or
``failed`` (refused for good). Which provider serves a channel: an active ``DeliveryProvider``
row naming the channel (admin), else the built-ins from settings — ``email`` through
``EMAIL_URL``, ``sms`` through ``SMS_PROVIDER_URL`` — else ``log`` for sms/whatsapp on a laptop
(written to the log, nothing leaves the machine) and ``manual`` for channels CX Hub cannot
deliver itself (phone, letter, store…: recorded as handed to people).
"""

import contextlib
import hashlib
import hmac
import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from . import links
from .models import DeliveryProvider, Message, ProviderKind

logger = logging.getLogger("cxhub.outreach")

HTTP_TIMEOUT = 10
RETRY_HTTP_STATUSES = {408, 425, 429}


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | retry | bounced | failed
    detail: str = ""
    provider_message_id: str = ""


@dataclass(frozen=True)
class ProviderConfig:
    code: str
    kind: str  # email | http | log | manual
    url: str = ""
    secret: str = ""
    rate_per_minute: int = 0  # 0: unlimited
    max_attempts: int = 5


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def message_id_header(message: Message) -> str:
    """The RFC 5322 Message-ID, fixed per message: a retried send carries the same id (threading, dedupe)."""
    return f"<cxhub.message.{message.pk}@{settings.OUTREACH_MESSAGE_ID_DOMAIN}>"


def builtin_configs() -> dict[str, ProviderConfig]:
    configs = {
        "email": ProviderConfig(
            "email",
            "email",
            secret=settings.OUTREACH_CALLBACK_SECRET,
            rate_per_minute=settings.EMAIL_RATE_PER_MINUTE,
        ),
        "log": ProviderConfig("log", "log"),
        "manual": ProviderConfig("manual", "manual"),
    }
    if settings.SMS_PROVIDER_URL:
        configs["sms"] = ProviderConfig(
            "sms",
            "http",
            url=settings.SMS_PROVIDER_URL,
            secret=settings.SMS_PROVIDER_SECRET,
            rate_per_minute=settings.SMS_RATE_PER_MINUTE,
        )
    return configs


def config_for_code(code: str) -> ProviderConfig | None:
    row = DeliveryProvider.objects.filter(code=code, active=True).first()
    if row is not None:
        return _from_row(row)
    return builtin_configs().get(code)


def _from_row(row: DeliveryProvider) -> ProviderConfig:
    return ProviderConfig(row.code, row.kind, row.url, row.secret, row.rate_per_minute, row.max_attempts)


def config_for_channel(channel: str, rows: list[DeliveryProvider] | None = None) -> ProviderConfig:
    rows = rows if rows is not None else list(DeliveryProvider.objects.filter(active=True))
    for row in rows:
        if channel in row.channel_codes:
            return _from_row(row)
    builtins = builtin_configs()
    if channel == "email":
        return builtins["email"]
    if channel in ("sms", "whatsapp"):
        return builtins.get("sms") or builtins["log"]
    return builtins["manual"]


# --- email ------------------------------------------------------------------------------------


def build_email(message: Message) -> EmailMultiAlternatives:
    """Text and HTML parts, the preference-centre link in every message; marketing adds RFC 8058."""
    preferences = links.preferences_url(message.customer_id)
    footer_text = f"\n\n--\nManage what you receive from us: {preferences}"
    footer_html = f'<hr><p><a href="{preferences}">Manage what you receive from us</a>'
    headers = {"Message-ID": message_id_header(message)}
    if message.is_marketing:
        unsubscribe = links.unsubscribe_url(message.pk)
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        footer_text += f"\nUnsubscribe: {unsubscribe}"
        footer_html += f' · <a href="{unsubscribe}">Unsubscribe</a>'
    footer_html += "</p>"
    email = EmailMultiAlternatives(
        subject=message.subject or settings.OUTREACH_DEFAULT_SUBJECT,
        body=message.body_text + footer_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[message.to_address],
        headers=headers,
    )
    email.attach_alternative((message.body_html or message.body_text) + footer_html, "text/html")
    return email


def _smtp_outcome(exc: Exception) -> Outcome:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (0, b""))
        text = f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
        return Outcome("bounced" if code >= 500 else "retry", f"Recipient refused: {text}"[:500])
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = f"{exc.smtp_code} {error.decode(errors='replace') if isinstance(error, bytes) else error}"
        return Outcome("failed" if exc.smtp_code >= 500 else "retry", f"SMTP: {text}"[:500])
    return Outcome("retry", f"SMTP connection: {exc.__class__.__name__}: {exc}"[:500])


def send_email(messages: list[Message], config: ProviderConfig) -> list[Outcome]:
    """Send over one connection of the configured Django email backend (``EMAIL_URL``)."""
    outcomes: list[Outcome] = []
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as exc:
        return [_smtp_outcome(exc)] * len(messages)
    try:
        for message in messages:
            try:
                connection.send_messages([build_email(message)])
            except (smtplib.SMTPException, OSError) as exc:
                outcome = _smtp_outcome(exc)
                outcomes.append(outcome)
                if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
                    connection.close()
                    try:
                        connection.open()
                    except (smtplib.SMTPException, OSError) as again:
                        rest = len(messages) - len(outcomes)
                        outcomes.extend([_smtp_outcome(again)] * rest)
                        break
                continue
            outcomes.append(Outcome("sent", "Accepted by the mail server.", message_id_header(message)))
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            connection.close()
    return outcomes


# --- HTTP (SMS and other channels) ---------------------------------------------------------------


def http_payload(message: Message, config: ProviderConfig) -> dict:
    body = message.body_text
    body += f"\n{links.preferences_url(message.customer_id)}"
    return {
        "message_id": message.pk,
        "channel": message.channel,
        "to": message.to_address,
        "subject": message.subject,
        "body": body,
        "purpose": message.purpose,
        "callback_url": links.absolute(f"/hooks/messages/{config.code}/"),
        "timestamp": int(time.time()),
    }


def send_http(messages: list[Message], config: ProviderConfig) -> list[Outcome]:
    """POST each message as signed JSON; 5xx, 408/425/429 and connection errors are transient."""
    outcomes = []
    for message in messages:
        raw = json.dumps(http_payload(message, config), separators=(",", ":")).encode()
        request = urllib.request.Request(
            config.url,
            data=raw,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-CXHub-Signature": sign(config.secret, raw),
                "Idempotency-Key": f"cxhub-message-{message.pk}",
                "User-Agent": "CXHub-Outreach/1",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310 (admin-set URL)
                answer = response.read(65536)
                provider_id = ""
                with contextlib.suppress(ValueError, AttributeError):
                    provider_id = str(json.loads(answer or b"{}").get("id", ""))[:255]
                outcomes.append(Outcome("sent", f"HTTP {response.status}", provider_id))
        except urllib.error.HTTPError as exc:
            transient = exc.code >= 500 or exc.code in RETRY_HTTP_STATUSES
            outcomes.append(Outcome("retry" if transient else "failed", f"HTTP {exc.code} from provider"))
        except (urllib.error.URLError, OSError) as exc:
            outcomes.append(Outcome("retry", f"Provider unreachable: {exc}"[:500]))
    return outcomes


def send_log(messages: list[Message], config: ProviderConfig) -> list[Outcome]:
    for message in messages:
        logger.info("Outbound %s to %s: %s", message.channel, message.to_address, message.body_text[:200])
    return [Outcome("sent", "Written to the log (no provider configured).")] * len(messages)


def send_manual(messages: list[Message], config: ProviderConfig) -> list[Outcome]:
    return [Outcome("sent", "Recorded; this channel is delivered by people, outside CX Hub.")] * len(messages)


SENDERS = {
    ProviderKind.EMAIL: send_email,
    ProviderKind.HTTP: send_http,
    "log": send_log,
    "manual": send_manual,
}


def send(messages: list[Message], config: ProviderConfig) -> list[Outcome]:
    return SENDERS[config.kind](messages, config)
