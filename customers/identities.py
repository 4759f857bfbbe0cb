"""Normalising identity values: one canonical form per kind, or a clear error."""

import re
import unicodedata

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumber, region_code_for_country_code

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


# A value already written in E.164 form: "+", no leading zero, 3 to 15 ASCII digits.
E164_SHAPE = re.compile(r"\+[1-9][0-9]{2,14}")


def _e164_as_given(value: str) -> str | None:
    """``value`` when it is a valid number already in E.164 form, as ``phonenumbers`` would
    normalise it; None when it is not, or when only the full parse can tell.

    Skips ``phonenumbers.parse`` (half the cost of normalising a number). It decides only
    what the parse would not change: the country code is the shortest known prefix (as the
    parse takes it); the national part has no leading zero (those set the "Italian leading
    zero" flags) and does not start with the country's national prefix (the parse may strip
    one). Everything else — and every invalid number, so its error is the parse's — goes the
    full way. tests/customers/test_phone_fast_path.py checks it against the full parse.
    """
    if not E164_SHAPE.fullmatch(value):
        return None
    digits = value[1:]
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if len(national) < 2 or national[0] == "0":
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, region_code_for_country_code(country_code)
    )
    if metadata is None:
        return None
    prefix = metadata.national_prefix_for_parsing
    if prefix and re.match(prefix, national):
        return None
    number = PhoneNumber(country_code=country_code, national_number=int(national))
    return value if phonenumbers.is_valid_number(number) else None


def normalize_phone(value: str, region: str | None = None) -> str:
    """Return the E.164 form of ``value``; numbers without a country code use ``region``."""
    as_given = _e164_as_given(value)
    if as_given is not None:  # the common case for API clients: already E.164
        return as_given
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
