"""Decision reports: the narrative may quote only the figures; an invented number sends it back and
then a template takes over. The LLM is the OpenAI-protocol test server (the network edge)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_budget import _history

from marketpilot.analytics.budget import HistoryFile, plan_budget
from marketpilot.analytics.decision_report import budget_facts, write_decision_report
from marketpilot.cli import app, run_app


@pytest.fixture
def plan(tmp_path: Path):  # type: ignore[no-untyped-def]
    spec = HistoryFile(
        path=_history(tmp_path / "h.csv"), channel_col="渠道", spend_col="花费", outcome_col="收入"
    )
    return plan_budget(spec, 40_000.0)


def test_a_narrative_quoting_the_figures_is_kept(llm_server, llm_settings, plan) -> None:
    facts = budget_facts(plan, "zh")
    search = next(c for c in plan.allocation.channels if c.channel == "搜索广告")
    text = (
        f"建议把 {facts['budget']} 的预算按边际回报相等分配，预计收入 {facts['expected_outcome']}，"
        f"其中搜索广告占 {facts['搜索广告_share_percent']}%（{search.spend}）。"
    )
    llm_server.script(text)
    path, narrative = write_decision_report(llm_settings, "budget", facts, language="zh")
    assert narrative.source == "llm" and narrative.text == text
    body = path.read_text("utf-8")
    assert text in body and "| 搜索广告·建议投入 |" in body and "模板生成" not in body
    user = llm_server.requests[0]["messages"][-1]["content"]
    assert "渠道预算分配" in user and "<data>" in user and "- 信息流·曲线拟合优度 R²:" in user


def test_an_invented_number_falls_back_to_the_template(llm_server, llm_settings, plan) -> None:
    facts = budget_facts(plan, "en")
    llm_server.script("Spend 55% on search for a 3x return.", "Still 55% on search.")
    path, narrative = write_decision_report(llm_settings, "budget", facts, language="en")
    assert narrative.source == "template" and "55%" in narrative.rejected
    assert len(llm_server.requests) == 2
    retry = llm_server.requests[1]["messages"][-1]["content"]
    assert "55%" in retry and "not in the metrics" in retry
    body = path.read_text("utf-8")
    assert str(facts["expected_outcome"]) in body and "templated" in body


def test_cli_writes_the_report(llm_server, home: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    path = _history(tmp_path / "h.csv")
    args = ["decide", "budget", "--history", str(path), "--total", "40000", "--channel-col", "渠道"]
    args += ["--spend-col", "花费", "--outcome-col", "收入", "--report", "--lang", "en", "--json"]
    llm_server.script("Follow the split: it brings more than today's.")
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    assert run_app(app) == 0
    report = json.loads(capsys.readouterr().out)["report"]
    assert report["narrative_source"] == "llm"
    written = Path(report["path"]).read_text("utf-8")
    assert (
        "Decision report: channel budget split" in written
        and "![channel budget split](curves.png)" in written
    )


def test_headings_and_lists_are_sent_back_for_a_paragraph(llm_server, llm_settings, plan) -> None:
    llm_settings = llm_settings.model_copy(update={"llm_cache": False})  # the same prompt twice
    facts = budget_facts(plan, "zh")
    listy = f"### 预算分配\n\n1. **总预算**：{facts['budget']}\n2. **预期收入**：{facts['expected_outcome']}"
    share = facts["搜索广告_share_percent"]  # a line may begin with a figure such as 24.3%: not an item
    assert "." in str(share)
    paragraph = f"{share}% 的预算给搜索广告，合计 {facts['budget']}，预计收入 {facts['expected_outcome']}。"
    llm_server.script(listy, paragraph)
    _, narrative = write_decision_report(llm_settings, "budget", facts, language="zh")
    assert narrative.source == "llm" and narrative.text == paragraph
    assert "不要标题和列表" in llm_server.requests[1]["messages"][-1]["content"]
    llm_server.script(listy, listy)
    _, fallback = write_decision_report(llm_settings, "budget", facts, language="zh")
    assert fallback.source == "template" and fallback.rejected == ["headings or lists"]
