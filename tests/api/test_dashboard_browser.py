"""The dashboard in a real headless Chromium (Debian's `chromium`): every chart draws its canvas once
the page's scripts ran, with the vendored ECharts and the bundled CJK font served by the app."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from marketpilot.config import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
def test_charts_draw_in_a_real_browser(shop: Settings, tmp_path: Path):
    port = free_port()
    env = os.environ | {"MARKETPILOT_HOME": str(shop.home)}
    command = [
        sys.executable,
        "-c",
        "from marketpilot.cli import main; main()",
        "serve",
        "--no-auth",
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.2)
        for path, charts in (
            ("/ui/", ["revenue"]),
            ("/ui/segments", ["segments"]),
            ("/ui/reviews", ["aspects"]),
        ):
            dom = rendered(url + path)
            for chart_id in charts:
                start = dom.index(f'id="{chart_id}"')
                assert "<canvas" in dom[start : start + 2000], f"{path}: chart {chart_id} drew nothing"
        assert httpx.get(f"{url}/ui/static/cjk.otf").headers["content-type"] == "font/otf"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
