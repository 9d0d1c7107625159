"""ECharts options built on the server from the same numbers the pages show (one JSON per chart)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# The page's own font stack (base.html): system CJK fonts first, the bundled Noto Sans CJK last
FONT_STACK = '-apple-system, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", MarketPilotCJK, sans-serif'


def bar(
    categories: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    stacked: bool = False,
    colors: Sequence[str] | None = None,
    unit: str | None = None,
) -> dict[str, Any]:
    """`unit` names the value axis (CNY, %): a legend is hidden for one series, so without it a lone
    line or bar says nothing of what it measures."""
    return {
        "animation": False,  # a dashboard is read, not watched; screenshots and tests see final bars
        "textStyle": {"fontFamily": FONT_STACK},
        **({"color": list(colors)} if colors else {}),
        "tooltip": {"trigger": "axis"},
        "legend": {"show": len(series) > 1},
        "grid": {"left": 48, "right": 16, "top": 32, "bottom": 48, "containLabel": True},
        "xAxis": {"type": "category", "data": list(categories), "axisLabel": {"interval": 0, "rotate": 30}},
        "yAxis": {"type": "value", **({"name": unit} if unit else {})},
        "series": [
            {"name": name, "type": "bar", "data": [round(float(v), 2) for v in values]}
            | ({"stack": "total"} if stacked else {})
            for name, values in series.items()
        ],
    }


def line(
    categories: Sequence[str], series: dict[str, Sequence[float]], *, unit: str | None = None
) -> dict[str, Any]:
    options = bar(categories, series, unit=unit)
    for item in options["series"]:
        item["type"] = "line"
        item["smooth"] = True
    return options
