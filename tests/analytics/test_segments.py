"""Segmentation of the generated Chinese shop, per-segment stats, grounded personas and the report."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from generated_shop import generated_shop_buyers
from typer.testing import CliRunner

from llm_server import OpenAITestServer, Reply, json_reply
from marketpilot.analytics.segments.numbers import segment_context, unsupported_numbers
from marketpilot.analytics.segments.personas import (
    Language,
    Persona,
    PersonaDraft,
    check_persona,
    distinct_names,
    facts,
    template_persona,
    without_unsupported,
    write_persona,
)
from marketpilot.analytics.segments.service import run_segmentation
from marketpilot.analytics.segments.stats import SegmentStats
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store
from marketpilot.llm import get_client

STATS = {
    "segment": 2,
    "customers": 1234,
    "customer_share": 0.1234,
    "revenue_share": 0.4567,
    "aov": 256.78,
    "orders_per_customer": 3.4,
    "recency_days": 45.2,
    "clv_mean": 12345.6,
    "churn_risk": 0.2815,
    "top_categories": [{"category": "服饰", "share": 0.3144}, {"category": "美妆", "share": 0.1766}],
    "rfm_mix": [
        {
            "rfm_class": "important_value",
            "name_zh": "重要价值客户",
            "name_en": "Important value",
            "share": 0.6312,
        }
    ],
}


@pytest.mark.parametrize(
    "text",
    [
        "细分2共有1,234位客户，占全部客户的12.3%，却贡献了45.67%的销售额。",
        "客单价约257元，人均购买3.4次，平均45天前下过单。",
        "预计未来一年每人贡献约1.2万元，流失风险28%左右。",
        "近五成销售额来自这群人，服饰占31.44%，双11和618是他们最活跃的时候。",
        "They are 12.34% of customers and bring 0.4567 of revenue; AOV ¥256.8, CLV 12.3k.",
        "占比１２．３％的高价值客户，主要购买2个品类。",
    ],
)
def test_number_checker_accepts_roundings_and_formats(text: str) -> None:
    assert unsupported_numbers(text, STATS) == []
    assert unsupported_numbers(text, STATS, context=segment_context(STATS)) == []


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("客单价300元，远高于平均水平。", ["300"]),
        ("复购率达到20%，七成客户来自一线城市。", ["20%", "七成"]),
        ("共有1,243位客户。", ["1,243"]),
        ("预计人均CLV 1.5万元。", ["1.5万"]),
        ("Churn risk is 35% and they order 7 times a year.", ["35%", "7"]),
    ],
)
def test_number_checker_names_invented_numbers(text: str, bad: list[str]) -> None:
    assert unsupported_numbers(text, STATS) == bad
    assert unsupported_numbers(text, STATS, context=segment_context(STATS)) == bad


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        # 45 is the recency (45.2 days), not the AOV; 3.4 is orders per customer, not a share.
        ("客单价45元，人均3.4单。", ["45"]),
        ("这群客户占全部客户的3.4%，平均45天前下过单。", ["3.4%"]),
        ("流失风险12%，销售额占比45.67%。", ["12%"]),
        ("共有45位客户，近五成销售额来自他们。", ["45"]),
        ("平均256.78天前最近一次购买，客单价45.2元。", ["256.78", "45.2"]),
        ("预计CLV为256.78元，服饰占17.66%。", ["256.78", "17.66%"]),
        ("Their average order value is 45 CNY and churn risk 12.34%.", ["45", "12.34%"]),
        ("1,234 customers, each with 12.34 orders, last bought 3.4 days ago.", ["12.34", "3.4"]),
        ("They bring 12.34% of revenue; CLV 256.8.", ["12.34%", "256.8"]),
    ],
)
def test_number_checker_rejects_a_statistic_attributed_to_the_wrong_name(text: str, bad: list[str]) -> None:
    # Every number here is some statistic, so the any-statistic check alone lets them all through.
    assert unsupported_numbers(text, STATS) == []
    assert unsupported_numbers(text, STATS, context=segment_context(STATS)) == bad


@pytest.mark.parametrize(
    "text",
    [
        "这1,234位客户客单价256.78元，人均3.4单，平均45.2天前购买过，流失风险28.15%。",
        "销售额占比45.67%，客户占比12.34%，服饰占31.44%，美妆占17.66%，主要购买2个品类。",
        "他们主要购买服饰和美妆，销售额占比分别为31.44%和17.66%。",  # the prompt's own label
        "重要价值客户占比超过六成，预计未来一年人均价值12,345.6元。",
        "1,234 customers (12.3% of all) bring 45.7% of revenue at an AOV of 256.78 CNY.",
        "They order 3.4 times, last bought 45 days ago, and 28% of them may churn; segment 2.",
        "Mostly 服饰 (31.4%) and 美妆 (17.7%), a predicted lifetime value of 12.3k.",
        # The clause names customers, the 元 after the number makes it an amount: the AOV (seen with the
        # embedded model, rejected twice before the currency counted here).
        "每位客户平均消费256.78元。",
    ],
)
def test_number_checker_accepts_each_statistic_under_its_own_name(text: str) -> None:
    assert unsupported_numbers(text, STATS, context=segment_context(STATS)) == []


# A segment as the generated shop gives one: 10.7 orders per customer over a mean tenure of 259 days
# (1.26 orders a month, one every 24.2 days), last order 30.2 days ago.
FREQUENT = {
    **STATS,
    "segment": 1,
    "customers": 812,
    "aov": 318.4,
    "orders_per_customer": 10.7,
    "recency_days": 30.2,
    "tenure_days": 259.0,
    "top_categories": [{"category": "服饰", "share": 0.12}],
}


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        # A QA persona: once a day would be 259 orders, not 10.7.
        ("这812位老客平均每天购买一次，客单价318.4元。", ["一次"]),
        ("这812位老客每周购买一次，客单价318.4元。", ["一次"]),
        ("他们每天购买11次，共812位客户。", ["11"]),
        ("Each of the 812 customers orders 11 times a day.", ["11"]),
        ("近三个月都有购买，客单价318.4元。", ["三个月"]),  # the last order was a month ago
        ("百分之五十的销售额来自服饰。", ["百分之五十"]),  # 服饰 is 12 %
        ("人均购买两单，共812位客户。", ["两单"]),
        ("客单价三百元，共812位客户。", ["三百元"]),
        ("每两个月购买一次。", ["两个月", "一次"]),
        ("七成客户来自一线城市，购买力是全店的两倍。", ["七成", "两倍"]),
    ],
)
def test_number_checker_reads_chinese_numerals_and_rates(text: str, bad: list[str]) -> None:
    assert unsupported_numbers(text, FREQUENT, context=segment_context(FREQUENT)) == bad


@pytest.mark.parametrize(
    "text",
    [
        "这812位老客平均每月购买一次，客单价318.4元。",
        # A rate and a duration in one clause: each number is read by its own unit.
        "他们平均每月购买一次，最近一次购买在30.2天前。",
        "每月购买一次距上次购买30天，成为客户259天。",
        "他们平均每天购买30.2天，人均订单数为10.7次。",  # the embedded model's wording, every number true
        "人均购买十一次，每隔24天购买一次，近一个月有购买。",
        "每三周购买一次，百分之十二的销售额来自服饰。",
        "Each buys about 1 order a month, 10.7 orders in all, the last 30 days ago; every 3 weeks.",
        # Words, ordinals and ranges are not figures.
        "他们一般一直一起购物，一次性买一些，一定十分喜欢这一样的东西，第一次之后万一看一下，"
        "两三天就回购，一两次不够，每一次、这一次和上一次都来，共812位客户。",
        "预计未来一年人均价值12,345.6元，共812位客户。",
    ],
)
def test_number_checker_accepts_true_chinese_numerals_rates_and_words(text: str) -> None:
    assert unsupported_numbers(text, FREQUENT, context=segment_context(FREQUENT)) == []


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        # Every number is a statistic's value, written as what no statistic is: an item count (1,234 is
        # the customers; seen: "他们购买了 413 件商品") or a difference from the average (3.4 is the
        # segment's own orders per customer; seen: "人均订单数却比全店平均高2.3").
        ("他们购买了 1,234 件商品，客单价256.78元。", ["1,234"]),
        ("客单价256.78元，人均订单数比全店平均高3.4，流失风险比平均低了28.15%。", ["3.4", "28.15%"]),
        ("客单价256.78元，高出45.2。", ["45.2"]),
        ("They bought 1,234 items at an AOV of 256.78 CNY.", ["1,234"]),
        (
            "They place 3.4 more orders than the average; churn is 28.15% lower than the shop mean.",
            ["3.4", "28.15%"],
        ),
        ("Their AOV of 256.78 CNY is above the average by 45.2.", ["45.2"]),
    ],
)
def test_number_checker_refuses_item_counts_and_differences(text: str, bad: list[str]) -> None:
    assert unsupported_numbers(text, STATS) == []  # each is some statistic's value
    assert unsupported_numbers(text, STATS, context=segment_context(STATS)) == bad


@pytest.mark.parametrize(
    "text",
    [
        "人均订单数3.4单，高于全店平均；流失风险28.15%，低于全店平均（3.4）。",
        "客单价比全店平均高，为256.78元，共1,234位客户。",
        "They order 3.4 times, more than the average, and 28.15% may churn.",
    ],
)
def test_number_checker_accepts_levels_stated_in_words(text: str) -> None:
    assert unsupported_numbers(text, STATS, context=segment_context(STATS)) == []


_FULL = SegmentStats(**STATS, revenue=1_000_000.0, tenure_days=300.0, discount_rate=0.05)


def test_a_persona_keeps_its_grounded_clauses_when_one_clause_invents() -> None:
    draft = PersonaDraft(
        name="高价值老客",
        description="这群客户是高价值老客，他们平均每天购买45次。客单价256.78元，流失风险28.15%，建议重点维护。",
    )
    assert check_persona(draft, _FULL, "zh") == ["数字 45 不在统计中（或不是它所说的那项统计）"]
    cut = without_unsupported(draft, _FULL, "zh")
    assert cut is not None
    # The cut clause's full stop passes to the clause before it.
    assert cut[0].description == "这群客户是高价值老客。客单价256.78元，流失风险28.15%，建议重点维护。"
    assert cut[1] == ["他们平均每天购买45次。"] and check_persona(cut[0], _FULL, "zh") == []
    english = PersonaDraft(
        name="Loyal regulars",
        description="They buy 99 times a day. Their AOV is 256.78 CNY and 28% may churn. Keep them close.",
    )
    cut = without_unsupported(english, _FULL, "en")
    assert (
        cut is not None
        and cut[0].description == "Their AOV is 256.78 CNY and 28% may churn. Keep them close."
    )
    # Not when too few statistics are left, nor when the name invents.
    thin = PersonaDraft(
        name="高价值老客", description="这群客户客单价256.78元，他们平均每天购买45次，值得维护。"
    )
    assert without_unsupported(thin, _FULL, "zh") is None
    named = draft.model_copy(update={"name": "99%忠诚老客"})
    assert without_unsupported(named, _FULL, "zh") is None


def test_a_wrong_rate_in_chinese_numerals_fails_the_persona_check() -> None:
    stats = SegmentStats(**FREQUENT, revenue=1_077_444.0, discount_rate=0.1)
    wrong = PersonaDraft(name="高频忠实老客", description="这812位老客平均每天购买一次，客单价318.4元。")
    right = PersonaDraft(name="高频忠实老客", description="这812位老客平均每月购买一次，客单价318.4元。")
    assert check_persona(wrong, stats, "zh") == ["数字 一次 不在统计中（或不是它所说的那项统计）"]
    assert check_persona(right, stats, "zh") == []


# The embedded model's persona drafts for generated shops, with the statistics they were checked
# against and whether they passed when only digits were read.
_REAL = json.loads((Path(__file__).parent / "persona_drafts.json").read_text(encoding="utf-8"))
_REAL_DRAFTS = [(shop["segments"], draft) for shop in _REAL["shops"] for draft in shop["drafts"]]


@pytest.mark.parametrize(
    ("segments", "draft"),
    _REAL_DRAFTS,
    ids=[f"shop{i}-seg{d['segment']}-seed{d['seed']}" for i, (_, d) in enumerate(_REAL_DRAFTS)],
)
def test_real_persona_drafts_keep_their_verdict(
    segments: list[dict[str, object]], draft: dict[str, object]
) -> None:
    stats = SegmentStats(**next(s for s in segments if s["segment"] == draft["segment"]))
    persona = PersonaDraft(name=str(draft["name"]), description=str(draft["description"]))
    assert (check_persona(persona, stats, "zh") == []) == draft["passed_digits_only"]
    # A refused draft whose only faults are clauses with unsupported numbers is kept without them.
    cut = None if draft["passed_digits_only"] else without_unsupported(persona, stats, "zh")
    assert (cut and cut[1]) == draft.get("cut")


@pytest.mark.slow
def test_segments_cover_every_buyer_with_consistent_stats(shop_settings: Settings) -> None:
    result = run_segmentation(shop_settings, personas=False)
    assignments = pd.read_parquet(result.assignments_parquet)
    buyers = generated_shop_buyers(shop_settings)
    assert result.customers == len(assignments) == buyers
    choice = result.k_choice
    assert choice is not None and choice.rule == "best_silhouette" and 3 <= result.k <= 8
    # The best silhouette among the k whose segments are all big enough and clearer than no structure.
    passing = [c for c in choice.candidates if not c.too_small and c.structured and c.k >= 3]
    assert result.silhouette[result.k] == max(c.silhouette for c in passing)
    assert min(p.stats.customers for p in result.segments) >= choice.min_segment_size
    stats = [p.stats for p in result.segments]
    assert [s.segment for s in stats] == list(range(1, result.k + 1))
    assert sum(s.customers for s in stats) == result.customers
    assert sum(s.revenue_share for s in stats) == pytest.approx(1.0, abs=1e-3)
    assert [s.revenue for s in stats] == sorted((s.revenue for s in stats), reverse=True)
    assert assignments.groupby("segment").size().to_dict() == {s.segment: s.customers for s in stats}
    # Segments differ in behaviour: the top segment is worth more per customer than the last one.
    assert stats[0].revenue / stats[0].customers > stats[-1].revenue / stats[-1].customers
    assert all(s.top_categories and s.rfm_mix for s in stats)
    assert all(re.search("[\u4e00-\u9fff]", s.top_categories[0].category) for s in stats)
    # Template personas (no LLM) are flagged and grounded by construction.
    for p in result.segments:
        assert p.persona.source == "template"
        assert unsupported_numbers(p.persona.description, p.stats, context=segment_context(p.stats)) == []
    html = Path(result.report_html).read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3 and "客户细分报告" in html
    assert json.loads(Path(result.summary_json).read_text(encoding="utf-8"))["k"] == result.k


def test_fixed_k_and_english_labels(shop_settings: Settings) -> None:
    result = run_segmentation(shop_settings, k=4, lang="en", personas=False, report=False)
    assert result.k == 4 and len(result.segments) == 4 and result.silhouette == {} and result.k_choice is None
    assert result.segments[0].persona.description.split()[0].isdigit()  # "<n> customers (…)"
    for p in result.segments:  # the English template names each statistic it quotes
        assert unsupported_numbers(p.persona.description, p.stats, context=segment_context(p.stats)) == []


def _stats(shop_settings: Settings) -> SegmentStats:
    return run_segmentation(shop_settings, k=3, personas=False, report=False).segments[0].stats


def test_persona_with_an_invented_number_is_regenerated_with_the_number_named(
    shop_settings: Settings, llm_server: OpenAITestServer, home: Path
) -> None:
    stats = _stats(shop_settings)
    share = f"{stats.customer_share * 100:.1f}%"
    llm_server.script(
        json_reply(
            {"name": "高价值老客", "description": f"这群客户占{share}，复购率高达99.5%，值得重点维护。"}
        ),
        json_reply(
            {
                "name": "高价值老客",
                "description": f"这群客户占{share}，客单价{stats.aov:.0f}元，值得重点维护。",
            }
        ),
    )
    persona = write_persona(get_client(llm_server.settings(home)), stats, n_segments=3, lang="zh")
    assert persona.source == "llm" and persona.attempts == 2
    assert "99.5%" in persona.rejected[0]
    retry = llm_server.requests[1]["messages"]
    assert retry[-2]["role"] == "assistant" and "99.5%" in retry[-1]["content"]
    system_and_user = " ".join(m["content"] for m in llm_server.requests[0]["messages"])
    assert str(stats.customers) in system_and_user and "customer_id" not in system_and_user


def test_persona_with_one_invented_clause_is_kept_without_it(
    shop_settings: Settings, llm_server: OpenAITestServer, home: Path
) -> None:
    stats = _stats(shop_settings)
    share, aov = f"{stats.customer_share * 100:.1f}%", f"{stats.aov:.2f}"
    # The embedded model's habit: the recency in days written as purchases per day.
    description = (
        f"这群客户占{share}，他们平均每天购买{stats.recency_days:.0f}次，客单价{aov}元，值得重点维护。"
    )
    llm_server.script(json_reply({"name": "高价值老客", "description": description}))
    persona = write_persona(get_client(llm_server.settings(home)), stats, n_segments=3, lang="zh")
    assert len(llm_server.requests) == 1 and persona.source == "llm" and persona.attempts == 1
    assert persona.description == f"这群客户占{share}，客单价{aov}元，值得重点维护。"
    assert "cut: 他们平均每天购买" in persona.rejected[0]


def _named(segment: int, name: str, lang: Language = "zh") -> Persona:
    return Persona(segment=segment, language=lang, name=name, description="…", source="llm", attempts=1)


@pytest.mark.parametrize(
    ("lang", "names", "expected"),
    [
        (
            "zh",
            ["高频忠实老客", "高频忠实老客", "价格敏感新客", "高频忠实老客"],
            ["高频忠实老客", "高频忠实老客（2）", "价格敏感新客", "高频忠实老客（4）"],
        ),
        (
            "en",
            ["Loyal regulars", " loyal regulars ", "Bargain hunters"],
            ["Loyal regulars", "loyal regulars (2)", "Bargain hunters"],
        ),
        # a suffixed name the model wrote for another segment is not reused
        ("zh", ["沉睡客", "沉睡客", "沉睡客（2）"], ["沉睡客", "沉睡客（2）（2）", "沉睡客（2）"]),
        ("en", ["Sleepers", "Newcomers"], ["Sleepers", "Newcomers"]),
    ],
)
def test_persona_names_are_made_unique_by_segment_number(
    lang: Language, names: list[str], expected: list[str]
) -> None:
    personas = [_named(i, name, lang) for i, name in enumerate(names, start=1)]
    unique = distinct_names(personas)
    assert [p.name for p in unique] == expected
    assert [p.model_dump(exclude={"name"}) for p in unique] == [
        p.model_dump(exclude={"name"}) for p in personas
    ]


def test_a_model_name_equal_to_a_template_name_is_made_unique() -> None:
    stats = SegmentStats(**STATS, revenue=1_077_444.0, tenure_days=400.0, discount_rate=0.1)
    template = template_persona(stats, "zh", "元", attempts=0, rejected=[])
    assert template.name == "细分2：重要价值客户为主"
    unique = distinct_names([template, _named(5, template.name)])
    assert [p.name for p in unique] == ["细分2：重要价值客户为主", "细分2：重要价值客户为主（5）"]


def test_persona_days_read_as_whole_days_since_the_last_purchase() -> None:
    # "29.0" in the facts came back as "平均购买29.0天": days are whole, and say what they count.
    stats = SegmentStats(**STATS, revenue=1_077_444.0, tenure_days=400.0, discount_rate=0.1)
    lines = dict(facts(stats, "zh", "元"))
    assert lines["距上次购买（平均）"] == "45 天" and lines["成为客户的时长（平均）"] == "400 天"
    assert dict(facts(stats, "en", "CNY"))["Days since last purchase (mean)"] == "45"
    zh = template_persona(stats, "zh", "元", attempts=0, rejected=[]).description
    en = template_persona(stats, "en", "CNY", attempts=0, rejected=[]).description
    assert "距上次购买平均 45 天" in zh and "45.2" not in zh
    assert "last purchase 45 days ago on average" in en
    for lang, text in (("zh", zh), ("en", en)):
        draft = PersonaDraft(name="重要价值客户" if lang == "zh" else "Valued buyers", description=text)
        assert check_persona(draft, stats, lang) == []


def test_persona_that_keeps_inventing_falls_back_to_a_flagged_template(
    shop_settings: Settings, llm_server: OpenAITestServer, home: Path
) -> None:
    stats = _stats(shop_settings)
    wrong = json_reply({"name": "神秘客户", "description": "这群客户有12345678人，增长了300%。"})
    english = json_reply({"name": "Loyal buyers", "description": "These customers buy often and love deals."})
    llm_server.script(wrong, english, wrong)
    persona = write_persona(
        get_client(llm_server.settings(home)), stats, n_segments=3, lang="zh", max_attempts=3
    )
    assert persona.source == "template" and persona.attempts == 3
    assert "描述不是中文" in persona.rejected[1]
    assert unsupported_numbers(persona.description, stats, context=segment_context(stats)) == []
    assert str(stats.customers) in persona.description


def test_segment_cli_json(shop_settings: Settings) -> None:
    from marketpilot.cli import app

    args = ["segment", "--home", str(shop_settings.home), "--k", "3", "--no-personas", "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert payload["k"] == 3 and len(payload["segments"]) == 3


@pytest.mark.slow
def test_real_model_writes_chinese_personas_whose_numbers_match_the_stats(shop_settings: Settings) -> None:
    # Two segments keep it to a few calls of the embedded model; each may take up to 3 attempts.
    result = run_segmentation(shop_settings, k=2, lang="zh", report=False, max_attempts=3)
    llm = []
    for profile in result.segments:
        persona, stats = profile.persona, profile.stats
        print(persona.source, persona.attempts, persona.name, persona.description, persona.rejected)
        assert len(re.findall("[\u4e00-\u9fff]", persona.description)) > 10
        text = f"{persona.name}。{persona.description}"
        assert unsupported_numbers(text, stats, context=segment_context(stats)) == []
        if persona.source == "llm":
            llm.append(persona.segment)
        else:  # the fallback says why each of the model's drafts was refused: the checks, not an error
            assert persona.source == "template" and len(persona.rejected) == persona.attempts == 3
            reasons = enumerate(persona.rejected, 1)
            checked = [re.fullmatch(rf"attempt {i}: (数字|描述).+", r) for i, r in reasons]
            assert all(checked), persona.rejected
    # Whether a segment gets the model's own persona depends on the CPU's numerics and the checks: on
    # one 2-core VM both did; on a slower AMD one segment's three drafts quoted too few figures; since
    # Chinese numerals are read, "平均每天购买244次" (244 is the recency in days) is refused, where it
    # passed before. The model ran, wrote Chinese and was judged; what it wrote true is kept.
    print("llm personas:", llm)


def test_hdbscan_option_puts_every_customer_in_a_density_cluster(shop_settings: Settings) -> None:
    result = run_segmentation(shop_settings, method="hdbscan", personas=False, report=False)
    assert result.method == "hdbscan" and result.k >= 2
    assert sum(p.stats.customers for p in result.segments) == result.customers
    # Its clusters are dense cores of a few dozen customers; with the customers nearest to each, every
    # segment reaches the minimum size (5% of 1,452 buyers), so no segment is named as too small.
    assert min(p.stats.customers for p in result.segments) >= 73 and result.small_segments is None


@pytest.mark.slow
def test_text_features_from_embedded_product_names_and_reviews(shop_settings: Settings) -> None:
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import cross_val_score

    from marketpilot.analytics.purchases import register_purchases
    from marketpilot.analytics.segments.features import text_matrix

    with Store.open(shop_settings, read_only=True) as store:
        register_purchases(store.con)
        customers = pd.Index(
            store.query("SELECT DISTINCT customer_id FROM _purchases")["customer_id"]
        ).sort_values()
        text = text_matrix(store.con, customers)
        bought_only = text_matrix(store.con, customers, reviews=False)
        rating = store.query("SELECT customer_id, avg(rating) AS r FROM reviews GROUP BY ALL")
    assert text.shape == (len(customers), 8) and text.index.equals(customers)
    assert text.attrs["sources"] == ["products", "reviews"] and bought_only.attrs["sources"] == ["products"]
    assert text.std().min() > 0  # customers differ in what they bought and wrote
    # What reviewers wrote tells how happy they are; what they bought does not.
    rating = rating.set_index("customer_id")["r"].reindex(customers).dropna()
    r2 = {
        name: cross_val_score(RidgeCV(), X.loc[rating.index], rating, cv=5, scoring="r2").mean()
        for name, X in (("with reviews", text), ("products only", bought_only))
    }
    print(f"R² of reviewers' mean rating from the text features: {r2}")
    assert r2["with reviews"] > 0.3 > 0.1 > r2["products only"]
    result = run_segmentation(shop_settings, text=True, personas=False, report=False)
    assert result.text_features and result.customers == len(customers)


def test_review_texts_are_masked_and_exclude_placeholders_and_later_reviews(home: Path) -> None:
    import datetime as dt

    from marketpilot.analytics.segments.features import review_clauses, review_texts
    from marketpilot.data.sample import make_sample

    settings = get_settings(home)
    make_sample(settings, customers=300, seed=1)
    with Store.open(settings) as store:
        customer, product = store.query(
            "SELECT o.customer_id, i.product_id FROM orders o JOIN order_items i USING (order_id) LIMIT 1"
        ).iloc[0]
        written = [
            ("pii", "质量很好，有问题打13812345678或发邮件到 wang.lei@example.com，谢谢！", "2025-06-01"),
            ("placeholder", "此用户未填写评价内容", "2025-06-01"),
            ("later", "物流太慢了，下次不买了。", "2025-12-30"),
        ]
        rows = pd.DataFrame(
            {
                "review_id": [f"test-{key}" for key, _, _ in written],
                "product_id": product,
                "customer_id": customer,
                "rating": 5,
                "text": [text for _, text, _ in written],
                "language": "zh",
                "created_at": pd.to_datetime([day for _, _, day in written]),
            }
        )
        store.upsert("reviews", rows)
        texts = review_texts(store.con, before=dt.date(2025, 12, 1))
    mine = texts[texts["customer_id"] == customer]["text"].tolist()
    masked = "质量很好，有问题打[电话]或发邮件到 [邮箱]，谢谢！"
    assert masked in mine and not any("未填写" in t or "物流太慢" in t for t in mine)
    assert not texts["text"].str.contains(r"1\d{10}|@|未填写评价").any()
    clauses = review_clauses(pd.DataFrame({"customer_id": [customer], "text": [masked]}))["text"].tolist()
    assert clauses == ["质量很好", "有问题打[电话]或发邮件到 [邮箱]", "谢谢"]


def test_segment_model_predicts_the_segments_it_learned(shop_settings: Settings) -> None:
    import datetime as dt

    from marketpilot.analytics.segments.clustering import SegmentModel
    from marketpilot.analytics.segments.features import behaviour_matrix, segmentation_frame
    from marketpilot.errors import NotFittedError

    with Store.open(shop_settings, read_only=True) as store:
        X = behaviour_matrix(segmentation_frame(store.con, dt.date(2026, 1, 1)))
    with pytest.raises(NotFittedError):
        SegmentModel().predict(X)
    model = SegmentModel(k=4).fit(X)
    assert (model.predict(X) == model.labels_).all()
    assert model.cluster_centers_.shape == (4, X.shape[1])


def test_persona_without_any_statistic_is_sent_back(
    shop_settings: Settings, llm_server: OpenAITestServer, home: Path
) -> None:
    stats = _stats(shop_settings)
    revenue = f"{stats.revenue_share * 100:.2f}%"
    llm_server.script(
        json_reply({"name": "忠实老客", "description": "这群客户非常忠诚，经常回购，是店铺的中坚力量。"}),
        json_reply(
            {"name": "忠实老客", "description": f"这{stats.customers}位客户贡献了{revenue}的销售额。"}
        ),
    )
    persona = write_persona(get_client(llm_server.settings(home)), stats, n_segments=3, lang="zh")
    assert persona.source == "llm" and persona.attempts == 2
    assert "至少要引用 2 个统计数字" in persona.rejected[0]
    assert "至少要引用 2 个统计数字" in llm_server.requests[1]["messages"][-1]["content"]


def _fact(messages: list[dict], label: str) -> str:
    """The value of one fact line ("- 客单价：256.78 元（…）") in the persona prompt, number only."""
    facts = next(m["content"] for m in messages if "客户数：" in str(m.get("content")))
    line = next(line for line in facts.splitlines() if line.startswith(f"- {label}："))
    return re.match(r"[\d.]+", line.split("：", 1)[1]).group(0)


def _persona_reply(*, aov_from: str = "客单价") -> Callable[[dict], Reply]:
    """A reply built from the facts the prompt gave; `aov_from` picks which fact is called 客单价."""

    def reply(request: dict) -> Reply:
        customers, aov = _fact(request["messages"], "客户数"), _fact(request["messages"], aov_from)
        text = f"这{customers}位客户的客单价为{aov}元，是值得用心维护的一群老顾客。"
        return json_reply({"name": "稳定复购客", "description": text})

    return reply


@pytest.mark.slow
def test_segment_cli_in_chinese_checks_every_persona_against_its_stats(
    shop_settings: Settings, llm_server: OpenAITestServer
) -> None:
    from marketpilot.cli import app

    # Segment 2's first draft calls the mean recency (days) its AOV: rejected, then rewritten.
    recency = "距上次购买（平均）"
    llm_server.script(_persona_reply(), _persona_reply(aov_from=recency), _persona_reply(), _persona_reply())
    args = ["segment", "--home", str(shop_settings.home), "--k", "3", "--lang", "zh", "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    payload = json.loads(out.stdout)
    assert len(llm_server.requests) == 4 and "细分 2 的汇总统计" in json.dumps(
        llm_server.requests[1]["messages"], ensure_ascii=False
    )
    personas = [s["persona"] for s in payload["segments"]]
    assert [p["source"] for p in personas] == ["llm"] * 3 and [p["attempts"] for p in personas] == [1, 2, 1]
    wrong = f"{payload['segments'][1]['stats']['recency_days']:.0f}"
    assert wrong in personas[1]["rejected"][0] and wrong in llm_server.requests[2]["messages"][-1]["content"]
    for profile in payload["segments"]:
        stats, persona = SegmentStats(**profile["stats"]), profile["persona"]
        # the script names every segment alike: the first keeps the name, the others get their number
        name = "稳定复购客" if stats.segment == 1 else f"稳定复购客（{stats.segment}）"
        assert persona["language"] == "zh" and persona["name"] == name
        assert f"{stats.aov:.2f}元" in persona["description"]
        assert unsupported_numbers(persona["description"], stats, context=segment_context(stats)) == []
    assert "客户细分报告" in Path(payload["report_html"]).read_text(encoding="utf-8")


def test_a_narrative_without_clause_words_reads_only_shares_and_multiples() -> None:
    # A report's narrative is checked against a list of metrics with no words to say what "一次" counts:
    # "这是一次成功的活动" is no figure there, while a share or a multiple still has to be true.
    metrics = {"lift": 0.3, "conversion_rate": 0.052}
    assert unsupported_numbers("这是一次成功的活动，转化率提升了三成。", metrics) == []
    assert unsupported_numbers("转化率提升了五成，是对照组的两倍。", metrics) == ["五成", "两倍"]
