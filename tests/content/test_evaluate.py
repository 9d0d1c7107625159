"""AdvertiseGen evaluation: metrics on the real dev data (no LLM), and the end-to-end `copy eval`
and price-safety checks with the real embedded model (slow)."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from marketpilot.cli.app import app
from marketpilot.content.briefs import Brief
from marketpilot.content.evaluate import (
    attribute_vocabulary,
    coverage,
    distinct_n,
    hallucinated_values,
    load_advertisegen,
    parse_attributes,
    reference_scores,
    score,
)
from marketpilot.content.guardrails.ad_law import check_ad_law
from marketpilot.content.guardrails.facts import check_facts
from marketpilot.errors import UserError


@pytest.fixture(scope="module")
def adgen(data_dir):
    return data_dir / "advertisegen" / "dev_half.jsonl"


def test_parse_attributes_keeps_repeated_keys():
    assert parse_attributes("类型#裙*风格#英伦*风格#简约") == [
        ("类型", "裙"),
        ("风格", "英伦"),
        ("风格", "简约"),
    ]


def test_loader_groups_multiple_references(adgen):
    items = load_advertisegen(adgen)
    assert len(items) == 500 and sum(len(it.references) for it in items) == 548
    assert load_advertisegen(adgen, limit=7)[6].content == items[6].content


def test_coverage_and_hallucination_on_real_attributes(adgen):
    items = load_advertisegen(adgen)
    vocab = attribute_vocabulary(items)
    attrs = [("类型", "裙"), ("颜色", "红色"), ("图案", "刺绣")]
    assert coverage("这款红裙的刺绣很精致", attrs) == 1.0
    assert coverage("这款裙子很精致", attrs) == pytest.approx(1 / 3)
    assert hallucinated_values("红色连衣裙点缀蓝色刺绣", attrs, vocab) == ["蓝色"]
    assert hallucinated_values("红色连衣裙点缀精致刺绣", attrs, vocab) == []


def test_metrics_rank_copy_correctly(adgen):
    items = load_advertisegen(adgen, limit=20)
    vocab = attribute_vocabulary(load_advertisegen(adgen))
    refs = [it.references[0] for it in items]
    perfect = score(refs, items, vocab)
    shuffled = score(refs[1:] + refs[:1], items, vocab)
    assert perfect.bleu4 > 95 and perfect.rouge_l > 95
    assert (
        shuffled.bleu4 < 20
        and shuffled.rouge_l < 40
        and shuffled.attribute_coverage < perfect.attribute_coverage
    )
    assert distinct_n(["好看好看好看"]) == pytest.approx(2 / 5)
    yardstick = reference_scores(items, vocab)
    assert 0.5 < yardstick.attribute_coverage <= 1.0


def test_bad_input_line_is_named(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"content": "类型#裙", "summary": "好"}\n{"content": 1}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"bad\.jsonl:2"):
        load_advertisegen(bad)


@pytest.mark.slow
@pytest.mark.timeout(2700)
def test_copy_eval_with_the_embedded_model(adgen, home, tmp_path):
    """The issue's CI run: 100 AdvertiseGen inputs through `copy eval` with the embedded model
    (≈ 3 s an input on an idle 2-core machine, over 9 s on one whose llama.cpp decodes at 5–8
    tokens/s instead of ~27; the figures are in BENCHMARKS.md)."""
    out = tmp_path / "generated.jsonl"
    result = CliRunner().invoke(
        app, ["copy", "eval", "--input", str(adgen), "--limit", "100", "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    generated, references = report["generated"], report["references"]
    print(
        {
            k: generated[k]
            for k in ("bleu4", "rouge_l", "attribute_coverage", "hallucination_rate", "distinct2")
        }
    )
    assert generated["n"] == 100 and report["failed"] == 0
    # Floors well under what the 1.5B model measures (BLEU-4 ≈ 3.6, ROUGE-L ≈ 21, coverage ≈ 0.9 on
    # the first 20): a broken prompt, tokeniser or parser falls through them.
    assert generated["bleu4"] > 1.5 and generated["rouge_l"] > 12
    assert generated["attribute_coverage"] > 0.7 and generated["distinct2"] > 0.15
    # It must not invent attribute values more often than the human references do.
    assert generated["hallucination_rate"] <= references["hallucination_rate"]
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 100 and all(len(r["generated"]) >= 10 for r in rows)


@pytest.mark.slow
def test_no_variant_passing_guardrails_has_a_wrong_price_or_banned_term(settings):
    """Real model, prices in the brief: whatever it writes, what survives the guardrails is clean."""
    from marketpilot.content.generate import generate_variants, report
    from marketpilot.llm import get_client

    briefs = [
        Brief.model_validate(
            {
                "product": {"product_id": pid, "name": name, "price": price, "promo_price": promo},
                "brand": {"shop_name": "暖冬小铺"},
                "offer": {"coupon_threshold": 300, "coupon_amount": 50, "deadline": "2025-11-11"},
                "channel": "sms",
            }
        )
        for pid, name, price, promo in [("P1", "羊毛双面呢大衣", 399, 319), ("P2", "真丝睡衣套装", 299, 239)]
    ]
    sets = generate_variants(briefs, get_client(settings), n=3, max_repairs=1, max_topups=1)
    summary = report(sets)
    assert summary.llm_calls <= (1 + 1) * (1 + 1) * len(briefs)
    # asked for 3: 3 variants, or the result says how many are missing and why
    for s in sets:
        assert len(s.variants) + s.missing == 3
        assert (s.shortfall is None) == (s.missing == 0), s.shortfall
    accepted = [(s.brief, v) for s in sets for v in s.variants]
    # An independent check of the facts checker: every digit group in accepted copy that does not count
    # time or things (24小时, 3步, 20:00 the checker rightly lets through) is one of the brief's numbers
    # (price, promo, coupon, price after coupon, savings, 8折 / 20% off, 11月11日 / 双11).
    allowed = {
        "P1": {"399", "319", "300", "50", "269", "80", "130", "8", "20", "11", "2025"},
        "P2": {"299", "239", "300", "50", "189", "60", "110", "8", "20", "11", "2025"},
    }
    counted = r"(?!\d|\.\d|\s*(?:天|小时|分钟|秒(?!杀)|件|步|次|点|[:：]\d))"
    for brief, variant in accepted:
        assert check_facts(variant.text, brief) == [], variant.text
        assert check_ad_law(variant.text, brief) == [], variant.text
        numbers = set(re.findall(rf"(?<![\d.:：])\d+(?:\.\d+)?{counted}", variant.text))
        assert numbers <= allowed[brief.product.product_id], variant.text
    # the raw model output had numbers to check: every accepted price is the brief's
    assert summary.variants + summary.dropped >= len(briefs)
