"""Normalising identity values: one canonical form per kind, or a clear error."""

import unicodedata

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from cxhub.errors import DomainError

from .models import IdentityKind

MAX_VALUE_LENGTH = 254
KINDS = frozenset(IdentityKind.values)  # Enum.values rebuilds a list on every access


class InvalidIdentity(DomainError):
    code = "invalid_identity"


def normalize_email(value: str) -> str:
    email = value.strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidIdentity(f"{value!r} is not a valid email address.", field="email") from exc
    return email


def normalize_phone(value: str, region: str | None = None) -> str:
    """Return the E.164 form of ``value``; numbers without a country code use ``region``."""
    region = region or settings.PHONE_DEFAULT_REGION
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"{value!r} is not a phone number.", field="phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentity(f"{value!r} is not a valid phone number.", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _hidden_character(text: str) -> str | None:
    """The first control or invisible formatting character (NUL, newline, zero-width space,
    BOM, direction marks…) in ``text``: such a value would look like another, or be refused by
    PostgreSQL, so it is an error rather than something to store or drop."""
    if text.isprintable():  # holds none of those categories: the common case, in one C call
        return None
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            return char
    return None


def normalize_identity(kind: str, value, namespace: str = "") -> tuple[str, str, str]:
    """Return (kind, namespace, value) in canonical form or raise InvalidIdentity."""
    if kind not in KINDS:
        raise InvalidIdentity(f"Unknown identity kind {kind!r}.", field="kind")
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidIdentity(f"{kind} must be a string.", field=kind)
    if not isinstance(namespace, str | None):
        raise InvalidIdentity("namespace must be a string.", field="namespace")
    value = str(value)
    for part, text in ((kind, value.strip()), ("namespace", (namespace or "").strip())):
        hidden = _hidden_character(text)
        if hidden is not None:
            raise InvalidIdentity(
                f"{part} contains a control or invisible character (U+{ord(hidden):04X}).", field=part
            )
    if not value.strip():
        raise InvalidIdentity(f"{kind} must not be empty.", field=kind)
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidIdentity(f"{kind} is longer than {MAX_VALUE_LENGTH} characters.", field=kind)
    namespace = (namespace or "").strip()
    if kind == IdentityKind.EXTERNAL_ID:
        if not namespace:
            raise InvalidIdentity("external_id needs a namespace.", field="namespace")
        return kind, namespace, value.strip()
    if kind == IdentityKind.EMAIL:
        return kind, "", normalize_email(value)
    if kind == IdentityKind.PHONE:
        return kind, "", normalize_phone(value)
    return kind, "", value.strip()
