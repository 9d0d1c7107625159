"""The HTML segment report: persona cards, a stats table and charts (segment sizes, RFM grid, CLV
distribution) as PNGs embedded in one self-contained file."""

from __future__ import annotations

import base64
import io
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import numpy as np

from marketpilot.atomic import atomic_path, write_text
from marketpilot.config import Settings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from marketpilot.analytics.segments.service import CustomerTables, SegmentationResult

TEMPLATES = Path(__file__).parent / "templates"

_LABELS = {
    "zh": {
        "title": "客户细分报告",
        "sizes": "各细分的客户数与销售额占比",
        "customers": "客户数",
        "revenue_share": "销售额占比",
        "rfm": "RFM 网格：客户数（R 分 × F 分）",
        "r": "R 分（越高越近期）",
        "f": "F 分（越高越频繁）",
        "clv": "未来一年 CLV 分布（对数坐标）",
        "clv_x": "CLV",
        "segment": "细分",
        "why_k": "为什么分成这么多个细分",
        "under_minimum": "少于最小细分规模",
    },
    "en": {
        "title": "Customer segment report",
        "sizes": "Customers and revenue share per segment",
        "customers": "Customers",
        "revenue_share": "Revenue share",
        "rfm": "RFM grid: customers by R score × F score",
        "r": "R score (higher = more recent)",
        "f": "F score (higher = more frequent)",
        "clv": "Predicted 1-year CLV distribution (log scale)",
        "clv_x": "CLV",
        "segment": "Segment",
        "why_k": "Why this number of segments",
        "under_minimum": "under the minimum segment size",
    },
}


@cache
def chart_font() -> str | None:
    """A font that draws Chinese: the bundled Noto Sans CJK, else any CJK font matplotlib can find,
    else None (charts still render; Chinese labels may show as boxes)."""
    from matplotlib import font_manager, rcParams

    from marketpilot.errors import UserError

    try:
        from marketpilot.content.fonts import use_cjk_font_in_matplotlib

        return use_cjk_font_in_matplotlib()
    except (ImportError, UserError, OSError):
        pass
    wanted = (
        "Noto Sans CJK",
        "Noto Sans SC",
        "Source Han Sans",
        "WenQuanYi",
        "SimHei",
        "Microsoft YaHei",
        "PingFang",
    )
    for font in font_manager.fontManager.ttflist:
        if font.name.startswith(wanted):
            rcParams["font.sans-serif"] = [font.name, *rcParams["font.sans-serif"]]
            rcParams["axes.unicode_minus"] = False
            return font.name
    return None


def save_png(fig: Figure, path: Path) -> Path:
    """Write a chart as a PNG file, whole or not at all (temp file, then rename), and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _png(fig: Figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(result: SegmentationResult, tables: CustomerTables, lang: str) -> dict[str, str]:
    """The three charts as base64 PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chart_font()
    text = _LABELS[lang]
    out: dict[str, str] = {}

    segs = result.segments
    names = [f"{p.stats.segment}. {p.persona.name}"[:18] for p in segs]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.bar(names, [p.stats.customers for p in segs], color="#4C78A8")
    ax.set_ylabel(text["customers"])
    ax.set_title(text["sizes"])
    twin = ax.twinx()
    twin.plot(names, [p.stats.revenue_share * 100 for p in segs], "o-", color="#F58518")
    twin.set_ylabel(f"{text['revenue_share']} (%)")
    ax.tick_params(axis="x", labelrotation=20)
    out["sizes"] = _png(fig)

    grid = np.zeros((5, 5))
    counts = tables.rfm.groupby(["f_score", "r_score"]).size()
    for (f, r), n in counts.items():
        grid[int(f) - 1, int(r) - 1] = n
    fig, ax = plt.subplots(figsize=(5, 4))
    image = ax.imshow(grid, origin="lower", cmap="Blues")
    ax.set_xticks(range(5), labels=[str(i) for i in range(1, 6)])
    ax.set_yticks(range(5), labels=[str(i) for i in range(1, 6)])
    ax.set_xlabel(text["r"])
    ax.set_ylabel(text["f"])
    ax.set_title(text["rfm"])
    for (i, j), n in np.ndenumerate(grid):
        ax.text(
            j,
            i,
            f"{int(n)}",
            ha="center",
            va="center",
            fontsize=8,
            color="black" if n < grid.max() / 2 else "white",
        )
    fig.colorbar(image, ax=ax)
    out["rfm"] = _png(fig)

    clv = tables.assignments["clv"].to_numpy(dtype=float)
    clv = clv[np.isfinite(clv) & (clv > 0)]
    fig, ax = plt.subplots(figsize=(6, 3))
    if len(clv):
        bins = np.logspace(np.log10(clv.min()), np.log10(clv.max()), 40) if clv.max() > clv.min() else 10
        ax.hist(clv, bins=bins, color="#54A24B")
        ax.set_xscale("log")
    ax.set_xlabel(text["clv_x"])
    ax.set_ylabel(text["customers"])
    ax.set_title(text["clv"])
    out["clv"] = _png(fig)
    return out


def write_segment_report(
    settings: Settings, result: SegmentationResult, tables: CustomerTables, lang: str
) -> Path:
    """Render <home>/reports/segments.html (written to a temp file, then renamed)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    html = env.get_template("segment_report.html.j2").render(
        result=result, charts=charts(result, tables, lang), text=_LABELS[lang], lang=lang
    )
    target = settings.path("reports", "segments.html")
    write_text(target, html)
    return target
