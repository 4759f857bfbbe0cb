"""Display helpers of the agent pages."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.template import Context, Template
from django.utils import timezone

from interactions.models import Channel, Interaction

SUMMER_MIDNIGHT = datetime(2026, 7, 1, 23, 30, 5, tzinfo=UTC)


def _render(source: str, **context) -> str:
    return Template("{% load customer360 %}" + source).render(Context(context))


def test_time_element_writes_what_the_date_filters_write_in_the_current_time_zone():
    with timezone.override("Europe/London"):
        tag = _render('{% time_element at "j M Y, H:i" "muted small" %}', at=SUMMER_MIDNIGHT)
        filters = _render(
            """<time class="muted small" datetime="{{ at|date:'c' }}">{{ at|date:"j M Y, H:i" }}</time>""",
            at=SUMMER_MIDNIGHT,
        )
    assert (
        tag
        == filters
        == '<time class="muted small" datetime="2026-07-02T00:30:05+01:00">2 Jul 2026, 00:30</time>'
    )


def test_time_element_without_a_class():
    assert _render('{% time_element at "j M Y" %}', at=SUMMER_MIDNIGHT) == (
        '<time datetime="2026-07-01T23:30:05+00:00">1 Jul 2026</time>'
    )


# The row as the timeline template wrote it with filters, before ``timeline_row`` took over.
FILTERED_ROW = (Path(__file__).parent / "timeline_row_with_filters.html").read_text().rstrip("\n")


def _interaction(**fields) -> Interaction:
    defaults = {
        "pk": 4321,
        "channel": Channel(code="phone", name="Phone & <voice>"),
        "direction": "outbound",
        "type": "store_visit",
        "occurred_at": SUMMER_MIDNIGHT,
    }
    return Interaction(**(defaults | fields))


def test_timeline_row_escapes_truncates_and_shows_the_optional_parts():
    ann = get_user_model()(username="ann", first_name="Ann", last_name="O'Neil")
    row = _interaction(
        agent=ann,
        subject="<b>Re</b>",
        summary="é" * 401,
        outcome="resolved",
        value=Decimal("-1234.50"),
        currency="GBP",
        touchpoint="Leeds",
    )
    with timezone.override("Europe/London"):
        html = _render("{% timeline_row i %}", i=row)
    assert 'title="Phone &amp; &lt;voice&gt;" aria-hidden="true">PH</span>' in html
    assert '<span class="dir dir-outbound">Outbound</span>' in html
    assert '<time class="muted small" datetime="2026-07-02T00:30:05+01:00">2 Jul 2026, 00:30</time>' in html
    assert '<div class="tl-subject">&lt;b&gt;Re&lt;/b&gt;</div>' in html
    assert f'<p class="tl-summary">{"é" * 399}…</p>' in html
    assert "<span>Agent: Ann O&#x27;Neil</span>" in html
    assert '<span class="value">-1234.50 GBP</span>' in html and '<span class="muted">at Leeds</span>' in html


@pytest.mark.parametrize(
    "fields",
    [
        {},  # no subject, summary, agent, outcome, value or touchpoint
        {"agent": get_user_model()(username="bob&co"), "value": Decimal("0"), "currency": "EUR"},
        {"summary": "e\u0301" * 150, "subject": "Order 'A' & \"B\""},  # decomposed, 300 long: normalised
        {"summary": "x" * 400, "touchpoint": "<kiosk>", "outcome": "callback"},
        {"type": "odd-type_<x>", "direction": "inbound", "channel": Channel(code="x<y", name="X")},
    ],
)
def test_timeline_row_writes_what_the_filters_wrote(fields):
    row = _interaction(**fields)
    with timezone.override("America/New_York"):
        assert _render("{% timeline_row i %}", i=row) == _render(FILTERED_ROW, i=row)
