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
