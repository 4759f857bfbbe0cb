from datetime import UTC, datetime

import pytest

from cxhub.errors import DomainError
from cxhub.timeparse import parse_instant


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-10-01T10:00:00Z", datetime(2026, 10, 1, 10, tzinfo=UTC)),
        ("2026-10-01T12:00:00+02:00", datetime(2026, 10, 1, 10, tzinfo=UTC)),
        ("2026-10-01T10:00:00", datetime(2026, 10, 1, 10, tzinfo=UTC)),
        ("2026-10-01", datetime(2026, 10, 1, tzinfo=UTC)),
    ],
)
def test_valid_instants_come_back_in_utc(raw, expected):
    value = parse_instant(raw, field="since")
    assert value == expected
    assert value.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "raw", ["", "yesterday", "2026-13-01", "1575-11-07T22:38:06+20:34", "0001-01-01T00:00:00+01:00", 5]
)
def test_invalid_instants_name_the_field(raw):
    with pytest.raises(DomainError) as error:
        parse_instant(raw, field="since")
    assert error.value.field == "since"
    assert error.value.message.startswith("since: ")


def test_dates_can_be_refused():
    with pytest.raises(DomainError):
        parse_instant("2026-10-01", field="occurred_at", allow_date=False)
