"""The held-out Qini curves as a PNG: how much of each arm's incremental outcome the top-scored
customers deliver, against a random order (the diagonal)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from marketpilot.analytics.reports import chart_font, save_png


def qini_chart(curves: dict[str, np.ndarray], outcome: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chart_font()  # arm names may be Chinese
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arm, curve in curves.items():
        depth = np.arange(1, len(curve) + 1) / len(curve)
        (line,) = ax.plot(depth, curve, label=arm)
        ax.plot([0, 1], [0, curve[-1]], linestyle="--", color=line.get_color(), alpha=0.6)
    ax.axhline(0, color="#888", linewidth=0.8)
    ax.set_xlabel("share of customers targeted, highest uplift first")
    ax.set_ylabel(f"incremental {outcome} (held-out rows)")
    ax.set_title("Qini curves (dashed: random targeting)")
    ax.legend(loc="lower right")
    return save_png(fig, path)
