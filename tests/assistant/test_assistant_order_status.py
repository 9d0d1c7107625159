"""An answer's word on an order's status must fit the order's record: "已发货" of a cancelled order
goes to a person, though no figure in it is wrong."""

from __future__ import annotations

import pytest

from llm_server import json_reply
from marketpilot.assistant import answer_question
from marketpilot.assistant.order_status import claimed_statuses
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store

CUSTOMER = "C00000002"


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str, str]:
    """(a sample shop, one of CUSTOMER's completed orders, another of theirs marked cancelled)."""
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path_factory.mktemp("order_status") / "home")
    make_sample(settings, customers=300, seed=3)
    with Store.open(settings) as store:
        rows = store.query("SELECT * FROM orders WHERE customer_id = ? ORDER BY order_id", [CUSTOMER])
        assert len(rows) >= 2 and set(rows.status) == {"completed"}
        cancelled = rows.tail(1).assign(status="cancelled")
        with store.transaction():
            store.upsert("orders", cancelled)
    return settings, str(rows.order_id.iloc[0]), str(cancelled.order_id.iloc[0])


def ask(orders, llm_server, question: str, answer: str, *cited: str, lang: str | None = None):  # type: ignore[no-untyped-def]
    settings, _, _ = orders
    server_settings = llm_server.settings(settings.home, llm_cache=False, llm_max_retries=0)
    llm_server.script(json_reply({"can_answer": True, "answer": answer, "citations": list(cited)}))
    return answer_question(server_settings, question, customer_id=CUSTOMER, lang=lang)


def test_a_status_the_order_does_not_have_goes_to_a_person(orders, llm_server):
    _, done, cancelled = orders
    reply = ask(
        orders,
        llm_server,
        f"订单 {cancelled} 发货了吗？",
        "您的订单已发货，正在配送中。",
        f"order:{cancelled}",
    )
    assert reply.handoff and reply.handoff_reason == "回答里的订单状态与订单记录不符: shipped"
    reply = ask(orders, llm_server, f"订单 {done} 怎么样了？", "您的订单已取消。", f"order:{done}")
    assert reply.handoff and reply.handoff_reason.endswith(": cancelled")
    reply = ask(
        orders,
        llm_server,
        f"Where is order {cancelled}?",
        "Your order was delivered.",
        f"order:{cancelled}",
        lang="en",
    )
    assert reply.handoff and reply.handoff_reason.endswith(": completed")


def test_the_status_on_record_is_answered(orders, llm_server):
    _, done, cancelled = orders
    reply = ask(
        orders, llm_server, f"订单 {cancelled} 发货了吗？", "该订单已取消，没有发货。", f"order:{cancelled}"
    )
    assert not reply.handoff and reply.citations[0].id == f"order:{cancelled}"
    reply = ask(
        orders,
        llm_server,
        f"Was order {done} cancelled?",
        "No, your order was not cancelled. It was completed.",
        f"order:{done}",
        lang="en",
    )
    assert not reply.handoff


def test_an_answer_citing_no_order_is_held_to_the_orders_shown(orders, llm_server):
    """Signed in, the customer's latest orders are shown; an answer citing only a policy that still
    says "your order has shipped" must fit one of them (here one completed, one cancelled: it does;
    "returned" fits neither)."""
    reply = ask(orders, llm_server, "我的快递到哪了？", "您的订单已发货。", "policy:3")
    assert not reply.handoff
    reply = ask(orders, llm_server, "我的快递到哪了？", "您的订单已退货。", "policy:3")
    assert reply.handoff and reply.handoff_reason.endswith(": returned")


def test_conditions_and_negations_claim_nothing() -> None:
    assert claimed_statuses("如果订单已取消，款项会原路退回。") == set()
    assert claimed_statuses("您的订单没有取消。") == set()
    assert claimed_statuses("It hasn't shipped yet. Once it is delivered, you can rate it.") == set()
    assert claimed_statuses("您的订单不是已取消，而是已完成。") == {"completed"}
    assert claimed_statuses("订单已退款成功。Your order was refunded.") == {"returned"}
