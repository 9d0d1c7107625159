"""`marketpilot serve` for real: uvicorn in a child process on a free port, called over HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from served import free_port, serving

from marketpilot.cli import app, run_app


def test_serve_answers_over_http_with_keys_and_stops_on_sigterm(home: Path, tmp_path: Path):
    # a plain comma-separated list, as people type it (the JSON list form works too: tests/test_config.py)
    keys = {"MARKETPILOT_API_KEYS": "other-key,s3cret-key"}
    with serving(home, env=keys, log=tmp_path / "serve.log") as served:
        body = {"texts": ["包装破损，客服推脱，再也不买了", "孩子很喜欢，下次还来"]}
        assert httpx.post(f"{served.url}/v1/reviews/sentiment", json=body).status_code == 401
        response = httpx.post(
            f"{served.url}/v1/reviews/sentiment", json=body, headers={"X-API-Key": "s3cret-key"}, timeout=30
        )
        assert response.status_code == 200
        assert [r["label"] for r in response.json()["results"]] == ["neg", "pos"]
        assert response.headers["content-type"].startswith("application/json")
    # uvicorn shuts down gracefully, then re-raises the signal so the exit status says why it stopped
    assert served.process.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in served.log.read_text()


def test_serve_refuses_to_start_open_to_the_network(home: Path, monkeypatch, capsys):
    monkeypatch.delenv("MARKETPILOT_API_KEYS", raising=False)
    monkeypatch.setattr(sys, "argv", ["marketpilot", "serve", "--port", "1"])
    assert run_app(app) == 2
    assert "No API keys" in capsys.readouterr().err
    wide_open = ["marketpilot", "serve", "--host", "0.0.0.0", "--no-auth", "--port", "1"]
    monkeypatch.setattr(sys, "argv", wide_open)
    assert run_app(app) == 2
    assert "open the API to the network" in capsys.readouterr().err


def test_serve_with_a_malformed_key_list_says_which_variable_without_a_traceback(
    home: Path, monkeypatch, capsys
):
    monkeypatch.setenv("MARKETPILOT_API_KEYS", '["k-test-123"')
    monkeypatch.setattr(sys, "argv", ["marketpilot", "serve", "--port", "1"])
    assert run_app(app) == 2
    err = capsys.readouterr().err
    assert "Bad setting: MARKETPILOT_API_KEYS: not a JSON list" in err and "Traceback" not in err


def test_uvicorn_factory_with_a_bad_setting_prints_one_line_and_stops_its_workers(home: Path):
    """`uvicorn --factory marketpilot.api:create_app` (docs/api.md): the setting named without a
    traceback, exit status 3 (uvicorn's startup failure); with --workers the supervisor stops instead of
    restarting the failing workers forever."""
    environment = os.environ | {"MARKETPILOT_API_KEYS": "s3cr3t 密钥"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "marketpilot.api:create_app", "--port"]
    single = subprocess.run(
        [*command, str(free_port())], env=environment, capture_output=True, text=True, timeout=120
    )
    assert single.returncode == 3
    assert single.stderr.splitlines() == [
        "Error: Bad setting: MARKETPILOT_API_KEYS: a key is empty or holds a space, a quote, a bracket or a "
        "non-ASCII character; give one key, several separated by commas (k1,k2) or a JSON list "
        '(\'["k1", "k2"]\')'
    ]
    workers = [*command, str(free_port()), "--workers", "2"]
    supervised = subprocess.run(workers, env=environment, capture_output=True, text=True, timeout=120)
    assert "failed to start, stopping the parent process" in supervised.stderr
    assert "Traceback" not in supervised.stderr and "s3cr3t" not in supervised.stderr
