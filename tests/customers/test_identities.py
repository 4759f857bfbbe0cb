import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from customers.identities import InvalidIdentity, normalize_identity


@pytest.mark.parametrize(
    "kind, value, namespace, expected",
    [
        ("email", "  Ann.Lee@Example.COM ", "", ("email", "", "ann.lee@example.com")),
        ("email", "a@b.co", "ignored", ("email", "", "a@b.co")),
        ("phone", "020 7946 0018", "", ("phone", "", "+442079460018")),
        ("phone", "+44 (0)20 7946-0018", "", ("phone", "", "+442079460018")),
        ("phone", "+33 1 42 68 53 00", "", ("phone", "", "+33142685300")),
        ("external_id", " R-1 ", " bu_retail ", ("external_id", "bu_retail", "R-1")),
        ("external_id", 12345, "crm", ("external_id", "crm", "12345")),
        ("anonymous_id", " 3f2a-anon ", "", ("anonymous_id", "", "3f2a-anon")),
        ("device_id", "DEVICE-1", "x", ("device_id", "", "DEVICE-1")),
    ],
)
def test_values_are_normalised_to_one_canonical_form(kind, value, namespace, expected):
    assert normalize_identity(kind, value, namespace) == expected


@pytest.mark.parametrize(
    "kind, value, namespace, field",
    [
        ("email", "not-an-email", "", "email"),
        ("email", "ann@", "", "email"),
        ("phone", "12", "", "phone"),
        ("phone", "call me", "", "phone"),
        ("phone", "+44 20 7946 00189999", "", "phone"),
        ("external_id", "R-1", "", "namespace"),
        ("fax", "1", "", "kind"),
        ("email", "   ", "", "email"),
        ("email", True, "", "email"),
        ("email", None, "", "email"),
        ("anonymous_id", "x" * 255, "", "anonymous_id"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(kind, value, namespace, field):
    with pytest.raises(InvalidIdentity) as error:
        normalize_identity(kind, value, namespace)
    assert error.value.field == field
    assert error.value.code == "invalid_identity"


def test_default_region_is_configurable(settings):
    settings.PHONE_DEFAULT_REGION = "FR"
    assert normalize_identity("phone", "01 42 68 53 00") == ("phone", "", "+33142685300")


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    local=st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,20}[A-Za-z0-9])?", fullmatch=True),
    domain=st.from_regex(r"[A-Za-z]{1,10}\.(com|org|co\.uk)", fullmatch=True),
    padding=st.sampled_from(["", " ", "  \t"]),
)
def test_email_normalisation_is_idempotent(local, domain, padding):
    try:
        once = normalize_identity("email", f"{padding}{local}@{domain}{padding}")
    except InvalidIdentity:
        return  # e.g. consecutive dots: refused, never half-normalised
    assert once[2] == once[2].strip().lower()
    assert normalize_identity(*once[:1], once[2]) == once


@hypothesis_settings(max_examples=60, deadline=None)
@given(subscriber=st.integers(min_value=0, max_value=9_999_999), spaced=st.booleans())
def test_phone_normalisation_is_idempotent(subscriber, spaced):
    raw = f"020 3{subscriber:07d}" if spaced else f"0203{subscriber:07d}"
    once = normalize_identity("phone", raw)
    assert once[2].startswith("+44") and " " not in once[2]
    assert normalize_identity("phone", once[2]) == once
