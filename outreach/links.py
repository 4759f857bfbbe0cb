"""Signed links in messages: the preference centre (per customer) and one-click unsubscribe (per message)."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .errors import InvalidToken

PREFERENCES_SALT = "outreach.preferences"
UNSUBSCRIBE_SALT = "outreach.unsubscribe"


def absolute(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def preferences_token(customer_id: int) -> str:
    # A plain Signer: the same link every time, valid until the secret key rotates.
    return signing.Signer(salt=PREFERENCES_SALT).sign_object({"c": int(customer_id)}, compress=True)


def customer_for_token(token: str) -> int:
    try:
        return int(signing.Signer(salt=PREFERENCES_SALT).unsign_object(token)["c"])
    except (signing.BadSignature, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("This link is not valid.") from exc


def preferences_url(customer_id: int) -> str:
    return absolute(reverse("outreach:preferences", args=[preferences_token(customer_id)]))


def unsubscribe_token(message_id: int) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"m": int(message_id)}, compress=True)


def message_for_token(token: str) -> int:
    try:
        return int(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)["m"])
    except (signing.BadSignature, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken("This link is not valid.") from exc


def unsubscribe_url(message_id: int) -> str:
    return absolute(reverse("outreach:unsubscribe", args=[unsubscribe_token(message_id)]))
