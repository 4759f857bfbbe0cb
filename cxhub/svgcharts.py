"""Server-rendered SVG charts for any page (no JavaScript, no CDN, no inline style): a line over
time and diverging bars (entries up, exits down), both with axis titles.

The SVG scales to its box (``viewBox``, width 100% in the stylesheet), so a chart never makes a
phone page scroll sideways. Colours are presentation attributes, which a strict
Content-Security-Policy allows (``style`` attributes it would not).
"""

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

INK, MUTED, GRID = "#1d2330", "#5f6b7a", "#e4e8ef"
BLUE, GREEN, RED = "#2457c5", "#157a3c", "#b42318"
TICK = f'font-size="12" fill="{MUTED}"'
TITLE = f'font-size="13" fill="{INK}" font-weight="600"'


def _f(value: float) -> str:
    return f"{value:.1f}"


def nice_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Round tick values covering ``low``..``high`` (steps of 1, 2 or 5 × 10^k), at most ``most`` + 1."""
    if high <= low:
        high = low + 1
    raw = (high - low) / most
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    if step < 1 and float(low).is_integer() and float(high).is_integer():
        step = 1  # counts of people: no fractional ticks
    ticks = [round(math.floor(low / step) * step, 10)]
    while ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_label(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


class _Frame:
    """The plot area inside the axis titles and tick labels."""

    def __init__(self, *, width: int, height: int, low: float, high: float):
        self.width, self.height = width, height
        self.left, self.right, self.top, self.bottom = 64, 12, 14, 48
        self.low, self.high = low, high

    @property
    def inner_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_h(self) -> float:
        return self.height - self.top - self.bottom

    def y(self, value: float) -> float:
        span = self.high - self.low or 1
        return self.top + self.inner_h * (1 - (value - self.low) / span)


def _open(frame: _Frame, label: str, css_class: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}" '
        f'class="chart {css_class}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet"><title>{escape(label)}</title>'
    ]


def _y_axis(frame: _Frame, ticks: Sequence[float], title: str) -> list[str]:
    parts = []
    for tick in ticks:
        y = _f(frame.y(tick))
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y}" y2="{y}" stroke="{GRID}"/>'
            f'<text x="{frame.left - 6}" y="{_f(frame.y(tick) + 4)}" text-anchor="end" {TICK}>'
            f"{_tick_label(tick)}</text>"
        )
    middle = _f(frame.top + frame.inner_h / 2)
    parts.append(
        f'<text class="axis-title y-title" x="14" y="{middle}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle})" {TITLE}>{escape(title)}</text>'
    )
    return parts


def _x_axis(frame: _Frame, labels: Sequence[tuple[float, str]], title: str) -> list[str]:
    parts = [
        f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_f(frame.top + frame.inner_h)}" '
        f'y2="{_f(frame.top + frame.inner_h)}" stroke="{MUTED}"/>'
    ]
    for x, text in labels:
        parts.append(
            f'<text x="{_f(x)}" y="{frame.height - 28}" text-anchor="middle" {TICK}>{escape(text)}</text>'
        )
    parts.append(
        f'<text class="axis-title x-title" x="{_f(frame.left + frame.inner_w / 2)}" y="{frame.height - 6}" '
        f'text-anchor="middle" {TITLE}>{escape(title)}</text>'
    )
    return parts


def _thin(count: int, most: int = 6) -> int:
    return max(1, math.ceil(count / most))


def line_chart(
    points: Sequence[tuple[str, float]],
    *,
    label: str,
    x_title: str,
    y_title: str,
    width: int = 480,
    height: int = 250,
    css_class: str = "line-chart",
) -> SafeString:
    """A line through ``points`` — (x label, value) in order — starting the y axis at zero."""
    values = [value for _, value in points]
    top = max(values, default=0)
    bottom = min(0, min(values, default=0))
    ticks = nice_ticks(bottom, max(top, bottom + 1))
    frame = _Frame(width=width, height=height, low=ticks[0], high=ticks[-1])
    count = len(points)
    step = frame.inner_w / max(count - 1, 1)

    def x(i: int) -> float:
        return frame.left + (i * step if count > 1 else frame.inner_w / 2)

    parts = _open(frame, label, css_class) + _y_axis(frame, ticks, y_title)
    every = _thin(count)
    parts += _x_axis(frame, [(x(i), text) for i, (text, _) in enumerate(points) if i % every == 0], x_title)
    if count:
        coords = " ".join(f"{_f(x(i))},{_f(frame.y(v))}" for i, (_, v) in enumerate(points))
        parts.append(
            f'<polyline class="series" fill="none" stroke="{BLUE}" stroke-width="2" points="{coords}"/>'
        )
        for i, (text, value) in enumerate(points):
            parts.append(
                f'<circle cx="{_f(x(i))}" cy="{_f(frame.y(value))}" r="{2.5 if count <= 60 else 1.5}" '
                f'fill="{BLUE}"><title>{escape(text)}: {_tick_label(value)}</title></circle>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def movement_chart(
    rows: Sequence[tuple[str, int, int]],
    *,
    label: str,
    x_title: str,
    y_title: str,
    width: int = 480,
    height: int = 250,
    css_class: str = "movement-chart",
) -> SafeString:
    """Bars per period — (label, entered, exited) — entries above the zero line, exits below it."""
    most_in = max((entered for _, entered, _ in rows), default=0)
    most_out = max((exited for _, _, exited in rows), default=0)
    ticks = nice_ticks(-most_out if most_out else 0, most_in if most_in or most_out else 1)
    frame = _Frame(width=width, height=height, low=ticks[0], high=ticks[-1])
    count = max(len(rows), 1)
    slot = frame.inner_w / count
    bar = max(1.0, min(slot * 0.7, 40))

    def centre(i: int) -> float:
        return frame.left + slot * (i + 0.5)

    parts = _open(frame, label, css_class) + _y_axis(frame, ticks, y_title)
    every = _thin(len(rows))
    parts += _x_axis(
        frame, [(centre(i), text) for i, (text, _, _) in enumerate(rows) if i % every == 0], x_title
    )
    zero = frame.y(0)
    parts.append(
        f'<line x1="{frame.left}" x2="{frame.width - frame.right}" '
        f'y1="{_f(zero)}" y2="{_f(zero)}" stroke="{INK}"/>'
    )
    for i, (text, entered, exited) in enumerate(rows):
        x = _f(centre(i) - bar / 2)
        if entered:
            top = frame.y(entered)
            parts.append(
                f'<rect class="entered" x="{x}" y="{_f(top)}" width="{_f(bar)}" height="{_f(zero - top)}" '
                f'fill="{GREEN}"><title>{escape(text)}: {entered} entered</title></rect>'
            )
        if exited:
            bottom = frame.y(-exited)
            parts.append(
                f'<rect class="exited" x="{x}" y="{_f(zero)}" width="{_f(bar)}" height="{_f(bottom - zero)}" '
                f'fill="{RED}"><title>{escape(text)}: {exited} exited</title></rect>'
            )
    legend_x = frame.width - frame.right - 150
    parts.append(
        f'<rect x="{legend_x}" y="{frame.top}" width="10" height="10" fill="{GREEN}"/>'
        f'<text x="{legend_x + 14}" y="{frame.top + 9}" {TICK}>entered</text>'
        f'<rect x="{legend_x + 76}" y="{frame.top}" width="10" height="10" fill="{RED}"/>'
        f'<text x="{legend_x + 90}" y="{frame.top + 9}" {TICK}>exited</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))
