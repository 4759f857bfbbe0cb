"""Server-rendered SVG charts (no JavaScript, no CDN): a trend line with a margin band, and bars."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Presentation attributes inline, so a chart looks right on any page without a stylesheet.
TICK = 'class="tick" font-size="10" fill="#5f6b7a"'
LINE = 'class="line" fill="none" stroke="#2457c5" stroke-width="2"'
BAND = 'class="band" fill="#2457c5" fill-opacity="0.12"'
AXIS_TITLE = 'font-size="12" font-weight="600" fill="#1d2330"'


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def trend_svg(
    points: list[dict],
    *,
    value_key: str,
    low: float,
    high: float,
    margin_key: str | None = None,
    width: int = 640,
    height: int = 200,
    label: str = "",
    x_title: str = "",
    y_title: str = "",
) -> SafeString:
    """A line over ``points`` (dicts with ``group`` and ``value_key``); None values leave gaps.

    With ``margin_key`` a shaded band shows value ± margin (the 95% interval); ``x_title`` and
    ``y_title`` name the axes.
    """
    pad_l, pad_r, pad_t, pad_b = (58 if y_title else 36), 10, 10, (42 if x_title else 24)
    tick_row = height - (24 if x_title else 6)
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    count = max(len(points), 1)
    step = inner_w / max(count - 1, 1)

    def x(i: int) -> float:
        return pad_l + i * step

    def y(v: float) -> float:
        v = min(max(v, low), high)
        return pad_t + inner_h * (1 - (v - low) / (high - low))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
    ]
    for tick in (low, (low + high) / 2, high):
        parts.append(
            f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{_fmt(y(tick))}" '
            f'y2="{_fmt(y(tick))}" class="grid" stroke="#e4e8ef"/>'
            f'<text x="{pad_l - 4}" y="{_fmt(y(tick) + 4)}" text-anchor="end" {TICK}>{tick:g}</text>'
        )
    if margin_key:
        upper, lower = [], []
        for i, p in enumerate(points):
            v, m = p.get(value_key), p.get(margin_key)
            if v is not None and m is not None:
                upper.append(f"{_fmt(x(i))},{_fmt(y(v + m))}")
                lower.append(f"{_fmt(x(i))},{_fmt(y(v - m))}")
        if len(upper) > 1:
            parts.append(f'<polygon {BAND} points="{" ".join(upper + lower[::-1])}"/>')
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, p in enumerate(points):
        v = p.get(value_key)
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{_fmt(x(i))},{_fmt(y(v))}")
    if segment:
        segments.append(segment)
    for seg in segments:
        parts.append(f'<polyline {LINE} points="{" ".join(seg)}"/>')
    for i, p in enumerate(points):
        v = p.get(value_key)
        if v is not None:
            title = escape(f"{p.get('group')}: {v:g} (n={p.get('n', '')})")
            circle = f'<circle class="dot" fill="#2457c5" cx="{_fmt(x(i))}" cy="{_fmt(y(v))}" r="3">'
            parts.append(f"{circle}<title>{title}</title></circle>")
    label_every = max(1, count // 6)
    for i, p in enumerate(points):
        if i % label_every == 0:
            parts.append(
                f'<text x="{_fmt(x(i))}" y="{tick_row}" text-anchor="middle" {TICK}>'
                f"{escape(str(p.get('group', '')))}</text>"
            )
    if x_title:
        parts.append(
            f'<text class="axis-title x-title" x="{_fmt(pad_l + inner_w / 2)}" y="{height - 5}" '
            f'text-anchor="middle" {AXIS_TITLE}>{escape(x_title)}</text>'
        )
    if y_title:
        middle = _fmt(pad_t + inner_h / 2)
        parts.append(
            f'<text class="axis-title y-title" x="13" y="{middle}" text-anchor="middle" '
            f'transform="rotate(-90 13 {middle})" {AXIS_TITLE}>{escape(y_title)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def sparkline_svg(
    values: list[float], *, low: float, high: float, width: int = 160, height: int = 36
) -> SafeString:
    """A tiny line of recent scores, oldest first."""
    if not values:
        return mark_safe("")
    step = (width - 8) / max(len(values) - 1, 1)
    pts = " ".join(
        f"{_fmt(4 + i * step)},{_fmt(4 + (height - 8) * (1 - (min(max(v, low), high) - low) / (high - low)))}"
        for i, v in enumerate(values)
    )
    return mark_safe(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="sparkline" '
        f'role="img" aria-label="recent scores"><polyline {LINE} points="{pts}"/></svg>'
    )


def bars_svg(
    items: list[tuple[str, float | None]],
    *,
    label: str,
    axis_title: str,
    high: float | None = None,
    unit: str = "",
    width: int = 360,
    bar_height: int = 18,
) -> SafeString:
    """Horizontal bars, one per (name, value); None draws no bar and shows "–".

    Horizontal so long channel names stay readable on a phone; ``high`` fixes the scale
    (100 for shares), otherwise the largest value sets it.
    """
    pad_l, pad_r, pad_t, pad_b, gap = 96, 56, 6, 28, 6
    inner_w = width - pad_l - pad_r
    values = [v for _, v in items if v is not None]
    top = high if high is not None else max(values, default=0) or 1
    height = pad_t + pad_b + max(len(items), 1) * (bar_height + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart bars" '
        f'role="img" aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
    ]
    for i, (name, value) in enumerate(items):
        y = pad_t + i * (bar_height + gap)
        baseline = _fmt(y + bar_height * 0.7)
        parts.append(f'<text x="{pad_l - 6}" y="{baseline}" text-anchor="end" {TICK}>{escape(name)}</text>')
        if value is None:
            parts.append(f'<text x="{pad_l + 4}" y="{_fmt(y + bar_height * 0.7)}" {TICK}>–</text>')
            continue
        w = inner_w * min(max(value, 0), top) / top
        shown = f"{value:,.2f}".rstrip("0").rstrip(".") + unit
        parts.append(
            f'<rect class="bar" x="{pad_l}" y="{y}" width="{_fmt(w)}" height="{bar_height}" fill="#2457c5">'
            f"<title>{escape(name)}: {escape(shown)}</title></rect>"
            f'<text x="{_fmt(pad_l + w + 4)}" y="{_fmt(y + bar_height * 0.7)}" {TICK}>{escape(shown)}</text>'
        )
    axis_y = height - pad_b + 4
    parts.append(
        f'<line x1="{pad_l}" x2="{pad_l + inner_w}" y1="{axis_y}" y2="{axis_y}" stroke="#c9d1dc"/>'
        f'<text x="{pad_l}" y="{axis_y + 10}" text-anchor="middle" {TICK}>0</text>'
        f'<text x="{pad_l + inner_w}" y="{axis_y + 10}" text-anchor="middle" {TICK}>'
        f"{top:,g}{escape(unit)}</text>"
        f'<text class="axis-title" x="{pad_l + inner_w / 2}" y="{height - 2}" text-anchor="middle" '
        f'font-size="11" fill="#1f2a37">{escape(axis_title)}</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))
