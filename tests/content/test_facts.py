"""Facts guardrail: every number in the copy must be backed by the brief (zh and en phrasings)."""

from __future__ import annotations

import pytest

from marketpilot.content.briefs import Brief
from marketpilot.content.guardrails.facts import check_facts, extract_claims
from marketpilot.content.numbers import cn_to_number


@pytest.fixture
def coat() -> Brief:
    return Brief.model_validate(
        {
            "name": "羊毛双面呢大衣",
            "price": 399,
            "promo_price": 319,
            "attributes": {"面料": "100%羊毛"},
            "offer": {
                "coupon_threshold": 300,
                "coupon_amount": 50,
                "buy_n": 2,
                "get_m": 1,
                "deadline": "2025-11-11",
            },
            "stock": 20,
        }
    )


def spans(violations):
    return [(v.span, v.text) for v in violations]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("三百九十九", 399),
        ("两百", 200),
        ("一千二百九十九", 1299),
        ("十五", 15),
        ("一百零八", 108),
        ("五", 5),
    ],
)
def test_chinese_numerals(text, value):
    assert cn_to_number(text) == value


def test_lone_big_unit_is_a_word_not_a_number():
    assert cn_to_number("万") is None


def test_original_and_current_price_both_correct(coat):
    assert check_facts("原价399现价319，手慢无", coat) == []


def test_swapped_current_price_is_flagged_at_its_position(coat):
    violations = check_facts("原价399现价299", coat)
    assert spans(violations) == [((5, 10), "现价299")]
    assert "319" in violations[0].suggestion


def test_wrong_list_price_is_flagged(coat):
    assert spans(check_facts("原价499，现价319元", coat)) == [((0, 5), "原价499")]


def test_chinese_numeral_prices(coat):
    assert check_facts("原价三百九十九元，现在只要三百一十九元！", coat) == []
    assert spans(check_facts("现在只要两百九十九元", coat)) == [((2, 10), "只要两百九十九元")]


def test_reduction_立减(coat):
    # 399 → 319 is 80 off: "立减80元" is true, "立减100元" is not
    assert check_facts("今天下单立减80元", coat) == []
    assert spans(check_facts("今天下单立减100元", coat)) == [((4, 10), "立减100元")]


def test_coupon_满减(coat):
    assert check_facts("满300减50，叠加更划算", coat) == []
    violations = check_facts("满300减80", coat)
    assert spans(violations) == [((4, 7), "减80")]


def test_coupon_price_after_coupon_is_allowed(coat):
    assert check_facts("券后到手价269元", coat) == []


def test_fold_discounts(coat):
    # 319/399 is 20 % off: 8折 is honest, 限时5折 claims 50 % off
    assert check_facts("全场8折", coat) == []
    violations = check_facts("限时5折", coat)
    assert spans(violations) == [((2, 4), "5折")]
    assert violations[0].suggestion == "use 8折"
    assert spans(check_facts("85折起", coat)) == [((0, 3), "85折")]
    assert spans(check_facts("半价抢", coat)) == [((0, 2), "半价")]


def test_buy_n_get_m(coat):
    assert check_facts("买二送一，囤货正当时", coat) == []
    assert spans(check_facts("买一送一", coat)) == [((0, 2), "买一")]
    assert spans(check_facts("买2送2", coat)) == [((2, 4), "送2")]


def test_dates_must_match_deadline(coat):
    assert check_facts("11月11日截止", coat) == []
    assert check_facts("活动截至2025年11月11日", coat) == []
    assert spans(check_facts("12月12日前下单", coat)) == [((0, 6), "12月12日")]


def test_percentages_must_come_from_the_brief(coat):
    assert check_facts("100%羊毛面料", coat) == []
    assert spans(check_facts("好评率99%", coat)) == [((3, 6), "99%")]


def test_stock_claims(coat):
    assert check_facts("仅剩20件", coat) == []
    assert spans(check_facts("仅剩3件", coat)) == [((0, 4), "仅剩3件")]


def test_numbers_that_are_not_claims_are_ignored(coat):
    text = "双11狂欢，618同价，2025新款，仅需3步搞定穿搭，和闺蜜一块去逛街，三折叠伞"
    assert extract_claims(text) == []


def test_english_prices_and_discounts():
    brief = Brief.model_validate(
        {"name": "Merino sweater", "price": 49.9, "promo_price": 39.9, "currency": "USD", "language": "en"}
    )
    assert check_facts("Was $49.90, now only $39.90 — save $10!", brief) == []
    assert check_facts("20% off this week", brief) == []
    violations = check_facts("Now $29.90, 40% off", brief)
    assert spans(violations) == [((0, 10), "Now $29.90"), ((12, 19), "40% off")]


def test_english_numbers_without_currency_are_not_prices():
    brief = Brief.model_validate({"name": "Mug", "price": 12, "currency": "USD", "language": "en"})
    assert check_facts("Only 2 days to go, just for you", brief) == []


def test_currency_must_match(coat):
    violations = check_facts("Now $319", coat)
    assert len(violations) == 1 and "currency USD" in violations[0].message


def test_invented_discount_without_promo():
    brief = Brief.model_validate({"name": "保温杯", "price": 89})
    assert spans(check_facts("保温杯直降20元", brief)) == [((3, 8), "直降20元")]
    assert check_facts("保温杯89元", brief) == []


# --- numbers without a label: every one is a non-price or a figure from the brief ---------------


@pytest.fixture
def plain() -> Brief:
    """Priced 399, promo 319, nothing else: the brief behind most wrong prices that slipped through."""
    return Brief.model_validate({"name": "羊毛大衣", "price": 399, "promo_price": 319})


@pytest.mark.parametrize(
    ("text", "span", "flagged"),
    [
        ("羊毛大衣299，冬季必备", (4, 7), "299"),
        ("299到手", (0, 5), "299到手"),
        ("爆款299包邮", (2, 7), "299包邮"),
        ("两件299", (2, 5), "299"),
        ("9.9秒杀", (0, 5), "9.9秒杀"),
        ("RMB299", (0, 6), "RMB299"),
        ("羊毛大衣两百九十九，手慢无", (4, 9), "两百九十九"),
        ("三百九十九到手", (0, 7), "三百九十九到手"),  # the list price is not what the buyer pays
        ("九块九包邮", (0, 5), "九块九包邮"),
        ("满99包邮", (1, 3), "99"),
        ("好评如潮，月销1万+", (7, 9), "1万"),
        ("爆款618，冬季必备", (2, 5), "618"),
    ],
)
def test_unlabelled_wrong_prices_are_flagged(plain, text, span, flagged):
    (violation,) = check_facts(text, plain)
    assert (violation.rule, violation.span, violation.text) == ("facts", span, flagged)
    assert violation.suggestion


def test_unverified_number_names_the_number_and_the_brief_prices(plain):
    (violation,) = check_facts("羊毛大衣299，冬季必备", plain)
    assert violation.message == "unverified number 299: not in the brief"
    assert "319" in violation.suggestion and "399" in violation.suggestion


@pytest.mark.parametrize(
    "text",
    [
        "双11狂欢，现价319元",
        "双十一福利，到手319",
        "618大促，现价319元",
        "十一黄金周出游必备",
        "¥319",
        "￥319",
        "RMB 319",
        "319到手，冬季必备",
        "羊毛大衣319，冬季必备",
        "只要三百一十九",
        "2025新款，12月上新",
        "晚8点开抢，20:00前下单",
        "24小时发货，7天无理由退换",
        "仅需3步搞定通勤穿搭，5星好评",
        "和闺蜜一块去逛街，千万别错过，万一卖完就没了",
        "两件更划算，一件也包邮",  # the brief says nothing about item counts
    ],
)
def test_numbers_that_are_not_prices_or_are_the_brief_pass(plain, text):
    assert check_facts(text, plain) == []


def test_the_festival_and_idiom_text_passes_the_whole_check(coat):
    assert check_facts("双11狂欢，618同价，2025新款，仅需3步搞定穿搭，和闺蜜一块去逛街，三折叠伞", coat) == []


def test_countdowns_cannot_outlast_the_offer():
    brief = Brief.model_validate(
        {
            "name": "羊毛大衣",
            "price": 399,
            "promo_price": 319,
            "offer": {"starts": "2025-11-09", "deadline": "2025-11-11"},
        }
    )
    for text in ("3天后恢复原价399", "仅剩1天，现价319元", "72小时后恢复原价", "24小时发货，7天无理由退换"):
        assert check_facts(text, brief) == [], text
    (violation,) = check_facts("7天后恢复原价399", brief)
    assert (violation.span, violation.text) == ((0, 2), "7天") and "3 days" in violation.message
    # a deadline alone does not say how long the offer runs: the countdown cannot be checked
    deadline_only = Brief.model_validate(
        {"name": "羊毛大衣", "price": 399, "offer": {"deadline": "2025-11-11"}}
    )
    assert check_facts("3天后恢复原价399", deadline_only) == []


def test_nth_item_offer():
    brief = Brief.model_validate(
        {"name": "羊毛袜", "price": 39, "offer": {"buy_n": 2, "nth_discount": "半价"}}
    )
    for text in ("第2件半价", "第二件半价，囤货正当时", "第2件只要19.5元", "两件更划算"):
        assert check_facts(text, brief) == [], text
    assert spans(check_facts("第3件半价", brief)) == [((0, 3), "第3件")]
    (violation,) = check_facts("第2件8折", brief)
    assert (violation.span, violation.suggestion) == ((3, 5), "第2件半价")
    assert spans(check_facts("买5件更划算", brief)) == [((1, 3), "5件")]


def test_nth_item_offer_not_in_the_brief(coat):
    # buy 2 get 1 is not "the second at half price"
    assert spans(check_facts("第2件半价", coat)) == [((0, 3), "第2件")]
    with pytest.raises(ValueError, match="buy_n"):
        Brief.model_validate({"name": "x", "price": 9, "offer": {"nth_discount": 0.5}})


def test_item_counts_follow_the_offer(coat):
    # buy 2 get 1, stock 20: 2, 3 (2+1) and 20 items are the brief's; 5 is not
    assert check_facts("两件起，买二送一，3件到手", coat) == []
    assert spans(check_facts("买5件更划算", coat)) == [((1, 3), "5件")]


def test_specs_and_model_numbers_must_be_the_products():
    brief = Brief.model_validate(
        {
            "name": "iPhone 15 手机壳",
            "price": 59,
            "attributes": {"容量": "500毫升", "尺码": "S-2XL", "款式": "两件套"},
        }
    )
    for text in ("iPhone 15 专用", "500ml大容量", "2XL也能穿", "两件套59元"):
        assert check_facts(text, brief) == [], text
    assert spans(check_facts("iPhone 16 专用", brief)) == [((7, 9), "16")]
    assert spans(check_facts("750ml大容量", brief)) == [((0, 5), "750ml")]


def test_jiao_after_kuai():
    brief = Brief.model_validate({"name": "袜子", "price": 9.9})
    assert check_facts("九块九包邮", brief) == [] and check_facts("只要9块9", brief) == []
    assert spans(check_facts("两块五一双", brief)) == [((0, 3), "两块五")]


def test_day_and_slash_dates(coat):
    assert check_facts("11号截止，11/11前下单", coat) == []
    assert spans(check_facts("12号截止", coat)) == [((0, 3), "12号")]
    assert spans(check_facts("12/31前下单", coat)) == [((0, 5), "12/31")]


def test_personal_data_is_left_to_the_pii_rule(plain):
    assert check_facts("咨询13812345678", plain) == []


@pytest.mark.parametrize(
    "wrong",
    ["¥299", "￥299", "￥ 299", "RMB299", "RMB 299", "299 RMB", "299块", "299块钱", "¥299元", "二百九十九块"],
)
def test_every_way_of_writing_yuan_is_checked(plain, wrong):
    (violation,) = check_facts(f"羊毛大衣{wrong}", plain)
    assert violation.text == wrong and "299" in violation.message


@pytest.mark.parametrize(
    "right",
    ["原价399块现价319块", "原价RMB399，现价RMB319", "现价￥319.00", "319块钱到手", "三百一十九块", "¥319元"],
)
def test_the_brief_prices_pass_in_every_yuan_form(plain, right):
    assert check_facts(right, plain) == []


def test_yuan_forms_in_a_dollar_brief_are_the_wrong_currency():
    usd = Brief.model_validate({"name": "coat", "price": 39.9, "currency": "USD", "language": "en"})
    for text in ("现价¥39.9", "RMB 39.9", "39.9块"):
        (violation,) = check_facts(text, usd)
        assert "currency CNY" in violation.message, text
