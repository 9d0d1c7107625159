"""The assistant under what a shop's service team really sends it: product ids that look like order
numbers, English questions on a Chinese-only shop, undecodable bytes, pasted essays, blank customer
ids, a model that answers nothing, a policy file of bare headings, a torn line in the hand-off queue.
Each is a clear error (exit code 2) or a hand-off, never a traceback or a wrong answer."""

from __future__ import annotations

import io
import json
import sys

import pytest

from llm_server import Reply, json_reply
from marketpilot.assistant import answer_question
from marketpilot.assistant.knowledge import policy_passages, product_passages
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.errors import UserError


@pytest.fixture
def llm(shop: Settings, llm_server):  # type: ignore[no-untyped-def]
    """(settings whose model is the local server, the server)."""
    return llm_server.settings(shop.home, llm_cache=False, llm_max_retries=0), llm_server


def answers(text: str, *citations: str) -> Reply:
    return json_reply({"can_answer": True, "answer": text, "citations": list(citations)})


def cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["marketpilot", "assistant", *args])
    return run_app(app)


@pytest.mark.parametrize("customer", [None, "C00000002"])
def test_a_product_id_is_not_an_order_number(llm, customer):
    """P000001 has an order number's shape; asking its price is no order question, signed in or not."""
    settings, server = llm
    server.script(answers("这件商品有货。", "product:P000001"))
    reply = answer_question(settings, "P000001 还有货吗？", customer_id=customer)
    assert not reply.handoff, reply.handoff_reason
    assert "product:P000001" in [s.id for s in reply.retrieved] and len(server.requests) == 1


def test_english_questions_on_a_chinese_only_shop_use_its_own_policies(llm):
    settings, server = llm
    own = settings.home_dir / "policies.zh.md"  # the shop wrote its policies in Chinese only
    own.write_text("# 本店政策\n\n## 运费\n订单实付满 199 元包邮，不满收 12 元运费。\n", encoding="utf-8")
    try:
        server.script(answers("Orders of 199 yuan or more ship free.", "policy:1"))
        reply = answer_question(settings, "How much is shipping?")
        sources = server.requests[0]["messages"][-1]["content"]
        assert "满 199 元包邮" in sources and "Orders of 99 or more" not in sources  # not the example's
        assert reply.lang == "en" and not reply.handoff and reply.citations[0].title == "运费"
    finally:
        own.unlink()


def test_undecodable_text_is_a_clear_error_before_anything_runs(llm):
    settings, server = llm
    queue = settings.home_dir / "assistant" / "handoffs.jsonl"
    before = queue.read_bytes() if queue.exists() else b""
    with pytest.raises(UserError, match="not valid text"):  # a hand-off, were it readable
        answer_question(settings, "转人工\udcff")
    assert server.requests == [] and (queue.read_bytes() if queue.exists() else b"") == before


def test_the_cli_refuses_bytes_that_are_not_utf8(shop, llm_server, monkeypatch, capsys):
    # A GBK terminal: argv holds the undecodable bytes as surrogate escapes.
    assert cli(monkeypatch, "ask", "包邮吗\udcb0\udcfc", "--home", str(shop.home)) == 2
    assert "not valid text" in capsys.readouterr().err and llm_server.requests == []


def test_a_pasted_essay_is_refused_with_its_length(llm, monkeypatch, capsys):
    settings, server = llm
    with pytest.raises(UserError, match="20,000 characters long; at most 2,000"):
        answer_question(settings, "包" * 20_000)
    assert server.requests == []
    assert cli(monkeypatch, "ask", "包" * 2001, "--home", str(settings.home)) == 2
    assert "at most 2,000" in capsys.readouterr().err


def test_chat_reports_an_unreadable_question_and_goes_on(shop, llm_server, monkeypatch, capsys):
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")
    llm_server.script(answers("订单实付满 99 元包邮。", "policy:2"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("包" * 2500 + "\n满多少钱包邮？\n\n"))
    assert cli(monkeypatch, "chat", "--home", str(shop.home)) == 0
    out, err = capsys.readouterr()
    assert "at most 2,000" in err and "订单实付满 99 元包邮。" in out
    assert len(llm_server.requests) == 1  # the essay never reached the model


@pytest.mark.parametrize("customer", ["", "  "])
def test_a_blank_customer_id_is_nobody_signed_in(llm, customer):
    settings, _ = llm
    reply = answer_question(settings, "订单 O0000000001 到哪了？", customer_id=customer)
    assert reply.handoff and reply.handoff_reason == "查询订单需要先登录"


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_answer_is_a_hand_off(llm, text):
    settings, server = llm
    server.script(answers(text, "policy:2"))
    reply = answer_question(settings, "满多少钱包邮？")
    assert reply.handoff and reply.answer is None


def test_a_policy_file_of_bare_headings_is_an_error(settings: Settings):
    (settings.home_dir / "policies.zh.md").write_text("## 运费\n\n## 退货\n", encoding="utf-8")
    with pytest.raises(UserError, match="every '## ' section is empty"):
        policy_passages(settings, "zh")


def test_attributes_read_as_text_not_python(settings: Settings):
    from marketpilot.data.sample import make_sample

    make_sample(settings, customers=20, seed=1)
    with Store.open(settings) as store:
        attributes = json.dumps({"颜色": None, "尺码": ["S", "M"]}, ensure_ascii=False)
        store.con.execute("UPDATE products SET attributes = ? WHERE product_id = 'P000001'", [attributes])
    text = next(p.text for p in product_passages(settings, "zh") if p.id == "product:P000001")
    assert text.endswith("属性：尺码：S/M") and "None" not in text


def test_a_torn_line_in_the_queue_neither_hides_it_nor_swallows_the_next(settings, monkeypatch, capsys):
    queue = settings.path("assistant", "handoffs.jsonl")
    queue.write_text('{"at": "2026-01-01T00:00:00+00:00", "question": "半行', encoding="utf-8")  # a crash
    assert answer_question(settings, "转人工").handoff  # no model needed
    assert cli(monkeypatch, "handoffs", "--json") == 0
    out, err = capsys.readouterr()
    assert [r["question"] for r in json.loads(out)] == ["转人工"] and "Skipped 1 unreadable line" in err


def test_a_failing_model_names_its_server_to_the_team_only(llm):
    settings, server = llm
    server.script(Reply(status=500, text="boom"))
    reply = answer_question(settings, "发票怎么开？")
    assert reply.handoff and reply.handoff_reason == "模型调用失败"  # what a customer may be shown
    queued = (settings.home_dir / "assistant" / "handoffs.jsonl").read_text(encoding="utf-8").splitlines()
    assert "127.0.0.1" not in reply.model_dump_json() and "HTTP 500" in json.loads(queued[-1])["detail"]


def test_a_failing_model_is_retried_once_then_a_person_takes_over(shop, llm_server):
    """The configured 4 retries suit batch jobs; a customer waiting on a hung server gets one retry."""
    settings = llm_server.settings(shop.home, llm_cache=False, llm_max_retries=4)
    llm_server.script(Reply(status=503, text="busy"), answers("可开电子普通发票。", "policy:8"))
    assert not answer_question(settings, "发票怎么开？").handoff and len(llm_server.requests) == 2
    llm_server.script(*[Reply(status=500, text="boom")] * 3)
    assert answer_question(settings, "发票怎么开？").handoff
    assert len(llm_server.requests) == 4 and llm_server.pending == 1
