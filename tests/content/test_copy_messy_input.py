"""Copy, briefs and assets as a marketing team really writes them: evasive spellings of banned words,
full-width digits, Chinese-numeral discounts, hand-written brief files, long offers on banners,
links and paths that would break an e-mail. Each case failed before the fix that came with it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from test_render import BRIEF
from typer.testing import CliRunner

from marketpilot.cli.app import app
from marketpilot.content.briefs import Brief, load_brief, parse_coupon, parse_discount
from marketpilot.content.channels import CHANNEL_SPECS
from marketpilot.content.guardrails import check_copy
from marketpilot.content.guardrails.ad_law import check_ad_law
from marketpilot.content.guardrails.facts import check_facts
from marketpilot.content.guardrails.length import check_length, display_width
from marketpilot.content.render import render_email, render_poster
from marketpilot.errors import UserError, ValidationFailed


def brief(**extra) -> Brief:
    return Brief.model_validate(BRIEF | extra)


def flagged(text: str) -> list[tuple[tuple[int, int], str]]:
    return [(v.span, v.text) for v in check_ad_law(text)]


# --- 广告法 terms written to slip past review ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span", "said"),
    [
        ("國家級工藝", (0, 3), "國家級"),  # traditional characters
        ("頂級面料", (0, 2), "頂級"),
        ("國 家 級工艺", (0, 5), "國 家 級"),  # spaces between the characters
        ("国·家·级工艺", (0, 5), "国·家·级"),
        ("排名第 一", (2, 5), "第 一"),
        ("ＮＯ．１大衣", (0, 4), "ＮＯ．１"),  # full-width letters and digits
        ("１００％满意", (0, 4), "１００％"),
        ("排名第１", (2, 4), "第１"),
        ("zui好的大衣", (0, 3), "zui"),  # pinyin
        ("全国di一", (2, 5), "di一"),
        ("our best-ever coat", (4, 13), "best-ever"),
        ("the world’s best coat", (4, 16), "world’s best"),
    ],
)
def test_evasive_spellings_of_banned_terms_are_caught_at_their_span(text, span, said):
    assert flagged(text) == [(span, said)]


@pytest.mark.parametrize(
    "text",
    [
        "第一次下单立减",
        "第 一 次下单",
        "最近降温",
        "最後一天",
        "１００％纯棉",
        "No.10 色号",
        "#10 shade",
        "第1件半价",
    ],
)
def test_harmless_words_and_longer_numbers_are_not_banned_terms(text):
    assert check_ad_law(text) == []


@pytest.mark.timeout(60)
def test_fifty_thousand_characters_are_checked_in_seconds():
    # The exception contexts (最近 …) were searched once per match: 50,000 × 最 took over a minute,
    # and a long run of digits made the number patterns quadratic.
    assert len(check_ad_law("最" * 50_000)) == 50_000
    assert len(check_ad_law("最近" * 25_000)) == 0
    assert check_facts("1" * 50_000, brief())[0].rule == "facts"


# --- numbers as copy writes them ------------------------------------------------------------------


def test_chinese_numeral_folds_read_digit_by_digit():
    half = brief(price=200, promo_price=100)  # 50 % off
    assert [v.text for v in check_facts("七五折，八五折", half)] == ["七五折", "八五折"]
    assert check_facts("七五折", brief(price=200, promo_price=150)) == []
    nth = brief(price=200, promo_price=150, offer={"buy_n": 2, "nth_discount": "半价"})
    (violation,) = check_facts("第二件七五折", nth)
    assert violation.text == "七五折" and "25% off" in violation.message


def test_full_width_digits_read_as_digits_and_are_reported_as_written():
    b = brief()
    assert check_facts("双１１狂欢，６１８大促，现价３１９元，１１月１１日截止", b) == []
    (violation,) = check_facts("现价２９９元", b)
    assert violation.span == (0, 6) and violation.text == "现价２９９元"
    assert check_facts("２０％ＯＦＦ", brief(promo_price=None, discount="8折")) == []


def test_discounts_and_coupons_written_in_chinese_numerals():
    assert parse_discount("八折") == 0.2
    assert parse_discount("八五折") == 0.15
    assert parse_coupon("满三百减五十") == (300, 50)
    with pytest.raises(ValueError, match="cannot read coupon"):
        parse_coupon("满三百减")


# --- length ----------------------------------------------------------------------------------------


def test_sms_overflow_counts_an_emoji_as_two_units():
    b = brief()
    # 【暖冬小铺】 and 拒收请回复R take 12 of the 2 × 67 units: 61 emoji (122 units) fit
    (violation,) = check_length("😀" * 70, b, CHANNEL_SPECS["sms"])
    assert violation.span == (61, 70) and violation.suggestion == "shorten the copy to 61 characters"
    (violation,) = check_length("  " + "保温杯" * 50, b, CHANNEL_SPECS["sms"])
    assert violation.span == (124, 152)


def test_combining_accents_take_no_width():
    assert display_width("Cafe\u0301") == 4
    assert check_copy("Cafe\u0301 " * 12, brief(language="en"), "email_subject").ok


# --- brief files written by hand --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"name": "x", "attributes": [1, 2]}, "product.attributes"),
        ({"name": "x", "attributes": "[1, 2]"}, "product.attributes"),
        ({"name": "x", "price": 9, "discount": [1]}, "product.discount"),
        ({"name": "x", "offer": {"buy_n": 2, "nth_discount": {"a": 1}}}, "offer.nth_discount"),
        ({"name": "x", "currency": "yuan!"}, "product.currency"),
        ({"name": "x", "price": 229, "promo_price": 199, "discount": "8折"}, "contradicts promo_price"),
    ],
)
def test_brief_files_with_wrong_types_name_the_field(tmp_path, content, field):
    path = tmp_path / "brief.json"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValidationFailed) as caught:
        load_brief(path)
    assert field in str(caught.value) and "brief.json" in str(caught.value)


def test_brief_files_with_infinity_or_deep_nesting_are_refused(tmp_path):
    path = tmp_path / "brief.json"
    path.write_text('{"name": "x", "price": Infinity}', encoding="utf-8")
    with pytest.raises(ValidationFailed, match="finite"):
        load_brief(path)
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(UserError, match="nested too deeply"):
        load_brief(path)


def test_currency_is_read_as_its_iso_code():
    assert brief(currency=" rmb ").product.currency == "CNY"
    assert check_copy("现价319元", brief(currency="rmb"), "social_post").violations[0].rule == "platform"


def test_cli_check_with_a_bad_brief_is_a_usage_error(tmp_path):
    path = tmp_path / "brief.json"
    path.write_text(json.dumps({"name": "x", "attributes": [1, 2]}), encoding="utf-8")
    result = CliRunner().invoke(app, ["copy", "check", "x", "--brief", str(path)])
    assert isinstance(result.exception, UserError) and result.exception.exit_code == 2


# --- posters never cut what they show -----------------------------------------------------------------


def test_a_long_offer_wraps_inside_the_banner(tmp_path):
    english = brief(
        name="Wool coat",
        language="en",
        currency="USD",
        brand={"shop_name": "Warm Shop"},
        offer=BRIEF["offer"] | {"buy_n": 2, "get_m": 1},
    )
    out = render_poster("Wool coat now $319", english, tmp_path / "b.png", layout="banner")
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    red = (abs(pixels[..., 0] - 214) < 40) & (pixels[..., 1] < 110) & (pixels[..., 2] < 130)
    # the offer line used to run off the right edge ("… · ends Nov 11" cut to "· ends")
    assert not red[:, 1160:].any()
    assert red[:, 552:1150].any()


def test_poster_refuses_what_it_would_cut_and_keeps_line_breaks(tmp_path):
    with pytest.raises(UserError, match="shop name"):
        render_poster(
            "大衣到手319元", brief(brand={"shop_name": "暖冬小铺" * 10}), tmp_path / "a.png", layout="banner"
        )
    with pytest.raises(UserError, match="too wide"):
        render_poster("大衣到手319元", brief(price=1e15, promo_price=999_999_999_999.99), tmp_path / "b.png")
    with pytest.raises(UserError, match="control characters"):
        render_poster("大衣到手319元\x07", brief(), tmp_path / "c.png")
    assert not list(tmp_path.iterdir())
    # a typed line break (Windows or Unix) was a RuntimeError from the text layout engine
    assert render_poster("双面呢大衣\r\n到手319元", brief(), tmp_path / "d.png").exists()


# --- e-mail links, headers and files ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cta_url": "javascript:alert(1)"}, "cta_url"),
        ({"unsubscribe_url": "https://shop.example/u/T>\r\nBcc: x@example.com"}, "unsubscribe_url"),
        ({"unsubscribe_url": "https://"}, "unsubscribe_url"),
        ({"subject": "大衣上新\n今冬必备"}, "one line"),
    ],
)
def test_email_refuses_script_links_and_header_breaks(kwargs, message):
    args = {"subject": "大衣上新", "unsubscribe_url": "https://shop.example/u/T"} | kwargs
    subject = args.pop("subject")
    with pytest.raises(UserError, match=message):
        render_email(subject, "双面呢大衣现价319元", brief(), **args)


def test_email_escapes_markup_in_copy_and_shop_name():
    email = render_email(
        "<script>alert(1)</script>上新",
        "<img src=x onerror=alert(1)>现价319元",
        brief(brand={"shop_name": "<b>暖冬</b>"}),
        unsubscribe_url="mailto:unsub@shop.example",
    )
    assert "<script>" not in email.html and "<img" not in email.html and "<b>" not in email.html
    assert "&lt;script&gt;" in email.html


def test_cli_email_writes_both_parts_or_neither(tmp_path):
    path = tmp_path / "brief.json"
    path.write_text(json.dumps(BRIEF, ensure_ascii=False), encoding="utf-8")
    base = ["copy", "render", "email", "--subject", "大衣上新", "--body", "双面呢大衣现价319元"]
    base += ["--brief", str(path), "--unsubscribe-url", "https://shop.example/u/T", "--out"]
    # --out mail.txt wrote the HTML and then overwrote it with the plain text
    result = CliRunner().invoke(app, [*base, str(tmp_path / "mail.txt")])
    assert isinstance(result.exception, UserError) and not (tmp_path / "mail.txt").exists()
    # the plain-text path is a folder: the HTML was written anyway
    (tmp_path / "mail2.txt").mkdir()
    result = CliRunner().invoke(app, [*base, str(tmp_path / "mail2.html")])
    assert isinstance(result.exception, UserError) and not (tmp_path / "mail2.html").exists()
    result = CliRunner().invoke(app, [*base, str(tmp_path / "mail3.html")])
    assert result.exit_code == 0 and (tmp_path / "mail3.txt").read_text(encoding="utf-8")


# --- placeholders ------------------------------------------------------------------------------------


@pytest.mark.parametrize("placeholder", ["{姓名}", "{ name }", "{{name}}", "{}"])
def test_placeholders_the_renderer_would_not_fill_are_flagged(placeholder):
    # they reached customers as braces: {{name}} renders as {张三}
    (violation,) = check_copy(f"{placeholder}您好\n羊毛大衣现价319元", brief(), "push").violations
    assert (violation.rule, violation.text) == ("slots", placeholder)


def test_known_placeholders_pass():
    assert check_copy("{name}您好，{last_category}上新\n现价319元", brief(), "push").ok
