"""The dashboard in a real headless Chromium (Debian's `chromium`): every chart draws its canvas once
the page's scripts ran, with the vendored ECharts and the bundled CJK font served by the app."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from served import serving

from marketpilot.config import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered(url: str) -> str:
    """The page's DOM after its scripts ran."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=5000",
        "--dump-dom",
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_charts_draw_in_a_real_browser(shop: Settings, tmp_path: Path, data_dir: Path):
    from marketpilot.analytics.uplift import Experiment, fit_experiment

    features = ["recency", "history", "mens", "womens", "newbie", "channel"]
    fit_experiment(  # something on the decisions page
        Experiment(
            path=data_dir / "hillstrom" / "hillstrom.csv.gz",
            treatment_col="segment",
            control="No E-Mail",
            outcome_col="visit",
            features=features,
        ),
        shop,
    )
    with serving(shop.home, "--no-auth", log=tmp_path / "serve.log") as served:
        for path, charts in (
            ("/ui/", ["revenue"]),
            ("/ui/segments", ["segments"]),
            ("/ui/reviews", ["aspects"]),
            ("/ui/decisions", ["uplift"]),
        ):
            dom = rendered(served.url + path)
            for chart_id in charts:
                start = dom.index(f'id="{chart_id}"')
                assert "<canvas" in dom[start : start + 2000], f"{path}: chart {chart_id} drew nothing"
        assert httpx.get(f"{served.url}/ui/static/cjk.otf").headers["content-type"] == "font/otf"
