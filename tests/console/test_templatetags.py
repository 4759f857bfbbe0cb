"""Display helpers of the agent pages."""

from datetime import UTC, datetime

from django.template import Context, Template
from django.utils import timezone

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
