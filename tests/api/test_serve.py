"""`marketpilot serve` for real: uvicorn in a child process on a free port, called over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from marketpilot.cli import app, run_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}: {process.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not come up")


def test_serve_answers_over_http_with_keys_and_stops_on_sigterm(home: Path):
    port = free_port()
    env = os.environ | {"MARKETPILOT_HOME": str(home), "MARKETPILOT_API_KEYS": json.dumps(["s3cret-key"])}
    command = [sys.executable, "-c", "from marketpilot.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, process)
        body = {"texts": ["包装破损，客服推脱，再也不买了", "孩子很喜欢，下次还来"]}
        assert httpx.post(f"{url}/v1/reviews/sentiment", json=body).status_code == 401
        response = httpx.post(
            f"{url}/v1/reviews/sentiment", json=body, headers={"X-API-Key": "s3cret-key"}, timeout=30
        )
        assert response.status_code == 200
        assert [r["label"] for r in response.json()["results"]] == ["neg", "pos"]
        assert response.headers["content-type"].startswith("application/json")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why it stopped
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in process.stderr.read()


def test_serve_refuses_to_start_open_to_the_network(home: Path, monkeypatch, capsys):
    monkeypatch.delenv("MARKETPILOT_API_KEYS", raising=False)
    monkeypatch.setattr(sys, "argv", ["marketpilot", "serve", "--port", "1"])
    assert run_app(app) == 2
    assert "No API keys" in capsys.readouterr().err
    wide_open = ["marketpilot", "serve", "--host", "0.0.0.0", "--no-auth", "--port", "1"]
    monkeypatch.setattr(sys, "argv", wide_open)
    assert run_app(app) == 2
    assert "open the API to the network" in capsys.readouterr().err
