"""docs/python-api.md runs as written: its ```python blocks, in order, in one namespace, in a fresh
directory. Blocks marked `# needs an LLM` talk to the local OpenAI-protocol test server (llm_server),
which answers with schema-valid examples: they prove the calls and their plumbing, not the prose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llm_server import json_reply
from marketpilot.errors import MarketPilotError

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "python-api.md"
LLM_MARK = "# needs an LLM"
# The planner's draft must name things the shop has; the server's generic example ("示例") does not.
PLAN_DRAFT = {"name": "双11唤醒", "goal": "reactivation", "channels": ["sms"], "max_messages": 3000}
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_the_blocks_are_found() -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 20
    assert sum(b.startswith(LLM_MARK) for b in blocks) >= 4  # marked on their first line, as the doc says
    assert all(LLM_MARK not in b.split("\n", 1)[1] for b in blocks)  # the mark is only ever the first line


def test_the_python_api_page_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, llm_server, data_dir: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(data_dir)  # the page reads the bundled Hillstrom file as data/…
    namespace: dict[str, object] = {"__name__": "python_api_doc"}
    for number, block in enumerate(python_blocks(DOC.read_text(encoding="utf-8")), 1):
        if "plan_campaign(" in block:
            llm_server.script(json_reply(PLAN_DRAFT))
        try:
            exec(compile(block, f"docs/python-api.md block {number}", "exec"), namespace)
        except MarketPilotError as exc:  # the message says what the page got wrong
            pytest.fail(f"block {number} raised {type(exc).__name__}: {exc}\n{block}")

    home = tmp_path / "shop-home"
    assert (home / "intel" / "rfm.parquet").exists()
    assert (home / "recommend" / "recommendations.parquet").exists()
    assert not (tmp_path / ".marketpilot").exists()  # nothing written outside the page's home
    # What the page says about the results holds.
    check = namespace["check"]
    assert not check.ok  # type: ignore[attr-defined]
    assert [(v.rule, v.text) for v in check.violations] == [("ad_law", "最")]  # type: ignore[attr-defined]
    assert namespace["audience"] > 0
    run = namespace["run"]
    assert run.sent > 0 and set(run.plan.arms) == {"A", "B", "holdout"}  # type: ignore[attr-defined]
    assert namespace["proposal"].version == 2  # type: ignore[attr-defined]
    assert namespace["customers_per_arm"](0.10, 0.20) == 3841  # type: ignore[operator]
    queue = (home / "assistant" / "handoffs.jsonl").read_text(encoding="utf-8")
    assert "我要投诉" in queue  # the complaint went to a person
    assert llm_server.requests, "the blocks marked as needing an LLM did not reach the model"
