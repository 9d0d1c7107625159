"""`marketpilot llm check | chat | usage` against the local OpenAI-protocol server (and once for real)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import marketpilot.cli  # noqa: F401  (registers every command group)
from llm_server import OpenAITestServer, Reply
from marketpilot.cli.app import app

runner = CliRunner()


def test_check_json_reports_a_real_round_trip(llm_server: OpenAITestServer, home) -> None:
    llm_server.script("这款不锈钢保温杯保温长达12小时。")
    result = runner.invoke(app, ["llm", "check", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert set(payload) == {"ok", "provider", "model", "tokens_per_s", "latency_s", "sample"}
    assert (
        payload["ok"] is True and payload["provider"] == "openai_compat" and payload["model"] == "test-model"
    )
    assert payload["sample"] == "这款不锈钢保温杯保温长达12小时。" and payload["tokens_per_s"] > 0
    assert "不锈钢保温杯" in llm_server.requests[0]["messages"][-1]["content"]


def test_check_is_never_answered_from_the_cache(llm_server: OpenAITestServer, home) -> None:
    for _ in range(2):
        assert runner.invoke(app, ["llm", "check", "--json"]).exit_code == 0
    assert len(llm_server.requests) == 2


def test_check_failure_is_json_with_exit_code_3(llm_server: OpenAITestServer, home) -> None:
    llm_server.script(Reply(status=401, body="invalid api key"))
    result = runner.invoke(app, ["llm", "check", "--json"])
    assert result.exit_code == 3
    payload = json.loads(result.output)
    assert payload["ok"] is False and "MARKETPILOT_LLM_API_KEY" in payload["error"]


def test_check_json_without_a_base_url_is_json_naming_the_setting(
    home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "openai_compat")
    monkeypatch.delenv("MARKETPILOT_LLM_BASE_URL", raising=False)
    monkeypatch.setenv("MARKETPILOT_LLM_MODEL", "qwen-plus")
    result = runner.invoke(app, ["llm", "check", "--json"])
    assert result.exit_code == 3, result.output
    payload = json.loads(result.output)
    assert (payload["ok"], payload["provider"], payload["model"]) == (False, "openai_compat", "qwen-plus")
    assert "MARKETPILOT_LLM_BASE_URL" in payload["error"]


def test_check_json_against_a_dead_server_without_a_model_name(home, monkeypatch: pytest.MonkeyPatch) -> None:
    with OpenAITestServer() as server:
        dead_url = server.url  # nothing listens there once the server has stopped
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "openai_compat")
    monkeypatch.setenv("MARKETPILOT_LLM_BASE_URL", dead_url)
    monkeypatch.delenv("MARKETPILOT_LLM_MODEL", raising=False)  # so the client must ask /models
    result = runner.invoke(app, ["llm", "check", "--json"])
    assert result.exit_code == 3, result.output
    payload = json.loads(result.output)
    assert (payload["ok"], payload["provider"], payload["model"]) == (False, "openai_compat", None)
    assert f"{dead_url}/models" in payload["error"] and "connection failed" in payload["error"]
    assert "MARKETPILOT_LLM_BASE_URL" in payload["error"]  # what to check


def test_chat_streams_the_reply(llm_server: OpenAITestServer, home) -> None:
    llm_server.script("亲，双十一全场满300减50哦！")
    result = runner.invoke(app, ["llm", "chat", "有什么优惠？", "--system", "你是客服。"])
    assert result.exit_code == 0
    assert result.output.strip() == "亲，双十一全场满300减50哦！"
    sent = llm_server.requests[0]
    assert sent["stream"] is True and sent["messages"][0] == {"role": "system", "content": "你是客服。"}


def test_chat_json_then_usage_json(llm_server: OpenAITestServer, home) -> None:
    llm_server.script("Free shipping over $50.")
    chat = runner.invoke(app, ["llm", "chat", "Any deals?", "--json", "--temperature", "0"])
    assert json.loads(chat.output)["text"] == "Free shipping over $50."
    usage = runner.invoke(app, ["llm", "usage", "--json"])
    rows = json.loads(usage.output)
    assert [(r["provider"], r["model"], r["calls"], r["errors"]) for r in rows] == [
        ("openai_compat", "test-model", 1, 0)
    ]
    assert rows[0]["completion_tokens"] > 0
    table = runner.invoke(app, ["llm", "usage"])
    assert table.exit_code == 0 and "LLM usage" in table.output


@pytest.mark.slow
def test_check_with_the_embedded_model(home, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "llamacpp")
    monkeypatch.delenv("MARKETPILOT_LLM_MODEL_PATH", raising=False)
    result = runner.invoke(app, ["llm", "check", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["ok"] and payload["provider"] == "llamacpp" and payload["tokens_per_s"] > 0
    assert any("\u4e00" <= ch <= "\u9fff" for ch in payload["sample"])


def test_usage_with_nothing_recorded_says_so(home) -> None:
    table = runner.invoke(app, ["llm", "usage"])
    assert table.exit_code == 0, table.output
    assert "No LLM calls recorded" in table.output and "llm.sqlite" in table.output
    assert "provider/model" not in table.output
    recent = runner.invoke(app, ["llm", "usage", "--days", "7"])
    assert "No LLM calls recorded in the last 7 days" in recent.output
    assert json.loads(runner.invoke(app, ["llm", "usage", "--json"]).output) == []
