"""ECharts options built on the server from the same numbers the pages show (one JSON per chart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# The page's own font stack (base.html): system CJK fonts first, the bundled Noto Sans CJK last
FONT_STACK = '-apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", MarketPilotCJK, sans-serif'
# Categories an axis shows at once with every label; beyond that the chart scrolls (years of
# months, hundreds of product categories) instead of drawing labels over each other.
WINDOW = 24


def bar(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    stacked: bool = False,
    colors: Sequence[str] | None = None,
    unit: str | None = None,
    latest_first: bool = False,
    scroll: bool = True,
) -> dict[str, Any]:
    """`unit` names the value axis (CNY, %): a legend is hidden for one series, so without it a lone
    line or bar says nothing of what it measures. Past WINDOW categories the chart opens on the first
    WINDOW with a slider for the rest (`latest_first`: on the last, as a time line wants), unless
    `scroll` is off (a curve read whole, its labels thinned by the caller). A value of None draws no
    bar (ECharts' null: nothing to measure there, as an arm not sent on a channel), not a zero one."""
    many = scroll and len(categories) > WINDOW
    return {
        "animation": False,  # a dashboard is read, not watched; screenshots and tests see final bars
        "textStyle": {"fontFamily": FONT_STACK},
        **({"color": list(colors)} if colors else {}),
        "tooltip": {"trigger": "axis"},
        "legend": {"show": len(series) > 1},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 72 if many else 48, "containLabel": True},
        "xAxis": {"type": "category", "data": list(categories), "axisLabel": {"interval": 0, "rotate": 30}},
        **({"dataZoom": _scroll(len(categories), latest_first)} if many else {}),
        "yAxis": {"type": "value", **({"name": unit} if unit else {})},
        "series": [
            {"name": name, "type": "bar", "data": [None if v is None else round(float(v), 2) for v in values]}
            | ({"stack": "total"} if stacked else {})
            for name, values in series.items()
        ],
    }


def _scroll(n: int, latest_first: bool) -> list[dict[str, Any]]:
    start, end = (n - WINDOW, n - 1) if latest_first else (0, WINDOW - 1)
    return [
        {"type": "slider", "xAxisIndex": 0, "startValue": start, "endValue": end, "height": 18, "bottom": 8},
        {"type": "inside", "xAxisIndex": 0, "startValue": start, "endValue": end},
    ]


def line(
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    unit: str | None = None,
    scroll: bool = True,
) -> dict[str, Any]:
    """A time line: past WINDOW points it opens on the latest."""
    options = bar(categories, series, unit=unit, latest_first=True, scroll=scroll)
    for item in options["series"]:
        item["type"] = "line"
        item["smooth"] = True
    return options
