"""The E.164 fast path of ``normalize_phone`` against the full ``phonenumbers`` parse.

The fast path skips ``phonenumbers.parse`` for values already in E.164 form; it must give
exactly what the full parse gives — the same number, or the same error — for any value.
"""

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from customers.identities import InvalidIdentity, _e164_as_given, normalize_phone


def full_parse(value: str, region: str = "GB") -> tuple[str, str]:
    """What normalize_phone gave before the fast path: ("ok", E.164) or ("error", message)."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return "error", f"{value!r} is not a phone number."
    if not phonenumbers.is_valid_number(number):
        return "error", f"{value!r} is not a valid phone number."
    return "ok", phonenumbers.format_number(number, PhoneNumberFormat.E164)


def normalised(value: str, region: str = "GB") -> tuple[str, str]:
    try:
        return "ok", normalize_phone(value, region)
    except InvalidIdentity as exc:
        return "error", exc.message


def example_numbers() -> list[str]:
    """One number of every type for every region and non-geographic code, in E.164 form."""
    numbers = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in vars(PhoneNumberType).values():
            if isinstance(kind, int):
                example = phonenumbers.example_number_for_type(region, kind)
                if example is not None:
                    numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
        invalid = phonenumbers.invalid_example_number(region)
        if invalid is not None:
            numbers.append(phonenumbers.format_number(invalid, PhoneNumberFormat.E164))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            numbers.append(phonenumbers.format_number(example, PhoneNumberFormat.E164))
    return sorted(set(numbers))


def sample() -> list[str]:
    """Valid examples and near misses of them, national prefixes and zeros after the country
    code, unknown country codes, wrong lengths, and random digit strings."""
    rng = random.Random(164)
    examples = example_numbers()
    values = set(examples)
    for number in examples:
        parsed = phonenumbers.parse(number)
        code, national = str(parsed.country_code), number[1 + len(str(parsed.country_code)) :]
        region = phonenumbers.region_code_for_country_code(parsed.country_code)
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(parsed.country_code, region)
        values.update(
            {
                number[:-1],  # one digit short
                number + str(rng.randrange(10)),  # one digit long
                f"+{code}0{national}",  # a trunk zero kept after the country code
                f"+{code}{national[::-1]}",
                f"+{code}{rng.randrange(10**8, 10**9)}",
                number.replace("+", "00", 1),  # international prefix instead of +
                number[:4] + " " + number[4:],  # not E.164 in form: the full parse
            }
        )
        if metadata is not None and metadata.national_prefix:
            values.add(f"+{code}{metadata.national_prefix}{national}")
    for _ in range(3000):
        digits = "".join(str(rng.randrange(10)) for _ in range(rng.randrange(1, 16)))
        values.add(f"+{rng.randrange(1, 10)}{digits}")
    values.update({"+", "+0", "+1", "+12", "+123", "+999123456789", "+4420794600189999"})
    values.add("+44\uff12\uff10\uff17\uff19\uff14\uff16\uff10\uff10\uff11\uff18")  # full-width digits
    return sorted(values)


def test_the_sample_holds_thousands_of_numbers_valid_and_invalid():
    outcomes = [full_parse(value)[0] for value in sample()]
    assert outcomes.count("ok") > 1500
    assert outcomes.count("error") > 1500


def test_every_number_in_the_sample_normalises_as_the_full_parse_does():
    differences = [(value, normalised(value), full_parse(value)) for value in sample()]
    assert [d for d in differences if d[1] != d[2]] == []


@pytest.mark.parametrize("region", ["GB", "US", "FR", "IT", "DE"])
def test_the_default_region_does_not_change_a_number_in_e164_form(region):
    values = [v for v in sample() if v.startswith("+")][::7]
    assert [v for v in values if normalised(v, region) != full_parse(v, region)] == []


def test_the_fast_path_takes_valid_numbers_already_in_e164_form():
    valid = [number for number in example_numbers() if full_parse(number) == ("ok", number)]
    taken = [number for number in valid if _e164_as_given(number) == number]
    assert len(taken) > len(valid) * 0.8
    assert _e164_as_given("+447911123456") == "+447911123456"
    assert _e164_as_given("+33142685300") == "+33142685300"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("+4407911123456", "+447911123456"),  # a trunk zero after the country code: the parse drops it
        ("+390612345678", "+390612345678"),  # Italian leading zero: kept by the parse
        ("+4479111234567", None),  # too long for a UK mobile: an error
        ("+447911 123456", "+447911123456"),  # not in E.164 form
    ],
)
def test_values_the_fast_path_leaves_to_the_full_parse(value, expected):
    assert _e164_as_given(value) is None
    assert normalised(value) == (("ok", expected) if expected else full_parse(value))
