"""The written report of a decision (uplift targeting, budget split, price positioning, coupon
design): the figures
as a Markdown table, the chart, and a narrative the LLM writes from those figures alone
(`narrative.grounded_narrative`: a number the figures do not hold sends it back, then a template
takes over). Written to <home>/decisions/<kind>/report.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from marketpilot.analytics.budget import BudgetPlan
from marketpilot.analytics.narrative import Narrative, grounded_narrative
from marketpilot.analytics.pricing import PricingReport
from marketpilot.analytics.promo import VERDICTS, PromoPlan
from marketpilot.analytics.uplift import UpliftReport
from marketpilot.analytics.uplift.service import PolicyValues
from marketpilot.atomic import write_text
from marketpilot.config import Settings

Kind = Literal["uplift", "budget", "price", "promo"]
Facts = dict[str, float | int | str]

_TEXT = {
    "zh": {
        "uplift": "增量定向分析（谁该收到哪种触达）",
        "budget": "渠道预算分配",
        "price": "竞品价格定位",
        "promo": "满减券设计（门槛、面额、盈亏平衡与测试）",
        "title": "决策报告",
        "figures": "指标",
        "templated": "（模板生成：LLM 解读未通过数字核对或不可用）",
        "target": "按模型定向：每位客户发送模型为其选出的方案（得分表的 best_arm 列）",
        "send_everyone": "全部发送「{arm}」：留出数据上定向没有胜过它",
        "send_nobody": "都不发送：没有方案值回成本",
        "no_gain": "在发送比例限制下，定向没有胜过同等规模的随机抽样",
        "send_everyone_noise": "全部发送「{arm}」：定向在留出数据上的增益在噪声范围内（置信区间包含零）",
        "send_nobody_noise": "都不发送：定向在留出数据上的增益在噪声范围内（置信区间包含零）",
        "no_gain_noise": "在发送比例限制下，定向相对同等规模随机抽样的增益在噪声范围内（置信区间包含零）",
        "weak_fit": "弱：历史花费与产出关系不明显，该渠道的分配依据不足",
    },
    "en": {
        "uplift": "uplift targeting analysis (who should get which treatment)",
        "budget": "channel budget split",
        "price": "competitor price positioning",
        "promo": "coupon design (threshold, amount, break-even and the test)",
        "title": "Decision report",
        "figures": "Figures",
        "templated": "(templated: the LLM narrative failed the number check or the LLM was unavailable)",
        "target": "target: send each customer the arm the model chose for them (the scores' best_arm column)",
        "send_everyone": "send everyone {arm!r}: targeting did not beat it on the held-out rows",
        "send_nobody": "send nobody anything: no arm is worth its cost",
        "no_gain": "under the send cap, targeting did not beat a random sample of the same size",
        "send_everyone_noise": "send everyone {arm!r}: targeting's gain over it on the held-out rows is "
        "within noise (its confidence interval includes zero)",
        "send_nobody_noise": "send nobody anything: targeting's gain on the held-out rows is within noise "
        "(its confidence interval includes zero)",
        "no_gain_noise": "under the send cap, targeting's gain over a random sample of the same size is "
        "within noise (its confidence interval includes zero)",
        "weak_fit": "weak: its spend shows little relation to the outcome, so its share rests on little "
        "evidence",
    },
}


# What each figure is, in Chinese, for the model that writes the Chinese narrative (a 1.5B model reads
# "按模型定向的人均价值" far more reliably than "value_per_customer_targeted"). Per-arm and per-channel
# keys end in one of the suffixes.
_ZH_LABELS = {
    "customers": "客户数",
    "held_out_customers": "留出验证的客户数",
    "outcome": "结果指标",
    "recommendation": "建议",
    "value_per_customer_targeted": "按模型定向的人均价值",
    "best_single_arm": "效果最好的单一方案",
    "value_per_customer_best_single_arm": "全部发送最好单一方案的人均价值",
    "value_per_customer_random_same_share": "同比例随机发送的人均价值",
    "gain_per_customer": "定向的人均增益（相对上面的比较对象）",
    "gain_interval_low": "增益置信区间下限",
    "gain_interval_high": "增益置信区间上限",
    "send_cap_percent": "发送比例上限（%）",
    "budget": "总预算",
    "expected_outcome": "建议分配的预期产出",
    "expected_outcome_todays_split": "按当前比例分配的预期产出",
    "expected_outcome_equal_split": "平均分配的预期产出",
    "unallocated": "未分配金额",
    "products_compared": "比较的商品数",
    "products_without_competitor_price": "没有竞品价格的商品数",
    "median_price_index": "价格指数中位数（100 = 竞品中位价）",
    "products_where_market_median_is_below_cost_floor": "竞品中位价低于成本底线的商品数",
    "products_cheapest": "全场最低价的商品数",
    "products_below_market": "低于市场价的商品数",
    "products_at_market": "与市场价持平的商品数",
    "products_above_market": "高于市场价的商品数",
    "products_most_expensive": "全场最贵的商品数",
    "months_of_orders": "参考的订单月数",
    "groups_given_coupons": "建议发券的客群数",
    "groups_with_a_conclusive_test": "对照测试能得出结论的客群数",
    "groups_skipped": "不建议发券的客群数",
}
_ZH_SUFFIXES = {
    "_average_uplift": "·平均增量",
    "_qini_p_value": "·Qini 检验 p 值",
    "_top_30_percent_capture_percent": "·前30%客户贡献的增量占比（%）",
    "_percent_sent": "·发送比例（%）",
    "_spend": "·建议投入",
    "_share_percent": "·预算占比（%）",
    "_marginal_return": "·边际回报",
    "_curve_r2": "·曲线拟合优度 R²",
    "_curve_fit": "·曲线可信度",
    "_history_periods": "·历史期数",
    "_carryover_percent": "·延续到下一期的效果（%）",
    "_coupon": "·建议券（浅/深）",
    "_verdict": "·结论",
    "_customers": "·客户数",
    "_median_basket": "·订单金额中位数",
    "_already_reach_percent": "·已达门槛的订单占比（%）",
    "_in_reach_percent": "·差一点达到门槛的订单占比（%）",
    "_margin_percent": "·毛利率（%）",
    "_break_even_lift_percent": "·浅券盈亏平衡所需订单增幅（%）",
    "_customers_per_arm_needed": "·每组所需客户数",
}


def fact_label(key: str, language: str) -> str:
    """How the narrative prompt names a figure: the key itself in English, a Chinese label in zh."""
    if language != "zh":
        return key
    if key in _ZH_LABELS:
        return _ZH_LABELS[key]
    for suffix, label in _ZH_SUFFIXES.items():
        if key.endswith(suffix):
            return key.removesuffix(suffix) + label
    return key


def recommendation_text(policies: PolicyValues, language: str = "en") -> str:
    key = policies.recommendation + ("_noise" if policies.within_noise else "")
    return _TEXT[language][key].format(arm=policies.best_blanket)


def gain_shown(policies: PolicyValues) -> tuple[float, tuple[float, float]]:
    """The gain the recommendation rests on and its interval: over a random sample of the same size
    under a send cap, over the best blanket send otherwise."""
    over_random, interval = (
        policies.gain_over_random_same_share,
        policies.gain_over_random_same_share_interval,
    )
    if over_random is not None and interval is not None:
        return over_random, interval
    return policies.gain_over_best_blanket, policies.gain_over_best_blanket_interval


def uplift_facts(report: UpliftReport, language: str) -> Facts:
    p = report.policies
    facts: Facts = {
        "customers": report.rows,
        "held_out_customers": report.held_out,
        "outcome": report.outcome,
        "recommendation": recommendation_text(p, language),
        "value_per_customer_targeted": p.targeted,
        "best_single_arm": p.best_blanket,
        "value_per_customer_best_single_arm": p.everyone[p.best_blanket],
        "value_per_customer_random_same_share": p.random_same_share,
    }
    gain, (low, high) = gain_shown(p)
    facts |= {"gain_per_customer": gain, "gain_interval_low": low, "gain_interval_high": high}
    if report.send_cap is not None:
        facts["send_cap_percent"] = round(report.send_cap * 100, 1)
    for arm, share in p.targeted_share.items():
        facts[f"{arm}_percent_sent"] = round(share * 100, 1)
    for q in report.qini:
        facts[f"{q.arm}_average_uplift"] = q.average_uplift
        facts[f"{q.arm}_qini_p_value"] = q.p_value
        facts[f"{q.arm}_top_30_percent_capture_percent"] = round(q.captured["30%"] * 100, 1)
    return facts


def budget_facts(plan: BudgetPlan, language: str) -> Facts:
    a = plan.allocation
    facts: Facts = {
        "budget": a.total,
        "expected_outcome": a.expected_outcome,
        "expected_outcome_todays_split": a.current_split_outcome,
        "expected_outcome_equal_split": a.equal_split_outcome,
        "unallocated": a.unallocated,
    }
    fit = {c.channel: c for c in plan.curves}
    for c in a.channels:
        facts[f"{c.channel}_spend"] = c.spend
        facts[f"{c.channel}_share_percent"] = round(c.share * 100, 1)
        facts[f"{c.channel}_marginal_return"] = c.marginal_return
        facts[f"{c.channel}_curve_r2"] = fit[c.channel].r2
        facts[f"{c.channel}_history_periods"] = fit[c.channel].points
        if fit[c.channel].carryover:
            facts[f"{c.channel}_carryover_percent"] = round(fit[c.channel].carryover * 100)
        if fit[c.channel].event_uplift:
            facts[f"{c.channel}_event_uplift_percent"] = round(fit[c.channel].event_uplift * 100)
        if c.channel in plan.weak_fits:
            facts[f"{c.channel}_curve_fit"] = _TEXT[language]["weak_fit"]
    if plan.for_event:
        facts["split_for"] = "event period" if language == "en" else "大促期"
    return facts


def price_facts(report: PricingReport, language: str) -> Facts:
    s = report.summary
    facts: Facts = {
        "products_compared": s.products_compared,
        "products_without_competitor_price": s.products_without_competitor_price,
        "median_price_index": s.median_index,
        "products_where_market_median_is_below_cost_floor": s.median_below_floor,
    }
    facts |= {f"products_{name.replace(' ', '_')}": n for name, n in s.positions.items()}
    return facts


def promo_facts(plan: PromoPlan, language: str) -> tuple[Facts, Facts]:
    """(facts, names): the figures of each group a coupon is designed for, and the numbers in the groups'
    names (细分1), which the narrative may repeat without their being figures."""
    designed = [g for g in plan.groups if g.has_coupon]
    facts: Facts = {
        "months_of_orders": round((plan.until - plan.since).days / 30.4),
        "groups_given_coupons": len(designed),
        "groups_with_a_conclusive_test": sum(g.verdict == "test" for g in plan.groups),
        "groups_skipped": len(plan.groups) - len(designed),
    }
    names: Facts = {}
    for g in plan.groups:
        arms = [a for a in (g.shallow, g.deep) if a]
        names |= {f"{g.group}_number_{i}": float(n) for i, n in enumerate(re.findall(r"\d+", g.group))}
        facts[f"{g.group}_verdict"] = VERDICTS[language][g.verdict]
        if g not in designed or g.threshold is None or g.shallow is None:
            continue
        facts[f"{g.group}_coupon"] = " / ".join(a.label(g.threshold) for a in arms)
        facts[f"{g.group}_customers"] = g.customers
        facts[f"{g.group}_median_basket"] = g.median_basket
        facts[f"{g.group}_already_reach_percent"] = round((g.deadweight_share or 0) * 100, 1)
        facts[f"{g.group}_in_reach_percent"] = round((g.reach_share or 0) * 100, 1)
        facts[f"{g.group}_margin_percent"] = round(g.margin * 100, 1)
        facts[f"{g.group}_break_even_lift_percent"] = round(g.shallow.break_even_lift * 100, 1)
        if g.shallow.customers_per_arm:
            facts[f"{g.group}_customers_per_arm_needed"] = g.shallow.customers_per_arm
    return facts, names


def _template(kind: Kind, facts: Facts, language: str) -> str:
    f = facts
    if kind == "uplift":
        capped = "send_cap_percent" in f
        other = "value_per_customer_random_same_share" if capped else "value_per_customer_best_single_arm"
        if language == "zh":
            versus = (
                f"同比例随机发送为 {f[other]}"
                if capped
                else f"全部发送「{f['best_single_arm']}」为 {f[other]}"
            )
            return (
                f"建议：{f['recommendation']}。在留出的 {f['held_out_customers']} 位客户上，定向的人均价值为 "
                f"{f['value_per_customer_targeted']}，{versus}；人均增益 {f['gain_per_customer']}"
                f"（95% 置信区间 {f['gain_interval_low']} 至 {f['gain_interval_high']}）。"
            )
        versus = (
            f"a random sample of the same size {f[other]}"
            if capped
            else f"sending everyone {f['best_single_arm']!r} {f[other]}"
        )
        return (
            f"Recommendation: {f['recommendation']}. On {f['held_out_customers']} held-out customers the "
            f"targeting is worth {f['value_per_customer_targeted']} per customer, {versus}: a gain of "
            f"{f['gain_per_customer']} (95 % confidence interval {f['gain_interval_low']} to "
            f"{f['gain_interval_high']})."
        )
    if kind == "promo":
        coupons = [(k.removesuffix("_coupon"), v) for k, v in f.items() if k.endswith("_coupon")]
        if language == "zh":
            listed = "；".join(f"「{g}」{c}" for g, c in coupons) or "无"
            rest = f"其余 {f['groups_skipped']} 个客群不建议发券。" if f["groups_skipped"] else ""
            return f"建议测试的满减券：{listed}。{rest}"
        listed = "; ".join(f"{g!r} {c}" for g, c in coupons) or "none"
        rest = f" No coupon for the other {f['groups_skipped']} groups." if f["groups_skipped"] else ""
        return f"Coupons to test: {listed}.{rest}"
    if kind == "budget":
        if language == "zh":
            return (
                f"按边际回报相等分配预算 {f['budget']}，预计产出 {f['expected_outcome']}；"
                f"按当前比例为 {f['expected_outcome_todays_split']}，"
                f"平均分配为 {f['expected_outcome_equal_split']}。"
            )
        return (
            f"Splitting {f['budget']} to equal marginal returns is expected to bring "
            f"{f['expected_outcome']}, "
            f"against {f['expected_outcome_todays_split']} at today's split and "
            f"{f['expected_outcome_equal_split']} split equally."
        )
    if language == "zh":
        return (
            f"共比较 {f['products_compared']} 个商品，"
            f"价格指数中位数 {f['median_price_index']}（100 = 竞品中位价）；"
            f"{f['products_where_market_median_is_below_cost_floor']} 个商品的竞品中位价低于成本底线。"
        )
    return (
        f"{f['products_compared']} products compared; median price index {f['median_price_index']} "
        f"(100 = the competitors' median); for {f['products_where_market_median_is_below_cost_floor']} "
        "the market median is below the cost floor."
    )


def write_decision_report(
    settings: Settings,
    kind: Kind,
    facts: Facts,
    *,
    language: str = "zh",
    chart: Path | None = None,
    client: object = None,
    names: Facts | None = None,
) -> tuple[Path, Narrative]:
    """`names`: numbers the narrative may repeat that are not figures (segment ids)."""
    text = _TEXT[language]
    narrative = grounded_narrative(
        settings,
        "decision_report",
        language,
        {fact_label(key, language): value for key, value in facts.items()},
        _template(kind, facts, language),
        client=client,
        names=names,
        question=text[kind],
    )
    lines = [f"# {text['title']}: {text[kind]}", "", narrative.text]
    if narrative.source == "template":
        lines += ["", f"_{text['templated']}_"]
    lines += ["", f"## {text['figures']}", "", "| | |", "|---|---|"]
    lines += [f"| {fact_label(key, language)} | {value} |" for key, value in facts.items()]
    if chart is not None:
        lines += ["", f"![{text[kind]}]({chart.name})"]
    path = settings.path("decisions", kind, "report.md")
    return write_text(path, "\n".join(lines) + "\n"), narrative
