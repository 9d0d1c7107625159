"""Settings read from the environment and marketpilot.toml: the forms a person types for a list
(one key, k1,k2, a JSON list) and a clear error naming the variable for anything else."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from marketpilot.config import get_settings
from marketpilot.errors import UserError


def _keys(home: Path) -> list[str]:
    return [key.get_secret_value() for key in get_settings(home).api_keys]


@pytest.mark.parametrize(
    ("env", "keys"),
    [
        ("k-test-123", ["k-test-123"]),
        ("k1,k2", ["k1", "k2"]),
        (" k1 , k2, ", ["k1", "k2"]),
        ('["k1", "k2"]', ["k1", "k2"]),
        ("", []),
    ],
)
def test_api_keys_from_the_environment(
    home: Path, monkeypatch: pytest.MonkeyPatch, env: str, keys: list[str]
):
    monkeypatch.setenv("MARKETPILOT_API_KEYS", env)
    assert _keys(home) == keys


@pytest.mark.parametrize(
    "env", ['["s3cr3t"', "['s3cr3t']", "s3cr3t other", '{"s3cr3t"}', "[1]", "密钥s3cr3t", "s3cr3t,,a b"]
)
def test_a_malformed_api_keys_value_names_the_variable_and_not_the_keys(
    home: Path, monkeypatch: pytest.MonkeyPatch, env: str
):
    monkeypatch.setenv("MARKETPILOT_API_KEYS", env)
    with pytest.raises(UserError) as caught:
        get_settings(home)
    message = str(caught.value)
    assert message.startswith("Bad setting: MARKETPILOT_API_KEYS: ") and "\n" not in message
    assert env not in message  # the value may be a secret


def test_api_keys_in_marketpilot_toml_take_the_same_forms(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    config = tmp_path / "marketpilot.toml"
    monkeypatch.setenv("MARKETPILOT_CONFIG", str(config))
    monkeypatch.delenv("MARKETPILOT_API_KEYS", raising=False)
    config.write_text('api_keys = ["k1", "k2"]\n', encoding="utf-8")
    assert _keys(home) == ["k1", "k2"]
    config.write_text('api_keys = "k1,k2"\n', encoding="utf-8")
    assert _keys(home) == ["k1", "k2"]
    config.write_text('api_keys = ["k 1"]\n', encoding="utf-8")
    with pytest.raises(UserError, match=f"api_keys in {config}: a key is empty or holds a space"):
        get_settings(home)


def test_llm_prices_that_are_not_json_name_the_variable(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MARKETPILOT_LLM_PRICES", '{"deepseek-chat": {"input": 2.0, "output": 8.0}}')
    assert get_settings(home).llm_prices == {"deepseek-chat": {"input": 2.0, "output": 8.0}}
    monkeypatch.setenv("MARKETPILOT_LLM_PRICES", "deepseek-chat=2.0")
    with pytest.raises(UserError, match=r"^Bad setting: MARKETPILOT_LLM_PRICES: not JSON"):
        get_settings(home)


def test_every_bad_setting_is_named_at_once(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MARKETPILOT_LANGUAGE", "fr")
    monkeypatch.setenv("MARKETPILOT_LLM_TIMEOUT_S", "sixty")
    with pytest.raises(UserError) as caught:
        get_settings(home)
    assert "MARKETPILOT_LANGUAGE: Input should be 'zh' or 'en'" in str(caught.value)
    assert "MARKETPILOT_LLM_TIMEOUT_S: Input should be a valid number" in str(caught.value)


def test_a_bad_channel_setting_stops_campaign_run_with_one_line(home: Path):
    """Channel settings (SMTP, webhook, export) are their own settings class, read by `campaign run`
    before it touches any state: a bad one is the same one line as any setting, exit status 2."""
    value = "端口s3cr3t"
    bad = {"MARKETPILOT_SMTP_PORT": value, "MARKETPILOT_WEBHOOK_TIMEOUT_S": "ten"}
    # stderr is a pipe, as in a log: the message must stay one line (rich would wrap it at 80 columns)
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | bad
    command = [
        sys.executable,
        "-c",
        "from marketpilot.cli import main; main()",
        "campaign",
        "run",
        "spring-1",
    ]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: Bad setting: MARKETPILOT_SMTP_PORT: Input should be a valid integer, unable to parse string "
        "as an integer; MARKETPILOT_WEBHOOK_TIMEOUT_S: Input should be a valid number, unable to parse "
        "string as a number"
    ]
    assert value not in done.stderr and "ten" not in done.stderr.split("; ")[1]


def _secrets_read_at_once(home: Path, clients: int) -> list[bytes | BaseException]:
    """What `clients` threads, each with its own Settings (as separate processes have), read as the
    home's secret when they all ask at the same moment."""
    barrier = threading.Barrier(clients)
    keys: list[bytes | BaseException] = []

    def read_key() -> None:
        settings = get_settings(home)
        settings.home_dir  # noqa: B018  (made before the race, as a started server has it)
        barrier.wait()
        try:
            keys.append(settings.secret())
        except BaseException as exc:
            keys.append(exc)

    threads = [threading.Thread(target=read_key) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return keys


def test_clients_opening_a_new_home_together_share_one_secret(tmp_path: Path):
    """Two `serve` workers (or jobs) asking at the same moment on a new home could each keep their own
    key, the last rename winning, so a dashboard cookie signed by one failed in the other (and one whose
    temporary file the other had already renamed crashed). Eight clients at once, on 40 new homes: one
    key each, private, no leftovers."""
    for home in (tmp_path / f"home{i}" for i in range(40)):
        keys = _secrets_read_at_once(home, 8)
        assert keys == [get_settings(home).secret()] * 8, home.name
        assert len(keys[0]) == 64 and (home / "secret.key").stat().st_mode & 0o777 == 0o600
        assert [p.name for p in home.iterdir()] == ["secret.key"]
