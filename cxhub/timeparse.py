"""Parsing times that arrive as text (query parameters, JSON items), in one place.

Every accepted value comes back timezone-aware in UTC: naive input is read as UTC,
and offsets beyond ±14:00 (none exists on Earth, and PostgreSQL refuses them) or
dates outside years 1–9998 are a clear error naming the field, never a 500.
"""

from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_date, parse_datetime

from .errors import DomainError

MAX_OFFSET = timedelta(hours=14)


def parse_instant(raw, *, field: str, allow_date: bool = True) -> datetime:
    """Parse an ISO 8601 datetime (or, when allowed, a date meaning its UTC midnight)."""
    if not isinstance(raw, str) or not raw.strip():
        raise DomainError(f"{field}: expected an ISO 8601 datetime.", field=field)
    text = raw.strip()
    try:
        day = parse_date(text)
        if day is not None:
            value = datetime(day.year, day.month, day.day, tzinfo=UTC) if allow_date else None
        else:
            value = parse_datetime(text)
    except (ValueError, OverflowError):
        value = None
    if value is None:
        raise DomainError(f"{field}: {raw!r} is not a valid ISO 8601 datetime.", field=field)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    offset = value.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        raise DomainError(f"{field}: time zone offset {offset} is out of range.", field=field)
    try:
        value = value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise DomainError(f"{field}: {raw!r} is out of range.", field=field) from exc
    if not 1 <= value.year <= 9998:
        raise DomainError(f"{field}: {raw!r} is out of range.", field=field)
    return value


def time_param(params, name: str) -> datetime | None:
    """An optional time from a query string (``?since=``): None when absent or empty."""
    raw = params.get(name)
    if raw in (None, ""):
        return None
    return parse_instant(raw, field=name)
