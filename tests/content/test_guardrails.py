"""Ad-law, length/SMS billing, platform, brand, PII and slot guardrails, and `check_copy` on all of them."""

from __future__ import annotations

import pytest

from marketpilot.content.briefs import Brief
from marketpilot.content.channels import CHANNEL_SPECS
from marketpilot.content.guardrails import check_copy
from marketpilot.content.guardrails.ad_law import check_ad_law
from marketpilot.content.guardrails.brand import check_brand
from marketpilot.content.guardrails.length import (
    check_length,
    display_width,
    push_lines,
    sms_billing,
    sms_message,
)
from marketpilot.content.guardrails.pii import check_pii
from marketpilot.content.guardrails.platform import add_ai_label, check_ai_label, check_time_limited
from marketpilot.content.guardrails.slots import check_slots


def brief(**extra) -> Brief:
    base = {"name": "保温杯", "price": 89, "brand": {"shop_name": "暖冬小铺"}}
    return Brief.model_validate(base | extra)


def found(violations):
    return [(v.span, v.text) for v in violations]


# --- 广告法 / ad claims ---------------------------------------------------------------------------


def test_absolute_terms_flagged_with_positions_and_suggestions():
    text = "全网最低价！销量第一的顶级保温杯，万能百搭"
    violations = check_ad_law(text)
    assert found(violations) == [
        ((0, 4), "全网最低"),
        ((6, 10), "销量第一"),
        ((11, 13), "顶级"),
        ((17, 19), "万能"),
    ]
    assert all(v.rule == "ad_law" and v.suggestion for v in violations)


def test_context_exceptions_are_not_claims():
    assert check_ad_law("最近降温，第一次下单的朋友看过来，最后一天") == []
    assert check_ad_law("100%纯棉面料") == []
    assert found(check_ad_law("100%满意")) == [((0, 4), "100%")]


def test_medical_claims_only_for_non_medical_products():
    text = "喝了能增强免疫力，还能降血压"
    assert found(check_ad_law(text, brief())) == [((3, 8), "增强免疫力"), ((11, 14), "降血压")]
    assert check_ad_law(text, brief(medical=True)) == []


def test_english_claims_whole_words():
    text = "Guaranteed to cure winter blues. The best in the world, risk-free. Secure checkout."
    assert [v.text for v in check_ad_law(text)] == ["Guaranteed", "cure", "best in the world", "risk-free"]


# --- length and SMS billing ---------------------------------------------------------------------


def test_sms_single_segment_counts_signature_and_opt_out():
    copy = "冬日暖饮好搭档，保温杯今天89元"
    message = sms_message(copy, shop_name="暖冬小铺", language="zh")
    assert message == "【暖冬小铺】冬日暖饮好搭档，保温杯今天89元拒收请回复R"
    bill = sms_billing(message)
    assert (bill.chars, bill.encoding, bill.segments) == (len(message), "UCS-2", 1)


def test_sms_billing_70_then_67():
    assert sms_billing("好" * 70).segments == 1
    assert sms_billing("好" * 71).segments == 2
    assert sms_billing("好" * 134).segments == 2
    assert sms_billing("好" * 135).segments == 3
    # GSM-7 English: 160 / 153
    assert sms_billing("a" * 160).segments == 1 and sms_billing("a" * 161).segments == 2


def test_existing_opt_out_is_not_doubled():
    assert sms_message("新品上市，回T退订", shop_name="店", language="zh") == "【店】新品上市，回T退订"


def test_sms_over_segment_limit_is_a_violation_with_the_overflow_span():
    b = brief()
    copy = "保温杯" * 50  # 150 + 6 signature + 6 opt-out = 162 → 3 segments of 67
    (violation,) = check_length(copy, b, CHANNEL_SPECS["sms"])
    assert "3 billed segments" in violation.message
    keep = 2 * 67 - 12
    assert violation.span == (keep, 150)


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        # the embedded model's one-line push (measured: 12 of 12 drafts): split at the last clause end
        # that keeps the title within 40
        (
            "山野集 新鲜坚果礼盒，1.2kg，保质期18个月，储存方式常温，品质有保障！现价99元，双12截止",
            ["山野集 新鲜坚果礼盒，1.2kg，保质期18个月", "储存方式常温，品质有保障！现价99元，双12截止"],
        ),
        (
            "云裳 冰丝卫衣限时特惠！原价199元，现价159元，12月12日截止",
            ["云裳 冰丝卫衣限时特惠！原价199元", "现价159元，12月12日截止"],
        ),
        (
            "Cloud hoodie, 20% off until Dec 12. Shop now and stay warm all season long with us!",
            ["Cloud hoodie, 20% off until Dec 12", "Shop now and stay warm all season long with us!"],
        ),
        # as written: it has its line break, fits as a title, or has no clause end in reach
        ("羊毛大衣现价319元\n轻暖过冬", ["羊毛大衣现价319元", "轻暖过冬"]),
        ("羊毛大衣现价319元，轻暖过冬", ["羊毛大衣现价319元，轻暖过冬"]),
        (
            "羊毛大衣轻盈保暖通勤约会都合适现价三百一十九元，十一月十一日截止",
            ["羊毛大衣轻盈保暖通勤约会都合适现价三百一十九元，十一月十一日截止"],
        ),
    ],
)
def test_a_one_line_push_is_split_into_title_and_body_at_a_clause_end(text: str, lines: list[str]):
    spec = CHANNEL_SPECS["push"]
    split = push_lines(text, spec)
    assert split.split("\n") == lines
    if len(lines) == 2:
        assert display_width(lines[0]) <= spec.title_max_width
    assert push_lines(text, CHANNEL_SPECS["sms"]) == text  # only a channel with a title


def test_push_title_and_body_widths():
    b = brief(channel="push")
    assert check_length("保温杯到手89元\n冬天热水一整天都是暖的", b, CHANNEL_SPECS["push"]) == []
    long_title = "保温杯" * 8  # width 48 > 40
    (violation,) = check_length(long_title + "\n正文", b, CHANNEL_SPECS["push"])
    assert violation.span == (20, 24) and "push title" in violation.message


def test_email_subject_counts_cjk_double():
    assert display_width("保温杯ab") == 8
    b = brief(channel="email_subject")
    (violation,) = check_length("冬" * 31, b, CHANNEL_SPECS["email_subject"])
    assert violation.span == (30, 31)


# --- platform rules -----------------------------------------------------------------------------


def test_time_limited_needs_a_deadline():
    assert found(check_time_limited("限时5折，手慢无", brief())) == [((0, 2), "限时"), ((5, 8), "手慢无")]
    assert check_time_limited("限时5折", brief(offer={"deadline": "2025-12-31"})) == []
    assert found(check_time_limited("Limited time: 20% off", brief(language="en"))) == [
        ((0, 12), "Limited time")
    ]


def test_visible_ai_label_per_channel():
    poster = brief(channel="banner")
    spec = CHANNEL_SPECS["banner"]
    (violation,) = check_ai_label("冬日暖饮", poster, spec)
    assert violation.rule == "platform" and "AI" in violation.suggestion
    labelled = add_ai_label("冬日暖饮", "zh", spec)
    assert labelled == "冬日暖饮（AI生成）" and check_ai_label(labelled, poster, spec) == []
    # SMS does not require the visible marker (configurable per channel)
    assert check_ai_label("冬日暖饮", brief(), CHANNEL_SPECS["sms"]) == []
    strict = CHANNEL_SPECS["sms"].model_copy(update={"visible_ai_label": True})
    assert len(check_ai_label("冬日暖饮", brief(), strict)) == 1


# --- brand, PII, slots --------------------------------------------------------------------------


def test_brand_words():
    b = brief(brand={"forbidden_words": ["便宜货", "cheap"], "required_words": ["暖冬"]})
    violations = check_brand("便宜货也能暖", b)
    assert found(violations) == [((0, 3), "便宜货"), ((6, 6), "")]
    assert "暖冬" in violations[1].message


def test_pii_in_copy():
    text = "咨询请拨13812345678或写信给shop@example.com"
    assert [(v.text, v.rule) for v in check_pii(text)] == [
        ("13812345678", "pii"),
        ("shop@example.com", "pii"),
    ]
    assert check_pii("到手价89元，订单满2件包邮") == []


def test_unknown_slots():
    assert found(check_slots("{name}，{coupon_code}给你")) == [((7, 20), "{coupon_code}")]


def test_a_banner_takes_no_slots_since_everyone_sees_the_same_image():
    """A poster/banner headline is drawn once for everyone: a {name} would be printed as braces."""
    violations = check_copy("{name}，冬日暖饮", brief(channel="banner")).violations
    (violation,) = [v for v in violations if v.rule == "slots"]
    assert (violation.rule, violation.text) == ("slots", "{name}")
    assert "shows everyone the same copy" in violation.message
    assert found(check_slots("Hi {name}", allowed=False)) == [((3, 9), "{name}")]
    assert check_copy("{name}，冬日暖饮", brief()).ok  # an SMS is filled per customer


# --- all together --------------------------------------------------------------------------------


def test_check_copy_combines_rules_sorted_by_position():
    b = brief(price=399, promo_price=319, brand={"shop_name": "暖冬小铺", "forbidden_words": ["便宜货"]})
    result = check_copy("限时5折！最好的大衣，原价399现价299，便宜货，电话13812345678", b)
    assert not result.ok
    assert [(v.rule, v.text) for v in result.violations] == [
        ("platform", "限时"),
        ("facts", "5折"),
        ("ad_law", "最"),
        ("facts", "现价299"),
        ("brand", "便宜货"),
        ("pii", "13812345678"),
    ]
    assert result.sms is not None and result.sms.segments == 1
    public = result.public()
    assert set(public) == {"ok", "violations"}
    assert set(public["violations"][0]) == {"rule", "span", "text", "message", "suggestion"}


@pytest.mark.parametrize(
    "text",
    ["原价399现价319，11月11日截止", "满300减50，买二送一", "{name}，羊毛大衣8折，立减80元"],
)
def test_clean_real_world_copy_passes(text):
    b = brief(
        name="羊毛大衣",
        price=399,
        promo_price=319,
        offer={
            "coupon_threshold": 300,
            "coupon_amount": 50,
            "buy_n": 2,
            "get_m": 1,
            "deadline": "2025-11-11",
        },
    )
    assert check_copy(text, b).ok


@pytest.mark.parametrize(
    ("text", "id_number"),
    [
        ("凭身份证11010519491231002X到店领取", "11010519491231002X"),
        ("身份证号 110101199003074514 可参与抽奖", "110101199003074514"),
        ("ID 11010519491231002x registered", "11010519491231002x"),
    ],
)
def test_chinese_id_numbers_in_copy_are_pii(text, id_number):
    (violation,) = check_pii(text)
    assert (violation.rule, violation.text) == ("pii", id_number)
    assert text[slice(*violation.span)] == id_number
    assert "ID card" in violation.message and "[身份证]" in violation.suggestion
    # check_copy reports it once, as pii (the facts rule leaves personal data alone)
    assert [v.rule for v in check_copy(text, brief()).violations if v.text == id_number] == ["pii"]


def test_an_eighteen_digit_number_failing_the_id_checksum_is_not_an_id():
    assert check_pii("订单号110101199003074515") == []
