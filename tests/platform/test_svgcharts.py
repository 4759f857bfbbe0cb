"""Server-rendered SVG charts: known tick values, geometry, axis titles, and no inline style."""

import re
from datetime import date, timedelta

import pytest

from cxhub.svgcharts import line_chart, movement_chart, nice_ticks
from metrics.charts import trend_svg
from segments.views import kpi_charts


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0, 3, [0, 1, 2, 3]),
        (0, 1234, [0, 500, 1000, 1500]),
        (-3, 5, [-4, -2, 0, 2, 4, 6]),
        (-100, 100, [-100, -50, 0, 50, 100]),
        (0, 0, [0, 1]),
    ],
)
def test_nice_ticks_cover_the_range_in_round_steps(low, high, ticks):
    assert nice_ticks(low, high) == ticks


def _texts(svg: str, css_class: str) -> list[str]:
    return re.findall(rf'<text class="axis-title {css_class}"[^>]*>([^<]*)</text>', svg)


def test_line_chart_draws_one_point_per_value_with_axis_titles():
    svg = line_chart(
        [("01 Nov", 0), ("02 Nov", 10), ("03 Nov", 20)], label="Size", x_title="Day", y_title="Members"
    )
    assert _texts(svg, "x-title") == ["Day"] and _texts(svg, "y-title") == ["Members"]
    assert svg.count("<circle") == 3
    points = re.search(r'<polyline class="series"[^>]*points="([^"]+)"', svg).group(1).split()
    ys = [float(p.split(",")[1]) for p in points]
    # 0 sits on the bottom of the plot (y = 250 - 48), 20 on the top grid line (ticks 0…20, y = 14).
    assert ys == [202.0, 108.0, 14.0]
    assert "style=" not in svg and "<script" not in svg


def test_movement_chart_puts_entries_above_and_exits_below_the_zero_line():
    svg = movement_chart(
        [("w1", 4, 0), ("w2", 0, 2), ("w3", 0, 0)],
        label="Moves",
        x_title="Week",
        y_title="Customers per week",
    )
    entered = re.findall(r'<rect class="entered" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"', svg)
    exited = re.findall(r'<rect class="exited" x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)"', svg)
    assert len(entered) == 1 and len(exited) == 1  # nothing drawn for a quiet week
    # ticks -2…4: 188 px tall plot, 6 units, so one customer is 188/6 px; zero at y = 14 + 4 × 188/6.
    zero = 14 + 4 * 188 / 6
    assert float(entered[0][0]) == pytest.approx(14, abs=0.06)
    assert float(entered[0][1]) == pytest.approx(zero - 14, abs=0.06)
    assert float(exited[0][0]) == pytest.approx(zero, abs=0.06)
    assert float(exited[0][1]) == pytest.approx(2 * 188 / 6, abs=0.06)
    assert _texts(svg, "x-title") == ["Week"] and _texts(svg, "y-title") == ["Customers per week"]


def test_chart_text_is_escaped():
    svg = line_chart([("<b>", 1)], label="a<b", x_title="x&y", y_title='"q"')
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "x&amp;y" in svg


def test_dashboard_trend_chart_names_its_axes():
    points = [{"group": "2026-01", "nps": 10.0, "n": 5}, {"group": "2026-02", "nps": -20.0, "n": 4}]
    svg = trend_svg(points, value_key="nps", low=-100, high=100, x_title="Month", y_title="NPS (points)")
    assert _texts(svg, "x-title") == ["Month"] and _texts(svg, "y-title") == ["NPS (points)"]
    assert "axis-title" not in trend_svg(points, value_key="nps", low=-100, high=100)


def test_segment_kpi_charts_follow_the_kpis():
    first = date(2026, 11, 2)
    per_day = [
        {"day": first + timedelta(days=i), "entered": i, "exited": 0, "size": 10 + i} for i in range(7)
    ]
    kpis = {
        "days": 7,
        "period": "week",
        "per_day": per_day,
        "per_period": [
            {"period": "2026-11-02", "start": first, "end": per_day[-1]["day"], "entered": 21, "exited": 3}
        ],
    }
    charts = kpi_charts(kpis)
    assert charts["size"].count("<circle") == 7
    assert "08 Nov: 16" in charts["size"]
    assert "02 Nov: 21 entered" in charts["movement"] and "02 Nov: 3 exited" in charts["movement"]
    assert _texts(charts["movement"], "x-title") == ["Week starting (UTC)"]
    assert _texts(charts["movement"], "y-title") == ["Customers per week"]
