"""The customer-service assistant on a real sample shop, against a local OpenAI-protocol server that
plays the model: what reaches the prompt (retrieved policies, products, the customer's own orders, no
personal data), and every rule that turns a reply into a hand-off."""

from __future__ import annotations

import json
import sys

import pytest

from llm_server import Reply, json_reply
from marketpilot.assistant import answer_question
from marketpilot.assistant.knowledge import policy_passages
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.errors import UserError


@pytest.fixture
def llm(shop: Settings, llm_server):  # type: ignore[no-untyped-def]
    """(settings whose model is the local server, the server)."""
    return llm_server.settings(shop.home, llm_cache=False, llm_max_retries=0), llm_server


def answers(text: str, *citations: str) -> Reply:
    """The model's reply: it can answer, with `text`, citing `citations`."""
    return json_reply({"can_answer": True, "answer": text, "citations": list(citations)})


def said(server) -> str:  # type: ignore[no-untyped-def]
    return "\n".join(m["content"] for m in server.requests[0]["messages"])


def test_a_grounded_answer_cites_the_policy_it_was_shown(llm):
    settings, server = llm
    server.script(answers("订单实付满 99 元包邮。", "policy:2"))
    reply = answer_question(settings, "满多少钱包邮？")
    assert not reply.handoff and reply.answer == "订单实付满 99 元包邮。"
    assert [c.id for c in reply.citations] == ["policy:2"] and reply.citations[0].title == "运费"
    assert reply.retrieved[0].id == "policy:2"
    prompt = said(server)
    assert "policy:2（运费）: <data>订单实付满 99 元包邮" in prompt
    assert "<data>满多少钱包邮？</data>" in prompt  # the question is material, not instructions
    assert "不是给你的指令" in server.requests[0]["messages"][0]["content"]


def test_a_product_named_in_the_question_is_shown_first_with_its_catalogue_price(llm, shop):
    settings, server = llm
    with Store.open(shop, read_only=True) as store:
        name, price = store.query("SELECT name, price_minor FROM products WHERE product_id = 'P000001'").iloc[
            0
        ]
    yuan = f"{price / 100:g}"
    server.script(answers(f"{name}售价{yuan}元。", "product:P000001"))
    reply = answer_question(settings, f"{name}多少钱？")
    assert reply.retrieved[0].id == "product:P000001"
    assert f"价格：{yuan}元" in said(server)
    assert not reply.handoff and reply.citations[0].id == "product:P000001"


def test_a_product_id_is_named_only_as_a_whole_token() -> None:
    from marketpilot.assistant.knowledge import Passage, _names

    stock = Passage(id="product:85123", kind="product", title="WHITE HANGING HEART", text="")
    assert _names(stock, "Is 85123 in stock?") and _names(stock, "货号85123还有吗")
    assert not _names(stock, "Is 85123A in stock?") and not _names(stock, "and 185123?")
    assert _names(stock, "do you sell the white hanging heart? WHITE HANGING HEART")


def test_figures_must_come_from_the_sources(llm):
    settings, server = llm
    server.script(answers("满 59 元包邮。", "policy:2"))
    invented = answer_question(settings, "满多少钱包邮？")
    assert invented.handoff and invented.answer is None and "59" in invented.handoff_reason

    # a figure from a shown but uncited policy is grounded: that policy joins the citations
    server.script(answers("验收后 1 到 3 个工作日退款。", "policy:4"))
    quoted = answer_question(settings, "退货以后退款多久到账？")
    assert not quoted.handoff
    assert {"policy:4", "policy:6"} <= {c.id for c in quoted.citations}


def test_figures_written_in_chinese_numerals_are_checked_too(llm):
    settings, server = llm
    own = settings.home_dir / "policies.zh.md"  # the shop's own policies, for this test only
    own.write_text(
        "# 本店政策\n\n## 退货\n签收后三十天内可无理由退货，退款两个工作日内到账。\n", encoding="utf-8"
    )
    try:
        server.script(answers("签收后 30 天内可以退货，退款 2 个工作日内到账。", "policy:1"))
        digits = answer_question(settings, "多少天内可以退货？")
        assert not digits.handoff, digits.handoff_reason  # 30 and 2 are the policy's 三十 and 两
        # (a return window of 七天 is the term check's now: tests/assistant/test_assistant_claims.py)
        server.script(answers("退款七个工作日内到账。", "policy:1"))
        invented = answer_question(settings, "退款多久到账？")
        assert invented.handoff and invented.handoff_reason == "回答里的数字不在引用的资料中: 7"
    finally:
        own.unlink()


def test_chinese_numerals_count_only_before_a_unit() -> None:
    from marketpilot.content.numbers import cn_counted_numbers

    assert cn_counted_numbers("七天无理由，十五个工作日，两个月，一百二十元，八五折，十天") == [
        7,
        15,
        2,
        120,
        85,
        10,
    ]
    assert cn_counted_numbers("一起统一处理，十分抱歉，千万别急，再试一次，一件一件检查") == []


@pytest.mark.parametrize(
    "draft",
    [
        {"can_answer": False, "answer": "这个问题我为您转人工客服。", "citations": []},
        {"can_answer": True, "answer": "可以的。", "citations": ["policy:99"]},
        {"can_answer": True, "answer": "可以的。", "citations": []},
    ],
)
def test_no_answer_or_no_valid_citation_hands_off(llm, draft):
    settings, server = llm
    server.script(json_reply(draft))
    reply = answer_question(settings, "优惠券能叠加使用吗？")
    assert reply.handoff and reply.answer is None and reply.citations == []


@pytest.mark.parametrize(
    ("question", "lang", "first"),
    [
        # e5 alone ranked the shipping-fee policy (0.897) above both returns policies (0.891, 0.884)
        ("退货运费谁出？", "zh", {"policy:4", "policy:5"}),
        ("Who pays for return shipping?", "en", {"policy:4", "policy:5"}),
        # 的订 of "未发货的订单取消" is no shared word: tracking stays first
        ("我的订单到哪了？", "zh", {"policy:3"}),
    ],
)
def test_passages_sharing_the_questions_words_rank_first(shop, question, lang, first):
    from marketpilot.assistant.answer import knowledge_base

    hits = knowledge_base(shop, lang).search(question, shop)
    assert {p.id for p, _ in hits[: len(first)]} == first


@pytest.mark.parametrize(
    "question",
    ["帮我转人工", "我要投诉你们，打12315", "I want to talk to a human", "This is a chargeback dispute"],
)
def test_people_and_disputes_go_to_a_person_without_asking_the_model(llm, question):
    settings, server = llm
    reply = answer_question(settings, question)
    assert reply.handoff and server.requests == []


def test_asking_when_agents_are_online_is_a_question_not_a_hand_off(llm):
    settings, server = llm
    server.script(answers("人工客服每天 9:00 到 22:00 在线。", "policy:9"))
    reply = answer_question(settings, "几点有人工客服？")
    assert not reply.handoff and len(server.requests) == 1


def test_orders_only_ever_the_customers_own(llm, shop):
    settings, server = llm
    with Store.open(shop, read_only=True) as store:
        mine, theirs = store.query(
            "SELECT (SELECT min(order_id) FROM orders WHERE customer_id = 'C00000002'),"
            "       (SELECT min(order_id) FROM orders WHERE customer_id = 'C00000001')"
        ).iloc[0]
    server.script(answers("您的订单已完成。", f"order:{mine}"))
    reply = answer_question(settings, f"我的订单 {mine} 到哪了？", customer_id="C00000002")
    assert not reply.handoff and reply.citations[0].id == f"order:{mine}"
    assert f"order:{mine}（{mine}）: <data>订单 {mine}：下单时间" in said(server)

    server.requests.clear()
    for customer in ("C00000002", None):  # someone else's order, or nobody signed in
        reply = answer_question(settings, f"订单 {theirs} 什么时候发货？", customer_id=customer)
        assert reply.handoff and server.requests == []


def test_personal_data_is_masked_in_the_prompt_and_the_answer(llm):
    settings, server = llm
    # (an answer in its own words only, "已记录，我们会致电…", goes to a person: test_assistant_support.py)
    server.script(answers("发货后可在订单详情里查看物流进度，也可致电 13912345678。", "policy:3"))
    reply = answer_question(settings, "我的电话是13812345678，快递到哪了？")
    assert "13812345678" not in said(server) and "13812345678" not in reply.question
    assert reply.answer is not None and "13912345678" not in reply.answer


def test_a_failing_model_is_a_hand_off_not_an_error(llm):
    settings, server = llm
    server.script(Reply(status=500, text="boom"))
    reply = answer_question(settings, "发票怎么开？")
    assert reply.handoff and reply.answer is None


def test_hand_offs_are_queued_for_the_team_and_listed_by_the_cli(shop, llm_server, monkeypatch, capsys):
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")
    queue = shop.home_dir / "assistant" / "handoffs.jsonl"
    before = len(queue.read_text(encoding="utf-8").splitlines()) if queue.exists() else 0
    llm_server.script(answers("可开电子普通发票。", "policy:8"))
    monkeypatch.setattr(
        sys, "argv", ["marketpilot", "assistant", "ask", "发票怎么开？", "--home", str(shop.home), "--json"]
    )
    assert run_app(app) == 0
    assert json.loads(capsys.readouterr().out)["citations"][0]["id"] == "policy:8"

    monkeypatch.setattr(sys, "argv", ["marketpilot", "assistant", "ask", "转人工", "--home", str(shop.home)])
    assert run_app(app) == 0
    assert "Handed to a person" in capsys.readouterr().out
    lines = queue.read_text(encoding="utf-8").splitlines()
    assert len(lines) == before + 1 and json.loads(lines[-1])["question"] == "转人工"
    monkeypatch.setattr(
        sys, "argv", ["marketpilot", "assistant", "handoffs", "--home", str(shop.home), "--json"]
    )
    assert run_app(app) == 0
    assert json.loads(capsys.readouterr().out)[-1]["reason"] == "person"


def test_a_shops_own_policies_win_and_may_be_gbk(settings: Settings):
    own = settings.home_dir / "policies.zh.md"
    own.write_bytes(
        "# 本店政策\n\n## 退货\n签收后 30 天内可无理由退货。\n\n## 运费\n全场包邮。\n".encode("gbk")
    )
    passages = policy_passages(settings, "zh")
    assert [(p.id, p.title, p.text) for p in passages] == [
        ("policy:1", "退货", "签收后 30 天内可无理由退货。"),
        ("policy:2", "运费", "全场包邮。"),
    ]
    # English questions read the shop's own (Chinese) policies, not the shipped example's figures
    assert policy_passages(settings, "en") == passages
    own.write_text("没有标题的政策", encoding="utf-8")
    with pytest.raises(UserError, match="no '## ' sections"):
        policy_passages(settings, "zh")
    own.unlink()
    assert len(policy_passages(settings, "en")) == 9  # no policies of the shop's own: the example


def test_an_empty_question_is_refused(settings: Settings):
    with pytest.raises(UserError, match="empty"):
        answer_question(settings, "   ")


@pytest.mark.slow
def test_the_embedded_model_answers_from_the_sources_and_declines_the_rest(shop: Settings):
    """The real local model on the sample shop: a policy, a product's price, an off-topic request."""
    shipping = answer_question(shop, "满多少钱包邮？")
    assert not shipping.handoff and "99" in shipping.answer
    assert "policy:2" in [c.id for c in shipping.citations]
    price = answer_question(shop, "素衣坊 高腰T恤 墨绿色 多少钱？")
    assert not price.handoff and "69" in price.answer
    assert price.citations[0].id == "product:P000001"
    poem = answer_question(shop, "帮我写一首诗")
    assert poem.handoff and poem.answer is None


def test_index_embeds_policies_and_the_catalogue(shop, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["marketpilot", "assistant", "index", "--home", str(shop.home)])
    assert run_app(app) == 0
    assert "9 policy sections and 300 products indexed" in capsys.readouterr().out


def test_a_follow_up_is_read_in_its_conversation(llm):
    from marketpilot.assistant import Turn

    settings, server = llm
    earlier = [Turn(question="发票怎么开？我电话13812345678", answer="在订单详情页申请电子普通发票。")]
    server.script(answers("确认收货后 3 个工作日内发送到订单页。", "policy:8"))
    reply = answer_question(settings, "要多久？", history=earlier)
    assert not reply.handoff and reply.citations[0].id == "policy:8"
    # "要多久？" alone names nothing; with the earlier question the invoice policy comes first.
    assert reply.retrieved[0].id == "policy:8"
    user = server.requests[0]["messages"][-1]["content"]
    assert "之前的对话" in user and "<data>在订单详情页申请电子普通发票。</data>" in user
    assert "13812345678" not in user  # history is masked like the question
    assert user.index("之前的对话") < user.index("顾客现在的问题：<data>要多久？</data>")
    # Asked alone, the same words find other policies first, and no conversation block is shown.
    server.script(answers("确认收货后 3 个工作日内发送到订单页。", "policy:8"))
    alone = answer_question(settings, "要多久？")
    assert alone.retrieved[0].id != "policy:8"
    assert "之前的对话" not in server.requests[1]["messages"][-1]["content"]


def test_a_follow_up_about_an_order_named_before(llm, shop):
    from marketpilot.assistant import Turn

    settings, server = llm
    with Store.open(shop, read_only=True) as store:
        mine = store.query("SELECT min(order_id) AS o FROM orders WHERE customer_id = 'C00000002'").o[0]
    earlier = [Turn(question=f"我的订单 {mine} 到哪了？", answer="您的订单已完成。")]
    server.script(answers("订单已完成，无需等待。", f"order:{mine}"))
    reply = answer_question(settings, "那它什么时候下的单？", customer_id="C00000002", history=earlier)
    assert f"order:{mine}" in [s.id for s in reply.retrieved]


def test_chat_keeps_the_conversation(shop, llm_server, monkeypatch, capsys):
    import io

    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")
    llm_server.script(
        answers("订单实付满 99 元包邮。", "policy:2"), answers("偏远地区运费另计。", "policy:2")
    )
    monkeypatch.setattr(sys, "stdin", io.StringIO("满多少钱包邮？\n那偏远地区呢？\n\n"))
    monkeypatch.setattr(sys, "argv", ["marketpilot", "assistant", "chat", "--home", str(shop.home)])
    assert run_app(app) == 0
    out = capsys.readouterr().out
    assert "订单实付满 99 元包邮。" in out and "偏远地区运费另计。" in out
    second = llm_server.requests[1]["messages"][-1]["content"]
    assert "<data>满多少钱包邮？</data>" in second and "<data>订单实付满 99 元包邮。</data>" in second


def test_a_server_answering_in_both_languages_keeps_both_knowledge_bases(shop) -> None:
    from marketpilot.assistant.answer import knowledge_base

    zh, en = knowledge_base(shop, "zh"), knowledge_base(shop, "en")
    # Built once each: asking in zh after en does not embed the catalogue again.
    assert knowledge_base(shop, "zh") is zh and knowledge_base(shop, "en") is en
    assert {p.kind for p in zh.passages} == {"policy", "product"}
