"""Each sentence of an answer must stand in the passages it cites: "运费由店铺承担" under the
shipping-fee policy, which says nothing of who pays for returns, goes to a person though no figure,
name or promise in it is wrong; the embedded model's real answers, quoted from the policies they cite,
stay as they are. The drafts below marked "real" are the embedded model's (Qwen2.5-Coder-1.5B, prompt
v3) on the sample shop, replayed through the OpenAI-protocol server."""

from __future__ import annotations

import re

import pytest

from llm_server import json_reply
from marketpilot.assistant import answer_question
from marketpilot.assistant.knowledge import Passage, policy_passages
from marketpilot.assistant.support import support, unsupported_sentences
from marketpilot.config import Settings

ZH_DROPPED = "回答的内容在引用的资料中找不到依据"


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Passage]]:
    from marketpilot.config import get_settings

    settings = get_settings(tmp_path_factory.mktemp("support") / "home")
    return {lang: {p.id: p for p in policy_passages(settings, lang)} for lang in ("zh", "en")}


def ask(shop: Settings, server, question: str, answer: str, *cited: str, customer: str | None = None):  # type: ignore[no-untyped-def]
    settings = server.settings(shop.home, llm_cache=False, llm_max_retries=0)
    server.script(json_reply({"can_answer": True, "answer": answer, "citations": list(cited)}))
    return answer_question(settings, question, customer_id=customer)


@pytest.mark.parametrize(
    ("lang", "question", "answer", "cited"),
    [
        # who pays for a return, from the shipping-fee policy: the shop pays for faulty items only,
        # the customer for no-reason returns; neither is in the policy cited
        ("zh", "退货运费谁出？", "运费由店铺承担。", "policy:2"),
        ("zh", "退货运费谁出？", "运费由顾客承担。", "policy:2"),  # real
        ("en", "Who pays for return shipping?", "The shop pays the return postage.", "policy:2"),
        # an answer of its own words only
        ("zh", "快递到哪了？", "已记录，我们会致电 [电话]。", "policy:3"),
        ("en", "Can I combine two coupons?", "Yes, stacking discounts is welcome at checkout.", "policy:7"),
    ],
)
def test_a_sentence_the_cited_passages_do_not_hold_is_unsupported(policies, lang, question, answer, cited):
    text, dropped = unsupported_sentences(answer, [policies[lang][cited]], question)
    assert text == "" and dropped == [answer]


@pytest.mark.parametrize(
    ("lang", "question", "answer", "cited"),
    [
        ("zh", "退货运费谁出？", "无理由退货的寄回运费由顾客承担。", "policy:4"),
        ("zh", "退货运费谁出？", "退货运费需要您自己承担。", "policy:4"),  # in its own words
        ("zh", "我的快递到哪了？", "您的订单已发货，可以在订单详情里查看物流进度。", "policy:3"),
        ("zh", "满多少钱包邮？", "订单实付满 99 元包邮；不满 99 元收取运费 8 元。", "policy:2"),  # real
        (
            "en",
            "Who pays for return shipping?",
            "For no-reason returns, the customer pays the return postage.",
            "policy:4",
        ),
        (
            "en",
            "Who pays for return shipping?",
            "If the item is faulty, we pay for shipping it back.",
            "policy:5",
        ),
        (
            "en",
            "How long do refunds take?",
            "Refunds are returned within 1 to 3 working days after inspection.",
            "policy:6",
        ),
    ],
)
def test_answers_the_cited_passages_hold_are_kept(policies, lang, question, answer, cited):
    assert unsupported_sentences(answer, [policies[lang][cited]], question) == (answer, [])


def test_only_the_unsupported_sentence_is_dropped(policies):
    answer = "签收后 7 天内可申请七天无理由退货。退货运费由店铺承担，还送一张优惠券。"
    text, dropped = unsupported_sentences(answer, [policies["zh"]["policy:4"]], "可以退货吗？")
    assert text == "签收后 7 天内可申请七天无理由退货。" and dropped == [
        "退货运费由店铺承担，还送一张优惠券。"
    ]
    answer = "Unused items can be returned within 7 days. Our friendly team will also gift-wrap the exchange."
    text, dropped = unsupported_sentences(answer, [policies["en"]["policy:4"]], "Can I return it?")
    assert text == "Unused items can be returned within 7 days." and len(dropped) == 1


def test_courtesies_and_other_languages_are_not_judged(policies):
    # "好的。" says nothing: it is not judged, and not enough to answer once the rest is dropped
    assert unsupported_sentences("好的。", [policies["zh"]["policy:2"]], "满多少钱包邮？") == ("好的。", [])
    text, dropped = unsupported_sentences(
        "好的。运费由店铺承担。", [policies["zh"]["policy:2"]], "退货运费谁出？"
    )
    assert text == "" and dropped == ["运费由店铺承担。"]
    # an English answer from a shop's Chinese policies is not read word by word against them
    assert support("Orders of 99 yuan or more ship free.", "运费 订单实付满 99 元包邮", "Is it free?") is None


def test_a_word_only_the_question_has_counts_half(policies):
    source = f"{policies['en']['policy:2'].title} {policies['en']['policy:2'].text}"
    # shop, pay, return, postage: pay is the policy's ("Remote regions pay"), return only the question's
    assert support("The shop pays the return postage.", source, "Who pays for return shipping?") == 1.5 / 4


def test_an_answer_its_cited_policy_does_not_hold_goes_to_a_person(shop, llm_server):
    """Through the whole answer path: the wrong answer the embedded model gave with nobody signed in."""
    reply = ask(shop, llm_server, "退货运费谁出？", "运费由店铺承担。", "policy:2")
    assert reply.handoff and reply.answer is None
    assert reply.handoff_reason == f"{ZH_DROPPED}: 运费由店铺承担。"
    # its answer now (real, signed in or not): right for no-reason returns only, and not from the
    # policy it cites
    reply = ask(shop, llm_server, "退货运费谁出？", "运费由顾客承担。", "policy:2", customer="C00000001")
    assert reply.handoff and reply.handoff_reason == f"{ZH_DROPPED}: 运费由顾客承担。"
    queued = (shop.home_dir / "assistant" / "handoffs.jsonl").read_text(encoding="utf-8")
    assert '"reason": "unsupported"' in queued
    # the same words under the policy that says them are answered
    reply = ask(shop, llm_server, "质量问题退货运费谁出？", "寄回运费由店铺承担。", "policy:5")
    assert not reply.handoff and reply.answer == "寄回运费由店铺承担。"


def test_the_embedded_models_real_answers_are_kept(shop, llm_server):
    """Real drafts, quoted from the policies they cite; one cites the tracking policy for a figure of
    the shipping-fee policy, which the figure check adds to its citations."""
    for question, answer, cited in REAL_KEPT:
        reply = ask(shop, llm_server, question, answer, *cited)
        assert not reply.handoff and reply.answer == answer, (question, reply.handoff_reason)


def test_an_answer_is_never_sent_without_its_unsupported_sentence(shop, llm_server):
    """Found in review: the dropped sentence can be the "but" that reverses the rest; the customer was
    told only that unused items can be returned."""
    reply = ask(
        shop,
        llm_server,
        "Can I return my swimsuit?",
        "Unused items can be returned within 7 days. But swimwear is excluded.",
        "policy:4",
    )
    assert reply.handoff and reply.answer is None
    assert reply.handoff_reason.endswith(": But swimwear is excluded.")


def test_an_order_answer_may_draw_on_the_policies_shown_with_it(shop, llm_server):
    """Citing only the customer's order, "see the tracking in the order details" was handed off: the
    words are the tracking policy's, shown beside the order."""
    ask(
        shop,
        llm_server,
        "我的订单到哪了？",
        "发货后可在订单详情里查看物流进度。",
        "policy:3",
        customer="C00000001",
    )
    order = re.search(r"order:[\w-]+", llm_server.requests[-1]["messages"][-1]["content"])
    assert order is not None
    answer = "可以在订单详情里查看物流进度。"
    reply = ask(shop, llm_server, "我的订单到哪了？", answer, order.group(), customer="C00000001")
    assert not reply.handoff and reply.answer == answer
    # a policy answer is read against what it cites only
    assert ask(shop, llm_server, "退货运费谁出？", "运费由店铺承担。", "policy:2").handoff


@pytest.mark.parametrize(
    ("question", "answer", "cited", "orders_first"),
    [
        ("退货运费谁出？", "无理由退货的寄回运费由顾客承担。", "policy:4", False),
        # "我买的…" is about a bought item, not about an order's whereabouts (found in review)
        ("我买的裙子能退吗？", "签收后 7 天内可申请七天无理由退货。", "policy:4", False),
        ("我的订单到哪了？", "发货后可在订单详情里查看物流进度。", "policy:3", True),
        ("Where is my order?", "Tracking shows on the order page.", "policy:3", True),
    ],
)
def test_the_customers_orders_lead_the_prompt_only_for_order_questions(
    shop, llm_server, question, answer, cited, orders_first
):
    """Signed in, the customer's orders are shown, after the policies unless the question is about an
    order."""
    ask(shop, llm_server, question, answer, cited, customer="C00000001")
    prompt = llm_server.requests[-1]["messages"][-1]["content"]
    assert "order:" in prompt
    assert (prompt.index("order:") < prompt.index(cited)) == orders_first


REAL_KEPT: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "满多少钱包邮？",
        "订单实付满 99 元包邮（港澳台及海外除外）；不满 99 元收取运费 8 元。"
        "偏远地区（新疆、西藏）另收运费 15 元。",
        ("policy:2",),
    ),
    (
        "多久发货？",
        "现货商品在付款后 48 小时内发货；预售商品以商品页写明的发货时间为准。"
        "节假日和大促（双11、618）期间发货可能顺延 1 到 3 天。",
        ("policy:1", "policy:6"),
    ),
    (
        "能开发票吗？",
        "可以开具电子普通发票，在订单详情页申请，确认收货后 3 个工作日内发送到订单页。",
        ("policy:8",),
    ),
    (
        "退款多久到账？",
        "退货商品到仓验收通过后 1 到 3 个工作日内原路退款；未发货的订单取消后 24 小时内退款。",
        ("policy:6",),
    ),
    (
        "几点有人工客服？",
        "人工客服每天 9:00 到 22:00 在线；其他时间可以留言，上班后按顺序回复。",
        ("policy:9",),
    ),
    ("偏远地区运费多少？", "偏远地区（新疆、西藏）另收运费 15 元。", ("policy:3",)),
    (
        "七天无理由退货有什么条件？",
        "签收后 7 天内，商品未使用、吊牌和包装完好，可申请七天无理由退货。"
        "贴身衣物、定制商品和已拆封的食品不支持无理由退货。无理由退货的寄回运费由顾客承担。",
        ("policy:4",),
    ),
    (
        "Is shipping free?",
        "Yes, shipping is free for orders of 99 or more; below that, shipping costs 8."
        " Remote regions pay an extra 15.",
        ("policy:2",),
    ),
    (
        "Can I get an invoice?",
        "Yes, you can get an invoice on the order page and it will arrive within 3 working days of delivery"
        " confirmation.",
        ("policy:8",),
    ),
    (
        "How long do refunds take?",
        "Refunds go back to the original payment method within 1 to 3 working days after the returned item"
        " passes inspection; orders cancelled before dispatch are refunded within 24 hours.",
        ("policy:6",),
    ),
]
