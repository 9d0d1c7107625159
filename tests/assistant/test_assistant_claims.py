"""What an answer names and promises must be in its sources: "小米手环9 Pro" from a catalogue that has
only 小米手环8, "支持货到付款" when no policy says so, or "30天无理由退货" from a 7-day policy goes to a
person though no figure in it is wrong; the names of a real catalogue and the terms of the shipped
policies, quoted back, never do."""

from __future__ import annotations

import csv
import gzip
import random
import re
from pathlib import Path

import pytest

from llm_server import json_reply
from marketpilot.assistant import answer_question
from marketpilot.assistant.claims import (
    named_products,
    numbered_words,
    promises,
    unsupported_products,
    unsupported_promises,
)
from marketpilot.assistant.knowledge import Passage, policy_passages, product_passages
from marketpilot.assistant.terms import Term, answer_terms, source_terms, unsupported_terms
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store

BAND = "小米手环8 NFC版"


def product(title: str, text: str = "", pid: str = "P1") -> Passage:
    return Passage(id=f"product:{pid}", kind="product", title=title, text=text or title)


def policy(text: str, title: str = "政策") -> Passage:
    return Passage(id="policy:1", kind="policy", title=title, text=text)


def test_a_model_the_sources_do_not_have_is_named() -> None:
    band = [product(BAND, f"{BAND}；价格：199元")]
    assert unsupported_products("推荐小米手环9 Pro，续航很长。", band) == ["手环9 Pro"]
    assert unsupported_products("小米手环8 售价199元。", band) == []
    assert unsupported_products("小米手环8 Pro 售价199元。", band) == ["手环8 Pro"]  # another model
    assert unsupported_products("小米手环88 售价199元。", band) == ["手环88"]  # 手环8 is not 手环88
    earbuds = [product("声阔 降噪蓝牙耳机 黑色")]
    assert unsupported_products("推荐声阔 X200 降噪耳机。", earbuds) == ["X200"]
    assert unsupported_products("We recommend the iPhone 15 Pro.", earbuds) == ["iPhone 15 Pro"]
    assert unsupported_products("The Sony WH-1000XM5 is in stock.", earbuds) == ["WH-1000XM5"]
    # a word the catalogue numbers (小米 of 小米14 Pro) names a model when a number follows it
    numbered = numbered_words(["小米14 Pro 黑色", "素衣坊 高腰T恤 墨绿色", "婴儿湿巾 80抽×6包"])
    assert numbered == {"小米"}
    assert unsupported_products("小米15有货。", band, numbered) == ["小米15"]
    assert unsupported_products("小米15有货。", band) == []  # without that catalogue, a brand is no name


def test_generic_words_quantities_and_negations_name_nothing() -> None:
    assert named_products("蓝牙耳机和手环都有货，耳机2个起发。") == []
    assert named_products("满99包邮，运费是8，尺码41有货，9:00 到 22:00 在线，1 到 3 个工作日退款。") == []
    assert named_products("快充侠 快充充电宝 20000mAh，婴儿湿巾 80抽×6包，拖鞋 36-37。") == []
    assert named_products("Orders of 99 or more ship free; refunds take 1 to 3 working days.") == []
    assert named_products("It costs CNY 69. Size 41 is in stock. Placed on December 12, 2024.") == []
    assert named_products("本店没有小米手环9，推荐小米手环8。") == [("手环8", "手环8")]
    assert named_products("We don't sell the Pixel 8. The iPhone 15 is not available.") == []


def test_a_name_is_held_case_spaces_and_hyphens_aside() -> None:
    sunscreen = [product("雪颜 温和防晒霜 SPF30 60ml")]
    assert unsupported_products("雪颜温和防晒霜spf30有货。", sunscreen) == []
    assert unsupported_products("雪颜防晒霜 SPF50 有货。", sunscreen) == ["SPF50"]  # not SPF3060
    headphones = [product("SONY WH1000XM5 HEADPHONES")]
    assert unsupported_products("The Sony WH-1000XM5 headphones are in stock.", headphones) == []
    # the product id and the order number are the sources' own
    assert unsupported_products("P1 有货。", [product("x")]) == []


def test_every_name_of_the_sample_catalogue_quoted_back_is_held(band_shop) -> None:  # type: ignore[no-untyped-def]
    for lang in ("zh", "en"):
        passages = product_passages(band_shop[0], lang)
        numbered = numbered_words(p.title for p in passages)
        held = "售价{}，有货。" if lang == "zh" else " costs {} and is in stock."
        flagged = [
            p.title
            for p in passages
            if unsupported_products(
                p.title + held.format(re.search(r"(?:价格|price)：([^；;]+)", p.text).group(1)),  # type: ignore[union-attr]
                [p],
                numbered,
            )
        ]
        assert (len(passages), flagged) == (300, [])


def test_english_catalogue_names_are_held_and_swapped_ones_caught(data_dir: Path) -> None:
    """The 3,958 described stock codes of UCI Online Retail ("SET OF 6 3D KIT CARDS FOR KIDS"), quoted
    back in capitals and in title case: none is flagged against its own row; named against another
    product's row, nearly all that carry a model-like name are."""
    names: dict[str, str] = {}
    with gzip.open(data_dir / "samples" / "online_retail.csv.gz", "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["Description"].strip():
                names.setdefault(row["StockCode"], row["Description"].strip())
    rows = [product(name, pid=code) for code, name in names.items()]
    rng = random.Random(0)
    flagged, named, caught = [], 0, 0
    for row in rows:
        for answer in (f"The {row.title} costs 2.55 GBP.", f"Yes, we have the {row.title.title()} in stock."):
            flagged += unsupported_products(answer, [row])
        if named_products(answer):
            other = rng.choice(rows)
            if other.title != row.title:
                named += 1
                caught += bool(unsupported_products(answer, [other]))
    assert len(rows) == 3958 and flagged == []
    assert named > 400 and caught / named > 0.98


def test_a_promise_must_be_made_by_a_source_or_a_policy() -> None:
    shipping = [policy("订单实付满 99 元包邮；不满 99 元收取运费 8 元。", "运费")]
    assert unsupported_promises("支持货到付款，满 99 元包邮。", [], shipping) == ["货到付款"]
    assert unsupported_promises("订单满 99 元包邮。", [], shipping) == []
    assert unsupported_promises("Orders of 99 or more ship free.", [], shipping) == []  # 包邮 in zh
    assert unsupported_promises("Cash on delivery is available.", [], shipping) == ["Cash on delivery"]
    assert unsupported_promises("We offer price protection and free pickup.", [], shipping) == [
        "price protection",
        "free pickup",
    ]
    # a source that refuses the service does not make the promise
    refused = [policy("本店暂不支持货到付款。", "付款")]
    assert unsupported_promises("本店支持货到付款。", [], refused) == ["货到付款"]
    assert unsupported_promises("本店暂不支持货到付款。", [], refused) == []


def test_a_negated_promise_is_none() -> None:
    assert promises("暂不支持货到付款。抱歉，资料里没有关于上门取件的说明。") == {}
    assert promises("Cash on delivery is not available; we do not offer price protection.") == {}
    assert promises("贴身衣物不支持无理由退货，其他商品签收后 7 天内可无理由退货。") == {
        "no_reason_returns": "无理由退"
    }
    assert promises("可开电子普通发票，满 99 元包邮。") == {"invoice": "发票", "free_shipping": "包邮"}


def test_the_shipped_policies_make_their_own_promises(settings: Settings) -> None:
    zh, en = policy_passages(settings, "zh"), policy_passages(settings, "en")
    made = {
        lang: {key for p in ps for key in promises(f"{p.title}。{p.text}")}
        for lang, ps in (("zh", zh), ("en", en))
    }
    assert made["zh"] == made["en"] == {"free_shipping", "no_reason_returns", "invoice"}


@pytest.fixture(scope="module")
def band_shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, int]:
    """(a sample shop whose P000001 is 小米手环8 NFC版, its price in yuan)."""
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path_factory.mktemp("claims") / "home")
    make_sample(settings, customers=300, seed=3)
    with Store.open(settings) as store:
        row = store.query("SELECT * FROM products WHERE product_id = 'P000001'")
        with store.transaction():
            store.upsert("products", row.assign(name=BAND, description=f"{BAND}，续航持久。"))
    return settings, int(row.price_minor.iloc[0]) // 100


def ask(band_shop, llm_server, question: str, answer: str, *cited: str, lang: str | None = None):  # type: ignore[no-untyped-def]
    settings, _ = band_shop
    server_settings = llm_server.settings(settings.home, llm_cache=False, llm_max_retries=0)
    llm_server.script(json_reply({"can_answer": True, "answer": answer, "citations": list(cited)}))
    return answer_question(server_settings, question, lang=lang)


def test_a_model_the_catalogue_does_not_have_goes_to_a_person(band_shop, llm_server):
    _, yuan = band_shop
    reply = ask(
        band_shop, llm_server, f"{BAND}多少钱？", f"小米手环9 Pro 售价 {yuan} 元。", "product:P000001"
    )
    assert reply.retrieved[0].id == "product:P000001"
    assert reply.handoff and reply.handoff_reason == "回答里的商品或型号不在资料中: 手环9 Pro"
    # every figure of this one is the row's (8, the price), so the figure check passes it: not its name
    reply = ask(
        band_shop, llm_server, f"{BAND}多少钱？", f"小米手环8 Pro 售价 {yuan} 元。", "product:P000001"
    )
    assert reply.handoff and reply.handoff_reason.endswith(": 手环8 Pro")
    reply = ask(band_shop, llm_server, f"{BAND}多少钱？", f"小米手环8 售价 {yuan} 元。", "product:P000001")
    assert not reply.handoff, reply.handoff_reason
    reply = ask(
        band_shop,
        llm_server,
        f"How much is the {BAND}?",
        f"The iPhone 15 costs {yuan} CNY.",
        "product:P000001",
        lang="en",
    )
    assert reply.handoff and reply.handoff_reason.endswith("sources do not have: iPhone 15")
    queued = (band_shop[0].home_dir / "assistant" / "handoffs.jsonl").read_text(encoding="utf-8")
    assert '"reason": "product"' in queued


def test_a_service_no_policy_offers_goes_to_a_person(band_shop, llm_server):
    reply = ask(band_shop, llm_server, "满多少钱包邮？", "订单满 99 元包邮，支持货到付款。", "policy:2")
    assert reply.handoff and reply.handoff_reason == "回答里的服务承诺没有政策依据: 货到付款"
    reply = ask(
        band_shop,
        llm_server,
        "满多少钱包邮？能货到付款吗？",
        "抱歉，暂不支持货到付款；订单满 99 元包邮。",
        "policy:2",
    )
    assert not reply.handoff, reply.handoff_reason
    reply = ask(
        band_shop,
        llm_server,
        "How much is shipping?",
        "Orders of 99 or more ship free, cash on delivery too.",
        "policy:2",
        lang="en",
    )
    assert reply.handoff and reply.handoff_reason.endswith("offers: cash on delivery")


def test_a_promise_is_read_with_its_terms() -> None:
    days, money = (lambda n: Term(n, "day")), (lambda n: Term(n, "money"))
    assert answer_terms("支持七天无理由退货，满 99 元包邮。") == {
        "no_reason_returns": [days(7)],
        "free_shipping": [money(99)],
    }
    # the term nearest the promise in its clause, or a clause that only states the window
    assert answer_terms("14天无理由退换，7天价保。") == {
        "no_reason_returns": [days(14)],
        "price_protection": [days(7)],
    }
    assert answer_terms("签收后 15 天内，商品未使用，可申请无理由退货，退款 3 天内到账。") == {
        "no_reason_returns": [days(15)]
    }
    # a return word beside a no-reason promise is the promise's; alone it is a return of any kind
    assert answer_terms("Within 30 days of delivery, unused items can be returned for any reason.") == {
        "no_reason_returns": [days(30)]
    }
    assert answer_terms("If for any reason you are unhappy, you can return it within 30 days.") == {
        "no_reason_returns": [days(30)]
    }
    assert answer_terms("签收后 30 天内可以申请退货，退货后 3 个工作日内退款。") == {"returns": [days(30)]}
    assert answer_terms("You can return it for any reason within two weeks; 30-day price protection.") == {
        "no_reason_returns": [days(14)],
        "price_protection": [days(30)],
    }
    # every order is a threshold of 0; a stated threshold comes first
    for every in (
        "全场包邮。",
        "不限金额，全部包邮。",
        "Free shipping on all orders.",
        "Free shipping, no minimum.",
    ):
        assert answer_terms(every) == {"free_shipping": [money(0)]}, every
    assert answer_terms("满99元全国包邮；满 2 件包邮。") == {"free_shipping": [money(99), Term(2, "item")]}
    assert answer_terms("Orders of 99 or more ship free.") == {"free_shipping": [money(99)]}
    # a thousands comma is part of the number, not a clause end; 7天无理由 is the common shorthand
    assert answer_terms("满1,000元包邮，支持7天无理由。") == {
        "free_shipping": [money(1000)],
        "no_reason_returns": [days(7)],
    }
    assert answer_terms("Free shipping on orders over $1,000.") == {"free_shipping": [money(1000)]}
    assert source_terms("订单满1,000元包邮。")["free_shipping"] == {money(1000)}
    # a period that is not the window (dispatch, a date) and a refused promise give no term
    assert answer_terms("48小时内发货，支持无理由退货。11月11日起保价。") == {}
    assert answer_terms("We ship within 48 hours and offer no-reason returns.") == {}
    assert answer_terms("本店暂不支持30天无理由退货。We do not offer free shipping on all orders.") == {}


def test_terms_no_source_gives_are_unsupported() -> None:
    returns = [policy("签收后 7 天内，商品未使用，可申请七天无理由退货。", "七天无理由退货")]
    assert unsupported_terms("支持30天无理由退货。", [], returns) == ["30天无理由退"]
    assert unsupported_terms("Yes, 30-day no-reason returns.", [], returns) == ["30-day no-reason returns"]
    assert unsupported_terms("支持7天无理由退货。", [], returns) == []
    assert unsupported_terms("You can return it for any reason within a week.", [], returns) == []
    shipping = [policy("订单实付满 99 元包邮（港澳台及海外除外）；不满 99 元收取运费 8 元。", "运费")]
    assert unsupported_terms("全场包邮。", [], shipping) == ["全场包邮"]
    assert unsupported_terms("订单满 8 元包邮。", [], shipping) == ["满 8 元包邮"]
    assert unsupported_terms("Free shipping on all orders.", [], shipping) == ["Free shipping on all orders"]
    assert unsupported_terms("订单满 8 元，即可包邮。", [], shipping) == ["满 8 元 … 包邮"]
    assert unsupported_terms("满 99 元包邮，运费 8 元。", [], shipping) == []
    assert unsupported_terms("订单满 99 元，即可包邮。", [], shipping) == []
    assert unsupported_terms("Orders over 99 ship free.", [], shipping) == []
    # a term no source states (a policy with the service but no period) is unsupported too
    prices = [policy("购买后 7 天内降价，可申请保价。", "价格保护"), policy("支持无理由退货。", "退货")]
    assert unsupported_terms("支持30天价保，7天无理由退货。", [], prices) == ["30天价保", "7天无理由退"]
    assert unsupported_terms("7 天内降价可以申请保价，也支持无理由退货。", [], prices) == []


def test_a_period_in_years_is_read_as_twelve_months() -> None:
    months = lambda n: Term(n, "month")  # noqa: E731
    assert answer_terms("质量问题签收后一年内可以退换。") == {"returns": [months(12)]}
    assert answer_terms("签收后1年内可以退货，两年质保。") == {"returns": [months(12)]}
    assert answer_terms("You can return it within one year of delivery.") == {"returns": [months(12)]}
    assert answer_terms("Returns are accepted within 12 months.") == {"returns": [months(12)]}
    # the 年 of a date is no period
    assert answer_terms("自2024年起可以退货。") == answer_terms("二〇二四年起可以退货。") == {}
    faulty = [policy("签收后一年内发现质量问题，可申请退货或换货。", "质量问题退换")]
    for same in (
        "签收后12个月内可以退换。",
        "签收后 1 年内可以退货。",
        "Returns within 12 months of delivery.",
    ):
        assert unsupported_terms(same, [], faulty) == [], same
    assert unsupported_terms("签收后7天内可以退货。", [], faulty) == ["7天内可以退货"]
    assert unsupported_terms("签收后两年内可以退货。", [], faulty) == ["两年内可以退货"]


def test_a_refused_service_verb_reaches_across_its_clause() -> None:
    for refused in (
        "本店不支持满99.9元包邮。",
        "暂时不提供满 99 元包邮服务。",
        "本店目前没有提供满 99 元包邮的活动。",
        "偏远地区不参与满 99 元包邮活动。",
        "Free shipping on orders over 99 is not available.",
    ):
        assert promises(refused) == answer_terms(refused) == {}, refused
    # a 不 that refuses no service, or a refusal a contrast ends, leaves the promise made
    assert promises("商品不影响二次销售的情况下支持7天无理由退货。") == {"no_reason_returns": "无理由退"}
    assert promises("不仅支持7天无理由退货，还满 99 元包邮。") == {
        "no_reason_returns": "无理由退",
        "free_shipping": "包邮",
    }
    assert answer_terms("本店不支持货到付款但支持满99元包邮。") == {"free_shipping": [Term(99, "money")]}
    assert answer_terms("未参加活动的商品满 99 元包邮。") == {"free_shipping": [Term(99, "money")]}
    assert promises("We don't offer cash on delivery but free shipping is available on orders over 99.") == {
        "free_shipping": "free shipping"
    }
    refused = [policy("本店暂时不提供满 99 元包邮服务，运费 8 元。", "运费")]
    assert unsupported_promises("订单满 99 元包邮。", [], refused) == ["包邮"]


def test_store_pickup_and_discounts_are_no_free_shipping_terms() -> None:
    shipping = [policy("订单实付满 99 元包邮（港澳台及海外除外）；不满 99 元收取运费 8 元。", "运费")]
    # collecting in store ships nothing: its 免运费 is no free shipping, its 一律 no threshold of 0
    assert promises("支持到店自提，自提免运费。") == promises("选择自提可免运费。") == {}
    assert unsupported_terms("到店自提订单一律免运费；其他订单满 99 元包邮。", [], shipping) == []
    assert answer_terms("到店自提或满 99 元包邮。") == {"free_shipping": [Term(99, "money")]}
    assert promises("We offer free pickup at our store.") == {}  # not a courier's pickup either
    # an amount taken off is no threshold; the 满 after 优惠 still is
    assert answer_terms("满99元免运费再减8元。") == {"free_shipping": [Term(99, "money")]}
    assert unsupported_terms("免运费再减8元。", [], shipping) == []
    assert unsupported_terms("全场包邮，下单立减 10 元。", [], shipping) == ["全场包邮"]
    assert answer_terms("Free shipping with ¥8 off.") == answer_terms("包邮再送8元优惠券。") == {}
    assert answer_terms("限时优惠满99元包邮。") == {"free_shipping": [Term(99, "money")]}


def test_the_shipped_policies_give_their_own_terms(settings: Settings) -> None:
    for lang in ("zh", "en"):
        policies = policy_passages(settings, lang)
        given: dict[str, set[Term]] = {}
        for p in policies:
            for key, terms in source_terms(f"{p.title}。{p.text}").items():
                given.setdefault(key, set()).update(terms)
        assert given == {
            "no_reason_returns": {Term(7, "day")},
            "free_shipping": {Term(99, "money")},
            # faulty items 15 days; the refund policy's 3 working days after a return, read generously
            "returns": {Term(7, "day"), Term(15, "day"), Term(3, "working day")},
        }
        # every sentence of them, quoted back as an answer, is on their terms
        sentences = [s for p in policies for s in re.split(r"(?<=[。；.;])\s*", f"{p.title}。{p.text}")]
        assert [s for s in sentences if unsupported_terms(s, [], policies)] == [], lang


def test_a_wrong_return_window_goes_to_a_person(band_shop, llm_server):
    """The shipped policies give 7 days. 30 is in the question and 15 in the faulty-items policy shown
    beside the returns one, so the figure check would pass both: the term check does not."""
    zh = "回答里的服务条件（退货天数、包邮门槛、保价天数）与资料不符: "
    for question, answer, wrong in (
        ("能30天无理由退货吗？", "可以，支持30天无理由退货。", "30天无理由退"),
        ("可以无理由退货吗？", "签收后 15 天内可以无理由退货。", "15 天内可以无理由退"),
        ("可以无理由退货吗？", "支持七天无理由退货，也支持保价。", None),  # no price protection: promise
        # the embedded model's own answer (prompt v3): a window for returns of any kind
        (
            "能30天无理由退货吗？",
            "根据七天无理由退货政策，签收后 30 天内可以申请退货。",
            "30 天内可以申请退货",
        ),
    ):
        reply = ask(band_shop, llm_server, question, answer, "policy:4")
        if wrong is None:
            assert reply.handoff and reply.handoff_reason == "回答里的服务承诺没有政策依据: 保价"
        else:
            assert reply.handoff and reply.handoff_reason == zh + wrong
    for answer in (
        "支持七天无理由退货。",
        "签收后 7 天内，商品未使用可申请无理由退货。",
        "签收后 15 天内发现质量问题可以退换；退货验收后 1 到 3 个工作日内退款。",
    ):
        reply = ask(band_shop, llm_server, "能30天无理由退货吗？", answer, "policy:4")
        assert not reply.handoff, reply.handoff_reason
    en = "that no policy or source gives: "
    for question, answer, wrong in (
        (
            "Can I return it within 30 days?",
            "Yes, you can return it within 30 days.",
            "return it within 30 days",
        ),
        (
            "Can I return it within 30 days for no reason?",
            "Yes, 30-day no-reason returns.",
            "30-day no-reason returns",
        ),
        (
            "Can I return an item I don't want?",
            "Within 15 days of delivery, unused items can be returned for any reason.",
            "15 days … returned for any reason",
        ),
    ):
        reply = ask(band_shop, llm_server, question, answer, "policy:4", lang="en")
        assert reply.handoff and reply.handoff_reason.endswith(en + wrong), reply.handoff_reason
    reply = ask(
        band_shop,
        llm_server,
        "Can I return it within 30 days for no reason?",
        "Within 7 days of delivery, unused items can be returned for any reason.",
        "policy:4",
        lang="en",
    )
    assert not reply.handoff, reply.handoff_reason
    queued = (band_shop[0].home_dir / "assistant" / "handoffs.jsonl").read_text(encoding="utf-8")
    assert '"reason": "terms"' in queued


def test_free_shipping_on_terms_the_policy_does_not_give_goes_to_a_person(band_shop, llm_server):
    for answer, wrong in (("全场包邮。", "全场包邮"), ("订单满 8 元包邮，运费 8 元。", "满 8 元包邮")):
        reply = ask(band_shop, llm_server, "满多少钱包邮？", answer, "policy:2")
        assert reply.handoff and reply.handoff_reason.endswith(f"与资料不符: {wrong}"), reply.handoff_reason
    reply = ask(band_shop, llm_server, "满多少钱包邮？", "订单实付满 99 元包邮。", "policy:2")
    assert not reply.handoff, reply.handoff_reason
    reply = ask(
        band_shop, llm_server, "Is shipping free?", "Free shipping on every order.", "policy:2", lang="en"
    )
    assert reply.handoff and reply.handoff_reason.endswith("gives: Free shipping on every order")
    reply = ask(
        band_shop, llm_server, "Is shipping free?", "Orders of 99 or more ship free.", "policy:2", lang="en"
    )
    assert not reply.handoff, reply.handoff_reason


def test_a_shops_own_return_window_is_the_one_answered(band_shop, llm_server):
    """A shop that gives 15 days: 7 (in digits or numerals) is now the wrong window."""
    settings, _ = band_shop
    own = settings.home_dir / "policies.zh.md"
    own.write_text("# 本店政策\n\n## 无理由退货\n签收后 15 天内可申请无理由退货。\n", encoding="utf-8")
    try:
        for answer, wrong in (
            ("支持7天无理由退货。", "7天无理由退"),
            ("支持七天无理由退货。", "七天无理由退"),
        ):
            reply = ask(band_shop, llm_server, "可以无理由退货吗？", answer, "policy:1")
            assert reply.handoff and reply.handoff_reason.endswith(f"与资料不符: {wrong}")
        reply = ask(band_shop, llm_server, "可以无理由退货吗？", "签收后 15 天内可以无理由退货。", "policy:1")
        assert not reply.handoff, reply.handoff_reason
    finally:
        own.unlink()


def test_the_prompt_asks_for_the_sources_names_and_terms_and_is_logged_with_its_version(
    band_shop, llm_server
):
    from marketpilot.llm.service import usage_report

    settings, _ = band_shop
    for lang, question, rule in (
        ("zh", "满多少钱包邮？", "照抄资料原文的条件"),
        ("en", "Is shipping free?", "quote the source's own terms"),
    ):
        llm_server.requests.clear()
        ask(band_shop, llm_server, question, "…", "policy:2", lang=lang)
        assert rule in llm_server.requests[0]["messages"][0]["content"]
    server_settings = llm_server.settings(settings.home, llm_cache=False, llm_max_retries=0)
    assert "assistant_answer@3" in {row.prompt for row in usage_report(server_settings)}


def test_everyday_words_are_no_service_an_answer_or_a_source_promises(band_shop, llm_server):
    """A shop whose own policies offer none of the services: an answer with "no reason to", "以免邮寄",
    "打包邮寄" or "建议保价" promises nothing, and a policy with them supports no promise."""
    settings, _ = band_shop
    own_en, own_zh = settings.home_dir / "policies.en.md", settings.home_dir / "policies.zh.md"
    dispatch = "# Our policies\n\n## Dispatch\nIn-stock items ship within 48 hours of payment"
    own_en.write_text(dispatch + ".\n", encoding="utf-8")
    own_zh.write_text(
        "# 本店政策\n\n## 退换\n质量问题签收后 15 天内可以退换，寄回前请妥善打包，以免邮寄途中损坏。\n",
        encoding="utf-8",
    )
    try:
        reply = ask(
            band_shop,
            llm_server,
            "When will my order ship?",
            "There is no reason to worry: in-stock items ship within 48 hours of payment.",
            "policy:1",
            lang="en",
        )
        assert not reply.handoff, reply.handoff_reason
        own_en.write_text(dispatch + "; we see no reason to keep you waiting.\n", encoding="utf-8")
        reply = ask(
            band_shop,
            llm_server,
            "Can I return it if I change my mind?",
            "Yes, you can return it for any reason.",
            "policy:1",
            lang="en",
        )
        assert reply.handoff and reply.handoff_reason.endswith("offers: return it for any reason")
        reply = ask(
            band_shop,
            llm_server,
            "质量有问题怎么退？",
            "签收后 15 天内可以退换，请打包邮寄回来，贵重商品建议保价。",
            "policy:1",
        )
        assert not reply.handoff, reply.handoff_reason
        reply = ask(band_shop, llm_server, "包邮吗？", "全场包邮。", "policy:1")
        assert reply.handoff and reply.handoff_reason == "回答里的服务承诺没有政策依据: 包邮"
    finally:
        own_en.unlink()
        own_zh.unlink()


EVERYDAY = [
    "I see no reason to get more.",
    "There is no reason to worry: your parcel is on its way.",
    "No reasonable price for the product.",
    "My headset starts ringing for no reason.",
    "If for any reason your parcel is late, please contact us.",
    "Opened items are non-returnable for any reason.",
    "We offer contact-free delivery and hassle-free shipping.",
    "Friendships free of drama are rare.",
    "These guitar pickups are hand-wound; the pickup truck toy is sold out.",
    "Let's pick up the pace.",
    "The colour and price match the photos, and the price matches the quality.",
    "Wild Atlantic cod fillets are in stock; cod liver oil is sold out.",
    "请妥善打包，以免邮寄途中损坏。",
    "我们会打包邮寄给您，这款钱包邮费 8 元。",
    "难免邮寄途中有磕碰，免邮箱注册即可下单。",
    "贵重商品寄回时建议保价，保价费由顾客承担。",
    "我们确保价格公道，活动结束后售价保持不变。",
    "这款特价保湿面霜有货。",
]
PROMISED = {
    "Yes, 30-day no-reason returns.": "no_reason_returns",
    "We offer no reason returns.": "no_reason_returns",
    "You can return it for any reason within two weeks.": "no_reason_returns",
    "Unused items can be returned within 7 days of delivery for any reason.": "no_reason_returns",
    "Returns within 7 days, no reason needed.": "no_reason_returns",
    "You can return it for no reason.": "no_reason_returns",
    "If for any reason you are not happy, you can return it within 7 days.": "no_reason_returns",
    "支持七天无理由退货。": "no_reason_returns",
    "Free shipping on all orders.": "free_shipping",
    "Orders of 99 or more ship free.": "free_shipping",
    "Delivery is free.": "free_shipping",
    "满 99 元包邮，钱包包邮吗？包邮。": "free_shipping",
    "全场免邮费。": "free_shipping",
    "We offer price protection.": "price_protection",
    "We offer price matching.": "price_protection",
    "支持保价，7天价保。": "price_protection",
    "We offer free pickup.": "pickup",
    "We can arrange a pickup from your home.": "pickup",
    "A courier will pick it up from your door.": "pickup",
    "可以上门取件。": "pickup",
    "Cash on delivery is available.": "cash_on_delivery",
    "You can pay on delivery.": "cash_on_delivery",
    "COD is available.": "cash_on_delivery",
    "We accept cod.": "cash_on_delivery",
    "Cod payment is supported.": "cash_on_delivery",
    "C.O.D. orders ship in 48 hours.": "cash_on_delivery",
    "Cash-On-Delivery is available.": "cash_on_delivery",
    "Electronic invoices can be requested on the order page.": "invoice",
}


def test_a_promise_needs_the_services_own_words() -> None:
    assert {s: promises(s) for s in EVERYDAY} == {s: {} for s in EVERYDAY}
    assert {s: set(promises(s)) for s in PROMISED} == {s: {key} for s, key in PROMISED.items()}


def test_a_full_stop_inside_a_number_ends_no_clause() -> None:
    # the 不 of 不支持满99 reaches the 包邮 after "99." (a stray dot or a full-width ．)
    assert promises("本店不支持满99.包邮。") == promises("本店不支持满９９．包邮。") == {}
    assert promises("暂不支持99.9元包邮。") == {}  # a decimal point splits no clause either
    # a full-width full stop after a word ends the refusal
    assert promises("本店不支持货到付款．全场包邮。") == {"free_shipping": "包邮"}


def test_real_review_sentences_promise_only_the_services_they_name(data_dir: Path) -> None:
    """The sentences of the repo's real English reviews (UCI yelp, imdb and amazon-cells, Amazon 2018)
    that share a word with the wordings ("no reason to get more", "for no reason", "price", "pick",
    "deliver"…): a promise is read in the six that talk of free shipping and in none of the rest, which
    the old wordings read three no-reason returns in."""
    reviews = data_dir / "reviews_en"
    texts = [
        line.rsplit("\t", 1)[0]
        for name in ("yelp", "imdb", "amazon_cells")
        for line in (reviews / f"{name}_labelled.txt").read_text(encoding="utf-8").splitlines()
    ]
    with gzip.open(reviews / "amazon2018_5core_reviews.csv.gz", "rt", encoding="utf-8") as fh:
        texts += [text for row in csv.DictReader(fh) for text in (row["summary"], row["reviewText"])]
    sentences = {s.strip() for text in texts for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()}
    shared = re.compile(
        r"\b(?:reasons?|free|pick|pickups?|price|returns?|returned|deliver\w*|ship\w*|invoices?|pay\w*"
        r"|collect\w*|match\w*|guarantee\w*)\b",
        re.I,
    )
    hard = [s for s in sentences if shared.search(s)]
    assert len(hard) > 600 and sum("reason" in s.lower() for s in hard) > 40
    made = {s: promises(s) for s in hard if promises(s)}
    assert set(made) == {
        "A perfect gift in a beautiful, pull-up card, and it arrived the day after I ordered it, shipped "
        "free with Amazon Prime.",
        "Could have purchased this at a grocery store where we live but did through Amazon so I would have "
        "$49 along w/other purchases, to get the free shipping which, to me, is a good way to shop.",
        "FREE SHIPPING & GOOD CHRISTMAS GIFT",
        "GIFT CARDS WITH FREE SHIPPING?!?",
        'Pro: Free shipping, free little decorative box, full amount, and no "activation" or taxes!',
        "The price was very good and with the free shipping and all it was a good purchase.",
    }
    assert {key for found in made.values() for key in found} == {"free_shipping"}
