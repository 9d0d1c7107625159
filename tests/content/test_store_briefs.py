"""Briefs from a real sample shop and its campaign history: `copy brief` / `copy generate` flags (offer,
brand words), review selling points, and the CTR model trained on the clicks a simulated campaign
recorded in the state database."""

from __future__ import annotations

import json
import sys

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from llm_server import json_reply
from marketpilot.cli.app import app
from marketpilot.config import Settings, get_settings
from marketpilot.content.briefs import Brief, load_brief
from marketpilot.content.generate import generate_variants
from marketpilot.content.numbers import fmt_amount
from marketpilot.content.scoring import CTRModel, ctr_history, ctr_model_from_history
from marketpilot.data import Store
from marketpilot.embed import embed
from marketpilot.llm import get_client


def passage(texts: list[str]):
    return embed(texts, kind="passage")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A sample shop after RFM, segmentation and two iterations of the offline campaign loop (simulated
    deliveries, opens and clicks ingested into the state database)."""
    from marketpilot.analytics.rfm import run_rfm
    from marketpilot.analytics.segments.service import run_segmentation
    from marketpilot.campaigns.loop import run_campaign_loop
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path_factory.mktemp("shop") / "home")
    make_sample(settings, customers=400, seed=1)
    run_rfm(settings)
    run_segmentation(settings, personas=False, report=False)
    run_campaign_loop(settings, use_llm=False, campaign_id="ctr-history")
    return settings


def products(settings: Settings) -> tuple[str, str]:
    """(a product with the most reviews, a product without any)."""
    with Store.open(settings, read_only=True) as store:
        reviewed = store.query(
            "SELECT product_id FROM reviews GROUP BY product_id ORDER BY count(*) DESC, product_id LIMIT 1"
        ).iloc[0, 0]
        unreviewed = store.query(
            "SELECT product_id FROM products WHERE product_id NOT IN (SELECT product_id FROM reviews) "
            "ORDER BY product_id LIMIT 1"
        ).iloc[0, 0]
    return str(reviewed), str(unreviewed)


FLAGS = [
    "--coupon", "满100减20", "--coupon-code", "DOUBLE11", "--deadline", "2026-11-11", "--season", "双11",
    "--require-word", "好物", "--forbid-word", "便宜货", "--shop", "暖冬小铺",
]  # fmt: skip


@pytest.mark.slow
def test_copy_brief_carries_offer_brand_words_and_review_selling_points(shop, tmp_path):
    from marketpilot.analytics.reviews.insight import review_insight
    from marketpilot.content.service import product_facts

    reviewed, unreviewed = products(shop)
    price = product_facts(shop, reviewed).price
    promo = round(price * 0.8, 2)
    out = tmp_path / "brief.json"
    args = ["copy", "brief", "--product", reviewed, "--segment", "1", "--promo-price", str(promo), *FLAGS]
    result = CliRunner().invoke(
        app, [*args, "--discount", "8折", "--out", str(out), "--home", str(shop.home)]
    )
    assert result.exit_code == 0, result.output
    brief = load_brief(out)
    p, o = brief.product, brief.offer
    assert (p.price, p.promo_price, p.discount) == (price, promo, 0.2)
    assert (o.coupon_threshold, o.coupon_amount, o.coupon_code, str(o.deadline)) == (
        100,
        20,
        "DOUBLE11",
        "2026-11-11",
    )
    assert brief.season == "双11" and brief.brand.shop_name == "暖冬小铺"
    assert (brief.brand.required_words, brief.brand.forbidden_words) == (["好物"], ["便宜货"])
    assert brief.audience.persona  # segment 1's persona from segmentation
    # the aspects reviewers praise, as review insight (without the LLM) reports them
    insight = review_insight(shop, product=reviewed, use_llm=False)
    assert p.selling_points and p.selling_points == insight.selling_points

    # the written brief drives `copy check`: the brief's prices pass, a wrong one and the brand's
    # forbidden word do not
    sale = f"{fmt_amount(promo)}元"
    good = f"双11好物：{p.name}现价{sale}，满100减20"
    ok = CliRunner().invoke(app, ["copy", "check", good, "--brief", str(out), "--json"])
    assert ok.exit_code == 0, ok.output
    bad = CliRunner().invoke(
        app, ["copy", "check", f"便宜货好物，现价{fmt_amount(promo - 10)}元", "--brief", str(out), "--json"]
    )
    assert bad.exit_code == 1
    assert {v["rule"] for v in json.loads(bad.output)["violations"]} == {"brand", "facts"}

    plain = CliRunner().invoke(app, ["copy", "brief", "--product", unreviewed, "--home", str(shop.home)])
    assert plain.exit_code == 0, plain.output
    assert json.loads(plain.output)["product"]["selling_points"] == []


def test_bad_flag_values_are_clear_errors(home):
    Store.open(home).close()
    for flag, value, words in (
        ("--coupon", "三百减五十", "满300减50"),
        ("--discount", "150%", "discount"),
        ("--deadline", "2026-13-01", "deadline"),
    ):
        result = CliRunner().invoke(app, ["copy", "brief", "--product", "P1", flag, value])
        assert result.exit_code != 0
        assert words in str(result.exception or result.output), (flag, result.output)


@pytest.mark.slow
def test_ctr_history_counts_sends_and_clicks_from_the_state_database(shop):
    history = ctr_history(shop)
    from marketpilot.campaigns.state.db import open_state

    with open_state(shop).connect() as con:
        sent = con.execute(text("SELECT count(*) FROM messages WHERE status = 'sent'")).scalar_one()
        clicked = con.execute(
            text(
                "SELECT count(DISTINCT m.id) FROM messages m JOIN tracking_events e "
                "ON e.idempotency_key = m.idempotency_key WHERE e.kind = 'click' AND m.status = 'sent'"
            )
        ).scalar_one()
        templates = {r[0] for r in con.execute(text("SELECT text FROM variants WHERE status = 'accepted'"))}
    assert sent > 300 and 0 < clicked < sent
    assert int(history["sends"].sum()) == sent and int(history["clicks"].sum()) == clicked
    # variant templates (slots unfilled, no customer's name), on the content channel of `export`
    assert set(history["text"]) <= templates and all("{name}" in t for t in history["text"])
    assert set(history["channel"]) == {"push"}

    model = ctr_model_from_history(shop, embedder=passage)
    assert isinstance(model, CTRModel) and model.sends_ == sent
    assert model.base_ctr_ == pytest.approx(clicked / sent)
    (p,) = model.predict_ctr([history["text"].iloc[0]], ["push"])
    assert abs(p - model.base_ctr_) < 0.1


def test_no_history_means_no_ctr_model_and_no_state_file(settings):
    assert ctr_history(settings).empty
    assert ctr_model_from_history(settings) is None
    assert not (settings.home_dir / "state.sqlite").exists()


@pytest.mark.slow
def test_generated_variants_carry_predicted_ctr_from_past_campaigns(shop, llm_server, monkeypatch):
    """`copy generate` on the shop with campaign history: the flags reach the prompt, and each variant
    gets a predicted CTR from the model trained on the simulated campaign's clicks."""
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")
    reviewed, _ = products(shop)
    from marketpilot.content.service import product_facts

    name = product_facts(shop, reviewed).name
    llm_server.script(
        json_reply(
            {
                "variants": [
                    {"angle": "benefit", "text": f"{{name}}，双11好物{name}，满100减20"},
                    {"angle": "seasonal", "text": f"双11好物：{name}，券码DOUBLE11，11月11日截止"},
                ]
            }
        )
    )
    args = ["copy", "generate", "--product", reviewed, "--n", "2", *FLAGS, "--home", str(shop.home), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    variants = json.loads(result.output)["variants"]
    assert len(variants) == 2
    assert all(0 < v["predicted_ctr"] < 1 for v in variants)
    prompt = llm_server.requests[0]["messages"][-1]["content"]
    for fact in ("优惠券：满100减20", "截止日期：11月11日", "节日：双11", "好物", "便宜货", "卖点："):
        assert fact in prompt, fact

    # without a model there is no prediction
    brief = Brief.model_validate({"name": name, "price": 99})
    llm_server.script(json_reply({"variants": [{"angle": "benefit", "text": f"{name}，冬天也暖"}]}))
    (plain,) = generate_variants([brief], get_client(get_settings(shop.home)), n=1, embedder=passage)
    assert plain.variants[0].predicted_ctr is None


def test_coupon_forms():
    from marketpilot.content.briefs import parse_coupon

    assert parse_coupon("满300减50") == (300, 50)
    assert parse_coupon("满300元减50元") == (300, 50)
    assert parse_coupon("300-50") == (300, 50)
    assert parse_coupon("立减30") == (None, 30)
    assert parse_coupon("30") == (None, 30)
    with pytest.raises(ValueError, match="满300减50"):
        parse_coupon("三百减五十")


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_generate_against_a_server_that_is_down_fails_as_a_provider_error(home, monkeypatch, capsys, as_json):
    """Before: exit 2 (the code for bad input) after a "0 variants" summary, and with --json a
    0-variant payload that exited 0, so a script saw success."""
    from marketpilot.cli import run_app
    from marketpilot.data.sample import make_sample

    make_sample(get_settings(home), customers=10, seed=1)
    for key, value in {
        "PROVIDER": "openai_compat",
        "BASE_URL": "http://127.0.0.1:9/v1",  # the discard port: nothing listens
        "MAX_RETRIES": "0",
        "TIMEOUT_S": "2",
    }.items():
        monkeypatch.setenv(f"MARKETPILOT_LLM_{key}", value)
    capsys.readouterr()
    args = ["marketpilot", "copy", "generate", "--product", "P000001", "--n", "2", *(["--json"] * as_json)]
    monkeypatch.setattr(sys, "argv", args)
    assert run_app(app) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert "Generation failed" in err and "http://127.0.0.1:9/v1" in err and "Traceback" not in err
