"""Poster/banner PNG and e-mail rendering: CJK without tofu, AI label visible and in metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from marketpilot.cli.app import app
from marketpilot.content.briefs import Brief
from marketpilot.content.fonts import cjk_font_path, missing_glyphs, use_cjk_font_in_matplotlib
from marketpilot.content.guardrails import check_copy
from marketpilot.content.render import read_png_metadata, render_email, render_poster
from marketpilot.errors import UserError

BRIEF = {
    "name": "羊毛双面呢大衣",
    "price": 399,
    "promo_price": 319,
    "brand": {"shop_name": "暖冬小铺"},
    "offer": {"coupon_threshold": 300, "coupon_amount": 50, "deadline": "2025-11-11"},
}


def test_bundled_font_covers_common_chinese_and_marketing_symbols():
    assert cjk_font_path().is_file()
    text = "冬日暖心上新：双面呢大衣，轻盈保暖！满300减50 ¥319 【暖冬小铺】AI生成 «» 20% off"
    assert missing_glyphs(text) == []
    assert missing_glyphs("😀") == ["😀"]  # emoji would be tofu: the renderer refuses them


def test_poster_renders_cjk_text_and_carries_aigc_metadata(tmp_path):
    brief = Brief.model_validate(BRIEF)
    path = render_poster("冬日暖心上新：双面呢大衣，轻盈保暖", brief, tmp_path / "poster.png")
    with Image.open(path) as img:
        assert img.size == (1080, 1350)
        rgb = np.asarray(img.convert("RGB")).astype(int)
    pixels = rgb.mean(axis=2)
    # the two-line headline sits under the picture and has dark glyph strokes (not boxes)
    band = pixels[int(1350 * 0.66) : int(1350 * 0.78), 60:1020]
    assert (band < 80).mean() > 0.05
    # the picture grows into what a short headline leaves: price and offer (red) fill the lower fifth
    red = (rgb[..., 0] > 180) & (rgb[..., 1] < 90) & (rgb[..., 2] < 100)
    assert red[int(1350 * 0.8) : int(1350 * 0.93)].mean() > 0.01
    meta = read_png_metadata(path)
    assert meta["AIGC"]["Label"] == "1" and meta["AIGC"]["ContentProducer"] == "MarketPilot"
    assert meta["AIGC"]["ContentPropagator"] == "暖冬小铺"
    assert meta["Description"] == "冬日暖心上新：双面呢大衣，轻盈保暖"


def test_wrap_keeps_punctuation_and_offer_terms_where_chinese_typesetting_wants_them():
    from marketpilot.content.render.poster import _font, wrap

    font = _font(64)
    headline = "冬日暖心上新：羊毛双面呢大衣，轻盈保暖，通勤约会都好看，满300减50，现价319元"
    lines = wrap(headline, font, 950)
    assert "".join(lines) == headline
    assert lines == ["冬日暖心上新：羊毛双面呢大衣，", "轻盈保暖，通勤约会都好看，", "满300减50，现价319元"]
    # a comma never starts a line (it hangs), an opening bracket never ends one
    assert not any(line[0] in "，。！：" for line in lines[1:])
    bracket = wrap("冬日暖心上新：羊毛双面呢大衣好【双11】特惠", font, 950)
    assert bracket == ["冬日暖心上新：羊毛双面呢大衣", "好【双11】特惠"]


def test_poster_refuses_to_cut_a_headline_or_draw_tofu(tmp_path):
    brief = Brief.model_validate(BRIEF)
    with pytest.raises(UserError, match="lines"):
        render_poster("保暖" * 60, brief, tmp_path / "long.png", layout="banner")
    with pytest.raises(UserError, match="cannot draw"):
        render_poster("上新啦😀", brief, tmp_path / "emoji.png")
    assert not (tmp_path / "long.png").exists()


def test_email_html_and_text_parts():
    brief = Brief.model_validate(BRIEF)
    email = render_email(
        "羊毛大衣到手319元",
        "冬天到了\n王小明，双面呢大衣现价319元。\n<轻盈> & 保暖",
        brief,
        unsubscribe_url="https://shop.example/u/abc",
        cta_url="https://shop.example/p/1",
    )
    assert 'name="viewport"' in email.html and "@media" in email.html and 'style="' in email.html
    assert 'href="https://shop.example/u/abc"' in email.html and "退订" in email.html
    assert "&lt;轻盈&gt; &amp; 保暖" in email.html  # copy is escaped in HTML
    assert "AI生成" in email.html and "AI生成" in email.text
    assert "退订: https://shop.example/u/abc" in email.text and "¥319（原价 ¥399）" in email.text
    assert email.headers["List-Unsubscribe"] == "<https://shop.example/u/abc>"
    assert json.loads(email.headers["X-AIGC"])["Label"] == "1"
    message = email.to_message("shop@example.com", "customer@example.com")
    assert message.is_multipart() and [p.get_content_type() for p in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]


def test_email_requires_a_real_unsubscribe_link():
    with pytest.raises(UserError):
        render_email("s", "b", Brief.model_validate(BRIEF), unsubscribe_url="javascript:void(0)")


def test_cli_render_poster_checks_the_copy_first(tmp_path):
    brief_file = tmp_path / "brief.json"
    brief_file.write_text(json.dumps(BRIEF, ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    bad = runner.invoke(
        app,
        [
            "copy",
            "render",
            "poster",
            "全网最低！到手299元",
            "--brief",
            str(brief_file),
            "--out",
            str(tmp_path / "p.png"),
        ],
    )
    assert bad.exit_code != 0 and not (tmp_path / "p.png").exists()
    ok = runner.invoke(
        app,
        [
            "copy",
            "render",
            "poster",
            "双面呢大衣到手319元",
            "--brief",
            str(brief_file),
            "--out",
            str(tmp_path / "p.png"),
            "--json",
        ],
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["metadata"]["AIGC"]["Label"] == "1"
    args = ["copy", "render", "poster", "{name}，大衣上新", "--brief", str(brief_file)]
    slot = runner.invoke(app, [*args, "--out", str(tmp_path / "s.png")])
    assert slot.exit_code != 0 and "shows everyone the same copy" in str(slot.exception)
    assert not (tmp_path / "s.png").exists()


@pytest.mark.parametrize("headline", ["国" * 16, "MEGA WINTER WOOL COAT WEEK DEALS", "暖冬大衣上新，WOW WOW"])
@pytest.mark.parametrize("layout", ["poster", "banner"])
def test_any_headline_the_banner_channel_passes_is_drawn_whole(tmp_path, headline, layout):
    """The banner channel's width (32, CJK = 2) is what both layouts draw without cutting: the demo's
    poster draws a checked headline whole, so the check must never pass one the poster refuses."""
    brief = Brief.model_validate(BRIEF | {"channel": "banner"})
    assert not [v for v in check_copy(headline, brief, "banner").violations if v.rule == "length"]
    render_poster(headline, brief, tmp_path / "h.png", layout=layout)
    assert read_png_metadata(tmp_path / "h.png")["Description"] == headline


def test_matplotlib_uses_the_bundled_font(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    family = use_cjk_font_in_matplotlib()
    fig, ax = plt.subplots()
    ax.set_title("客户分群")
    fig.savefig(tmp_path / "chart.png")
    plt.close(fig)
    assert family.startswith("Noto Sans CJK")
