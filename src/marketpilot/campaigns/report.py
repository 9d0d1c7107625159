"""The campaign report: metrics, four charts (funnel, lift with CI, conversion by arm — per channel
on several —, segments) as inline PNGs, and a narrative. The LLM writes the narrative from a list of
facts; every number in it must match a fact (content's/intel's number checker), otherwise it is
regenerated once naming the offending numbers, then replaced by a templated narrative that says so."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Engine

from marketpilot.analytics.coupon_response import DepthResponse, MeasuredDepth, depth_label, depth_response
from marketpilot.analytics.narrative import Narrative, grounded_narrative
from marketpilot.atomic import write_text
from marketpilot.campaigns.assign import HOLDOUT
from marketpilot.campaigns.copy import keys_without_copy
from marketpilot.campaigns.measure import CampaignMetrics, ChannelArm, Lift, Posterior, measure
from marketpilot.campaigns.spec import CampaignSpec
from marketpilot.config import Settings
from marketpilot.data.money import minor_digits
from marketpilot.errors import MarketPilotError, UserError

LABELS = {
    "zh": {
        "title": "营销活动报告",
        "funnel": "转化漏斗（实验组）",
        "lift": "转化率增量（百分点，95% 置信区间）",
        "variants": "各组转化率",
        "variants_by_channel": "各组转化率（按渠道）",
        "channel": "渠道",
        "segments": "分群转化率：实验组 vs 对照组",
        "customers": "客户",
        "sent": "已发送",
        "delivered": "已送达",
        "opened": "打开",
        "clicked": "点击",
        "converted": "转化",
        "treated": "实验组",
        "holdout": "对照组",
        "narrative": "解读",
        "template": "（模板生成：LLM 解读未通过数字核对）",
        "pays": "优惠值得：订单增幅的整个置信区间都高于盈亏平衡所需",
        "does_not_pay": "优惠不划算：订单增幅的整个置信区间都低于盈亏平衡所需",
        "undecided": "尚无定论：盈亏平衡所需的增幅在订单增幅的置信区间之内",
        "break_even": "盈亏平衡所需订单增幅 {be}%；实测人均订单增幅 {rel}%"
        "（95% 置信区间 {low}% 至 {high}%）。{verdict}。",
        "depth": "优惠力度：按 {n} 档实测的订单响应（增幅 ∝ 力度^{b}），利润最高的力度约为 {best}"
        "（80% 的可能在 {low} 至 {high} 之间{none}）。",
        "none": "；{p}% 的可能任何力度都不划算",
        "deeper": "最优力度比已测的更深：下一轮可加测更深一档。",
        "no_holdout": "没有对照组客户，无法衡量增量：只能比较各文案。",
        "no_treated": "没有实验组客户（对照组 {n_h} 人），无法衡量增量。",
        "no_conversions": "各组都还没有转化（实验组 {n_t} 人中 0 人，对照组 {n_h} 人中 0 人）："
        "增量、ROI 和最佳文案都还无法估计。",
        "holdout_no_conversions": "对照组 {n_h} 人中没有转化：没有基线转化率，"
        "无法给出相对增量、最小可检测效应和所需样本量。",
        "small_arms": "样本太少：{arms}（每组不到 {min} 人），这些组的转化率和增量只是粗略值，不足以下结论。",
        "srm": "分组比例异常（SRM）：实际 {observed}，按设计应为 {expected}（χ² = {chi2}，p = {p}）："
        "分组出了问题，增量不可信。",
        "best": "表现最好的文案是 {arm}（胜出概率 {p}%）。",
        "no_best": "尚无明显更好的文案（胜出概率 {probs}）。",
        "no_variant_conversions": "实验组各文案都还没有转化，无法比较文案。",
        "undecided_copy": "尚无定论",
        "holdout_arm": "对照组",
        "no_copy": "{channel} 渠道的 {arm} 组没有文案，未分到该渠道的客户（其份额归该渠道其他组）：{why}",
        "sep": "、",
        "arm": "组",
        "variant": "文案",
        "rate": "转化率",
        "revenue": "收入",
        "cost": "成本",
        "p_best_channel": "渠道内胜出概率",
        "mismatch": "分组比例异常",
    },
    "en": {
        "title": "Campaign report",
        "funnel": "Funnel (treated)",
        "lift": "Conversion lift (pp, 95% CI)",
        "variants": "Conversion rate by arm",
        "variants_by_channel": "Conversion rate by arm and channel",
        "channel": "channel",
        "segments": "Segments: treated vs holdout",
        "customers": "customers",
        "sent": "sent",
        "delivered": "delivered",
        "opened": "opened",
        "clicked": "clicked",
        "converted": "converted",
        "treated": "treated",
        "holdout": "holdout",
        "narrative": "Summary",
        "template": "(templated: the LLM narrative failed the number check)",
        "pays": "the offer pays: the whole 95% interval of the growth in orders is above its break-even",
        "does_not_pay": "the offer does not pay: the whole interval is below its break-even",
        "undecided": "undecided: the break-even lies inside the interval of the growth in orders",
        "break_even": "Break-even growth in orders {be}%; measured orders per customer {rel}% "
        "(95% CI {low}% to {high}%): {verdict}.",
        "depth": "Offer depth: on the orders measured at {n} depths (growth ∝ depth^{b}), the most "
        "profitable depth is about {best} (80% likely between {low} and {high}{none}).",
        "none": "; {p}% likely that no depth pays",
        "deeper": " It lies beyond the deepest depth tested: test a deeper one next.",
        "no_holdout": "No holdout customers, so no lift can be measured: the arms can only be compared.",
        "no_treated": "No treated customers (holdout {n_h}), so no lift can be measured.",
        "no_conversions": "No conversions in any arm yet (0 of {n_t} treated, 0 of {n_h} in the holdout): "
        "the lift, ROI and best copy can't be estimated yet.",
        "holdout_no_conversions": "None of the {n_h} holdout customers converted: without a baseline rate "
        "there is no relative lift, minimum detectable effect or sample size.",
        "small_arms": "Too few customers to conclude on: {arms} (under {min} per group); their rates and "
        "lifts are rough.",
        "srm": "Sample ratio mismatch: observed {observed} against {expected} expected (χ² = {chi2}, "
        "p = {p}): the assignment is off its design; don't trust the lift.",
        "best": "Best copy: {arm} (P(best) {p}%).",
        "no_best": "No copy is clearly best yet (P(best) {probs}).",
        "no_variant_conversions": "No copy has converted anyone yet, so the copies can't be compared.",
        "undecided_copy": "undecided",
        "holdout_arm": "holdout",
        "no_copy": "{arm} had no copy on {channel} and got none of its customers (its share went to the "
        "channel's other arms): {why}",
        "sep": ", ",
        "arm": "arm",
        "variant": "variant",
        "rate": "rate",
        "revenue": "revenue",
        "cost": "cost",
        "p_best_channel": "P(best) on the channel",
        "mismatch": "MISMATCH",
    },
}


# Customers per group below which a rate or lift is an anecdote: a bootstrap interval over 3 customers
# is narrow because 3 customers can only be resampled so many ways, not because the effect is known.
SMALL_ARM = 30
BEST_COPY_PROB = 0.95  # P(best) a copy needs before the report names it the best


def offer_verdict(lift: Lift | None, break_even: float | None) -> str | None:
    """Did the offer pay? `pays` when the whole 95 % interval of the growth in orders per customer over
    the holdout is above the growth it needs (`Offer.break_even_lift`, which `decide promo` states in
    orders), `does_not_pay` when all below, else `undecided` (always, with fewer than SMALL_ARM
    customers in the arm or the holdout); None without a break-even or without holdout orders to
    measure against."""
    growth = _order_growth(lift)
    if lift is None or break_even is None or growth is None:
        return None
    if 0 < min(lift.customers_treated, lift.customers_holdout) < SMALL_ARM:
        return "undecided"
    _, low, high = growth
    return "pays" if low > break_even else "does_not_pay" if high < break_even else "undecided"


def _order_growth(lift: Lift | None) -> tuple[float, float, float] | None:
    """Relative growth in orders per customer and its 95 % bootstrap interval."""
    if lift is None or lift.orders_relative is None:
        return None
    low, high = lift.orders_relative_ci_low, lift.orders_relative_ci_high
    if low is None or high is None:
        return None
    return lift.orders_relative, low, high


def arm_lift(metrics: CampaignMetrics, arm: str) -> Lift | None:
    """The lift of `arm` over the holdout; "treatment" is every arm pooled."""
    if arm == "treatment":
        return metrics.lift
    return next((v for v in metrics.variant_lift if v.arm == arm), None)


def offer_verdicts(
    metrics: CampaignMetrics, break_evens: Mapping[str, float]
) -> Iterator[tuple[str, float, str, tuple[float, float, float]]]:
    """(arm, break-even, verdict, (growth, low, high)) for each offer (`CampaignSpec.break_evens`)
    whose growth in orders could be measured."""
    for arm, break_even in break_evens.items():
        lift = arm_lift(metrics, arm)
        verdict, growth = offer_verdict(lift, break_even), _order_growth(lift)
        if verdict is not None and growth is not None:
            yield arm, break_even, verdict, growth


def break_even_lines(metrics: CampaignMetrics, break_evens: Mapping[str, float], language: str) -> list[str]:
    """One line per offer with a break-even: what it needed, what was measured, whether it paid; an
    arm's own offer is named by its arm."""
    t, lines = LABELS[language], []
    for arm, break_even, verdict, growth in offer_verdicts(metrics, break_evens):
        rel, low, high = (round(x * 100, 1) for x in growth)
        be = round(break_even * 100, 1)
        line = t["break_even"].format(be=be, rel=rel, low=low, high=high, verdict=t[verdict])
        lines.append(line if arm == "treatment" else f"{arm}{'：' if language == 'zh' else ': '}{line}")
    return lines


@dataclass(frozen=True)
class DepthAdvice:
    """The fitted response of orders to an offer's depth, the arms it was fitted on and their threshold
    (None for discounts)."""

    response: DepthResponse
    measured: list[MeasuredDepth]
    threshold: float | None


def depth_advice(spec: CampaignSpec, metrics: CampaignMetrics) -> DepthAdvice | None:
    """With two or more offer depths measured (one threshold), the depth of most profit on the fitted
    response (`analytics.coupon_response`); None otherwise."""
    if not spec.has_arm_offers:
        return None
    measured, thresholds = [], set()
    for arm, be, _, (growth, low, high) in offer_verdicts(metrics, spec.break_evens()):
        offer = spec.offer_for(arm)
        if 0 < offer.depth < 1 and be > 0:
            measured.append(
                MeasuredDepth(arm=arm, depth=offer.depth, break_even=be, growth=growth, low=low, high=high)
            )
            thresholds.add(offer.coupon_threshold if offer.coupon_amount else None)
    if len(measured) < 2 or len(thresholds) != 1:  # depths of one kind of offer, at one threshold
        return None
    response = depth_response(measured)
    return None if response is None else DepthAdvice(response, measured, thresholds.pop())


def depth_lines(spec: CampaignSpec, metrics: CampaignMetrics) -> list[str]:
    """The depth of most profit, its 80 % interval and how often no offer pays, as a report line."""
    advice = depth_advice(spec, metrics)
    if advice is None:
        return []
    response, language = advice.response, spec.language
    best, low, high = (
        depth_label(d, advice.threshold, language)
        for d in (response.best_depth, response.low_depth, response.high_depth)
    )
    t, none = LABELS[language], round(response.no_offer_share * 100)
    line = t["depth"].format(
        n=len(advice.measured), b=response.exponent, best=best, low=low, high=high,
        none=t["none"].format(p=none) if none else "",
    )  # fmt: skip
    return [line + (t["deeper"] if response.beyond_tested else "")]


def _groups(metrics: CampaignMetrics) -> tuple[int, int, int, int]:
    """Treated customers, their converters, holdout customers, theirs."""
    treated = [a for a in metrics.arms if a.arm != HOLDOUT]
    holdout = next((a for a in metrics.arms if a.arm == HOLDOUT), None)
    return (
        sum(a.customers for a in treated),
        sum(a.converters for a in treated),
        holdout.customers if holdout else 0,
        holdout.converters if holdout else 0,
    )


def lift_estimable(metrics: CampaignMetrics) -> bool:
    """A lift needs both groups and one conversion somewhere: 0 % against 0 % is no estimate."""
    _, x_t, _, x_h = _groups(metrics)
    return metrics.lift is not None and x_t + x_h > 0


def data_limits(metrics: CampaignMetrics, language: str) -> list[str]:
    """What the data cannot support, each with its numbers: no holdout or no treated customers, no
    conversions (anywhere, or in the holdout), groups too small to conclude on, a sample-ratio mismatch."""
    t, sep = LABELS[language], LABELS[language]["sep"]
    n_t, x_t, n_h, x_h = _groups(metrics)
    lines = []
    if not n_h:
        lines.append(t["no_holdout"])
    elif not n_t:
        lines.append(t["no_treated"].format(n_h=n_h))
    elif not x_t + x_h:
        lines.append(t["no_conversions"].format(n_t=n_t, n_h=n_h))
    elif not x_h:
        lines.append(t["holdout_no_conversions"].format(n_h=n_h))
    small = [a for a in metrics.arms if 0 < a.customers < SMALL_ARM]
    if small:
        arms = sep.join(f"{_arm_name(a.arm, t)} {a.customers}" for a in small)
        lines.append(t["small_arms"].format(arms=arms, min=SMALL_ARM))
    srm = metrics.srm
    if srm is not None and srm.mismatch:
        observed = sep.join(f"{_arm_name(a, t)} {n}" for a, n in srm.observed.items())
        expected = sep.join(f"{e:.0f}" for e in srm.expected.values())
        chi2, p = f"{srm.chi2:.1f}", f"{srm.p_value:.2g}"
        lines.append(t["srm"].format(observed=observed, expected=expected, chi2=chi2, p=p))
    return lines


def _arm_name(arm: str, labels: Mapping[str, str]) -> str:
    return labels["holdout_arm"] if arm == HOLDOUT else arm


def _headers(labels: Mapping[str, str], *keys: str) -> str:
    return "".join(f"<th>{html.escape(labels[k])}</th>" for k in keys)


def copies_by_channel(metrics: CampaignMetrics) -> dict[str, list[Posterior]]:
    """The posteriors of the variants compared on each channel with two or more of them: a variant
    key is a different copy on each channel, so copy is ranked within a channel, never across."""
    by_channel: dict[str, list[Posterior]] = {}
    for p in metrics.posteriors:
        by_channel.setdefault(p.channel or "", []).append(p)
    return {channel: ps for channel, ps in by_channel.items() if len(ps) > 1}


def best_copy(metrics: CampaignMetrics, channel: str) -> str | None:
    """The variant the report may call the best on `channel`: P(best) ≥ BEST_COPY_PROB there, over
    two or more variants of which some converted there and none is too small to judge, with no
    sample-ratio mismatch; None otherwise."""
    variants = copies_by_channel(metrics).get(channel, [])
    if len(variants) < 2 or not any(p.converters for p in variants):
        return None
    if metrics.srm is not None and metrics.srm.mismatch:  # broken assignment: no comparison holds
        return None
    if any(p.customers < SMALL_ARM for p in variants):
        return None
    top = max(variants, key=lambda p: p.prob_best)
    return top.arm if top.prob_best >= BEST_COPY_PROB else None


def _copy_prefix(metrics: CampaignMetrics, channel: str, language: str) -> str:
    """'' on a campaign with one channel (fact names and sentences as they always were), else the
    channel ahead of what is said about its copy."""
    if len({p.channel for p in metrics.posteriors}) < 2:
        return ""
    return f"{channel}{'：' if language == 'zh' else ': '}"


def facts(
    metrics: CampaignMetrics, language: str = "zh", break_evens: Mapping[str, float] | None = None
) -> dict[str, float | int | str]:
    """The numbers the narrative may use, rounded as a reader would see them; with the offers'
    break-even lifts (arm → lift, "treatment" for all arms pooled), whether each paid."""
    cents = minor_digits(metrics.currency)  # ¥1,200 in JPY, 1.250 KWD: as the currency writes them
    out: dict[str, float | int | str] = {
        "customers": metrics.overall.customers,
        "messages_sent": metrics.overall.sent,
        "conversions": metrics.overall.converters,
        "revenue": round(metrics.overall.revenue, cents),
        "total_cost": round(metrics.total_cost, cents),
        "incremental_revenue": round(metrics.incremental_revenue, cents),
    }
    n_t, x_t, n_h, x_h = _groups(metrics)
    out |= {
        "treated_customers": n_t,
        "treated_conversions": x_t,
        "holdout_customers": n_h,
        "holdout_conversions": x_h,
    }
    estimable = lift_estimable(metrics)
    if metrics.roi is not None and estimable:
        out["roi_percent"] = round(metrics.roi * 100, 1)
    if metrics.lift and estimable:
        lift = metrics.lift
        out |= {
            "treated_conversion_percent": round(lift.rate_treated * 100, 2),
            "holdout_conversion_percent": round(lift.rate_holdout * 100, 2),
            "lift_pp": round(lift.absolute * 100, 2),
            "lift_ci_low_pp": round(lift.ci_low * 100, 2),
            "lift_ci_high_pp": round(lift.ci_high * 100, 2),
            "p_value": round(lift.p_value, 4),
        }
        if lift.relative is not None:
            out["relative_lift_percent"] = round(lift.relative * 100, 1)
    for v in metrics.variant_lift:
        out[f"variant_{v.arm}_conversion_percent"] = round(v.rate_treated * 100, 2)
        if estimable:
            out[f"variant_{v.arm}_lift_pp"] = round(v.absolute * 100, 2)
    several = len({p.channel for p in metrics.posteriors}) > 1
    for channel, variants in copies_by_channel(metrics).items():
        prefix = f"{channel}_" if several else ""  # variant_A_… on one channel, email_variant_A_… on two
        if any(p.converters for p in variants):  # with none converting, P(best) is a coin toss
            for p in variants:
                out[f"{prefix}variant_{p.arm}_prob_best_percent"] = round(p.prob_best * 100, 1)
        out[f"{prefix}best_copy"] = best_copy(metrics, channel) or LABELS[language]["undecided_copy"]
    if metrics.srm is not None and metrics.srm.mismatch:
        out["srm_chi2"] = round(metrics.srm.chi2, 1)
        out["srm_p_value"] = float(f"{metrics.srm.p_value:.2g}")
    if limits := data_limits(metrics, language):
        out["data_limits"] = " ".join(limits)
    if metrics.mde is not None:
        out["mde_pp"] = round(metrics.mde * 100, 2)
    if metrics.sample_size_per_group:
        out["sample_size_per_group"] = metrics.sample_size_per_group
    for arm, break_even, verdict, growth in offer_verdicts(metrics, break_evens or {}):
        prefix = "" if arm == "treatment" else f"variant_{arm}_"
        out[f"{prefix}break_even_order_growth_percent"] = round(break_even * 100, 1)
        for name, value in zip(("", "_ci_low", "_ci_high"), growth, strict=True):
            out[f"{prefix}order_growth{name}_percent"] = round(value * 100, 1)
        out[f"{prefix}offer_verdict"] = LABELS[language][verdict]
    return out


def template_narrative(
    metrics: CampaignMetrics, language: str, break_evens: Mapping[str, float] | None = None
) -> str:
    """The narrative without a model; with the offers' break-even lifts, the verdict on each too."""
    lines = break_even_lines(metrics, break_evens or {}, language)
    sentences = [_lift_sentences(metrics, language), _copy_sentence(metrics, language)]
    return " ".join(s for s in [*sentences, *data_limits(metrics, language), *lines] if s)


def _lift_sentences(metrics: CampaignMetrics, language: str) -> str:
    f = facts(metrics, language)
    if "lift_pp" not in f:
        return ""  # data_limits says why
    if language == "zh":
        return (
            f"实验组转化率 {f['treated_conversion_percent']}%，对照组 {f['holdout_conversion_percent']}%，"
            f"增量 {f['lift_pp']} 个百分点（95% 置信区间 {f['lift_ci_low_pp']} 至 {f['lift_ci_high_pp']}）。"
        )
    return (
        f"Treated converted at {f['treated_conversion_percent']}% against "
        f"{f['holdout_conversion_percent']}% in "
        f"the holdout: a lift of {f['lift_pp']} pp (95% CI {f['lift_ci_low_pp']} to {f['lift_ci_high_pp']})."
    )


def _copy_sentence(metrics: CampaignMetrics, language: str) -> str:
    """Which copy won on each channel, only as far as P(best) there says so."""
    t, (_, x_t, _, x_h) = LABELS[language], _groups(metrics)
    copies = copies_by_channel(metrics)
    if not copies or not x_t + x_h:
        return ""  # one copy per channel, nothing to compare; no conversions at all is a data limit
    if not x_t:
        return t["no_variant_conversions"]
    sentences = []
    for channel, variants in copies.items():
        best = best_copy(metrics, channel)
        if best is not None:
            p = next(p.prob_best for p in variants if p.arm == best)
            sentence = t["best"].format(arm=best, p=round(p * 100, 1))
        elif not any(p.converters for p in variants):
            sentence = t["no_variant_conversions"]
        else:
            probs = t["sep"].join(f"{p.arm} {round(p.prob_best * 100, 1)}%" for p in variants)
            sentence = t["no_best"].format(probs=probs)
        sentences.append(_copy_prefix(metrics, channel, language) + sentence)
    return " ".join(sentences)


def narrate(  # type: ignore[no-untyped-def]
    settings: Settings,
    metrics: CampaignMetrics,
    name: str,
    language: str,
    client=None,
    break_evens: Mapping[str, float] | None = None,
) -> Narrative:
    return grounded_narrative(
        settings,
        "campaign_report",
        language,
        facts(metrics, language, break_evens),
        template_narrative(metrics, language, break_evens),
        # The version is a name, not a statistic, but holds digits.
        names={"version": metrics.version},
        client=client,
        name=name,
    )


def _offer_label(spec: CampaignSpec, arm: str) -> str:
    """ " (满200减16)" after an arm with its own offer, for the report's table."""
    if arm == "holdout":
        return ""
    offer = spec.offer_for(arm)
    return f" ({offer.description})" if offer.description else ""


def _png(fig) -> str:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        from marketpilot.content.fonts import use_cjk_font_in_matplotlib

        use_cjk_font_in_matplotlib()
    except (ImportError, MarketPilotError):
        pass  # no CJK font installed: charts still render, Chinese labels may show boxes
    return plt


def channel_rates(metrics: CampaignMetrics) -> dict[str, dict[str, ChannelArm]]:
    """Channel → arm → its customers there (holdout included) when the campaign's customers went by
    two or more channels; {} on one."""
    out: dict[str, dict[str, ChannelArm]] = {}
    for cell in metrics.by_channel:
        out.setdefault(cell.channel, {})[cell.arm] = cell
    return out if len(out) > 1 else {}


def variant_chart(metrics: CampaignMetrics, language: str):  # type: ignore[no-untyped-def]
    """Conversion rate by arm; on several channels a group of bars per arm, a bar per channel. Pooled
    over channels, an arm sent mostly by the channel that converts best looks better than it is, and
    better than the lift table (post-stratified by channel) finds it."""
    plt = _pyplot()
    t = LABELS[language]
    names = [t["holdout"] if a.arm == HOLDOUT else a.arm for a in metrics.arms]
    fig, ax = plt.subplots(figsize=(6, 3))
    channels = channel_rates(metrics)
    if not channels:
        ax.bar(names, [a.conversion_rate * 100 for a in metrics.arms], color="#5aa469")
        ax.set_title(t["variants"])
    else:
        width, x = 0.8 / len(channels), np.arange(len(names))
        for i, (channel, cells) in enumerate(channels.items()):
            ran = [j for j, a in enumerate(metrics.arms) if a.arm in cells]  # an arm may skip a channel
            offset = (i - (len(channels) - 1) / 2) * width
            rates = [cells[metrics.arms[j].arm].conversion_rate * 100 for j in ran]
            ax.bar(x[ran] + offset, rates, width, label=channel)
        ax.set_xticks(x, names)
        ax.legend(title=t["channel"])
        ax.set_title(t["variants_by_channel"])
    ax.set_ylabel("%")
    return fig


def charts(metrics: CampaignMetrics, language: str) -> dict[str, str]:
    plt = _pyplot()
    t = LABELS[language]
    out = {}
    treated = [a for a in metrics.arms if a.arm != "holdout"]
    steps = ["customers", "sent", "delivered", "opened", "clicked", "converters"]
    values = [sum(getattr(a, s) for a in treated) for s in steps]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh([t[s] if s in t else t["converted"] for s in steps][::-1], values[::-1], color="#3b7dd8")
    ax.set_title(t["funnel"])
    out["funnel"] = _png(fig)

    lifts = ([metrics.lift] if metrics.lift else []) + metrics.variant_lift
    if lifts:
        fig, ax = plt.subplots(figsize=(6, 3))
        names = [t["treated"] if x.arm == "treatment" else x.arm for x in lifts]
        centres = [x.absolute * 100 for x in lifts]
        errors = [
            [(x.absolute - x.ci_low) * 100 for x in lifts],
            [(x.ci_high - x.absolute) * 100 for x in lifts],
        ]
        ax.errorbar(centres, names, xerr=errors, fmt="o", capsize=4, color="#d8603b")
        ax.axvline(0, color="grey", lw=1)
        ax.set_title(t["lift"])
        out["lift"] = _png(fig)

    out["variants"] = _png(variant_chart(metrics, language))

    rows = [s for s in metrics.segments if s["rate_treated"] is not None and s["rate_holdout"] is not None]
    if rows:
        fig, ax = plt.subplots(figsize=(6, 3))
        x = np.arange(len(rows))
        ax.bar(x - 0.2, [r["rate_treated"] * 100 for r in rows], 0.4, label=t["treated"])
        ax.bar(x + 0.2, [r["rate_holdout"] * 100 for r in rows], 0.4, label=t["holdout"])
        ax.set_xticks(x, [str(r["segment"]) for r in rows])
        ax.set_ylabel("%")
        ax.legend()
        ax.set_title(t["segments"])
        out["segments"] = _png(fig)
    return out


class Report(BaseModel):
    path: Path
    metrics: CampaignMetrics
    narrative: Narrative
    limits: list[str] = []  # what the data cannot support (`data_limits`), in the spec's language


def write_report(
    settings: Settings,
    engine: Engine,
    campaign_id: str,
    version: int | None = None,
    *,
    client=None,  # type: ignore[no-untyped-def]
    use_llm: bool = True,
) -> Report:
    from marketpilot.campaigns.service import get_spec

    spec, version = get_spec(engine, campaign_id, version)
    metrics = measure(engine, campaign_id, version, currency=settings.currency)
    if metrics.overall.customers == 0 and not any(a.customers for a in metrics.arms):
        raise UserError(
            f"campaign {campaign_id} v{version} has no customer to measure: it has not run yet, or its "
            "audience was empty, capped or suppressed",
            hint=f"see marketpilot campaign status {campaign_id}; approve and run it to measure it",
        )
    language = spec.language
    break_evens = spec.break_evens()
    if use_llm:
        narrative = narrate(settings, metrics, spec.name, language, client=client, break_evens=break_evens)
    else:
        narrative = Narrative(text=template_narrative(metrics, language, break_evens), source="template")
    limits = data_limits(metrics, language)
    # The templated narrative states the limits itself; a model's narrative may not.
    shown = limits if narrative.source == "llm" else []
    t = LABELS[language]
    # an arm the model wrote too little copy for ran without a channel: the arm table alone hides it
    no_copy = [
        t["no_copy"].format(channel=channel, arm=arm, why=why)
        for channel, keys in keys_without_copy(engine, spec, campaign_id, version).items()
        for arm, why in keys.items()
    ]
    offer_lines = "".join(
        f"<p><b>{html.escape(line)}</b></p>"
        for line in [
            *shown,
            *no_copy,
            *break_even_lines(metrics, break_evens, language),
            *depth_lines(spec, metrics),
        ]
    )
    images = "".join(
        f'<figure><img alt="{k}" src="data:image/png;base64,{v}"></figure>'
        for k, v in charts(metrics, language).items()
    )
    flag = f' <small class="flag">{t["template"]}</small>' if narrative.source == "template" else ""
    offers = {a.arm: _offer_label(spec, a.arm) for a in metrics.arms} if spec.has_arm_offers else {}
    cents, unit = minor_digits(metrics.currency), html.escape(metrics.currency)
    rows = "".join(
        f"<tr><td>{html.escape(_arm_name(a.arm, t) + offers.get(a.arm, ''))}</td><td>{a.customers}</td>"
        f"<td>{a.sent}</td><td>{a.delivered}</td>"
        f"<td>{a.opened}</td><td>{a.clicked}</td><td>{a.converters}</td><td>{a.conversion_rate:.2%}</td>"
        f"<td>{a.revenue:,.{cents}f}</td><td>{a.cost:,.{cents}f}</td></tr>"
        for a in metrics.arms
    )
    # Copy is ranked within a channel (a key is another text on each): its own table, P(best) per channel.
    copy_rows = "".join(
        f"<tr><td>{html.escape(p.channel or '')}</td><td>{html.escape(p.arm)}</td><td>{p.customers}</td>"
        f"<td>{p.converters}</td><td>{p.converters / max(p.customers, 1):.2%}</td>"
        f"<td>{p.prob_best:.1%}</td></tr>"
        for variants in copies_by_channel(metrics).values()
        for p in variants
    )
    copy_table = (
        f"<table><tr>{_headers(t, 'channel', 'variant', 'customers', 'converted', 'rate', 'p_best_channel')}"
        f"</tr>{copy_rows}</table>"
        if copy_rows
        else ""
    )
    srm = metrics.srm
    srm_line = (
        f"<p>SRM χ²={srm.chi2:.2f}, p={srm.p_value:.3g}{' — ' + t['mismatch'] if srm.mismatch else ''}</p>"
        if srm
        else ""
    )
    page = f"""<!doctype html><html lang="{language}"><head><meta charset="utf-8">
<title>{html.escape(spec.name)} — {t["title"]}</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:2em auto}}td,th{{padding:2px 8px;text-align:right}}
figure{{display:inline-block;margin:0.5em}}.flag{{color:#b00}}</style></head><body>
<h1>{html.escape(spec.name)} <small>{html.escape(campaign_id)} v{version}</small></h1>
<h2>{t["narrative"]}{flag}</h2><p>{html.escape(narrative.text)}</p>
{offer_lines}
<table><tr>{_headers(t, "arm", "customers", "sent", "delivered", "opened", "clicked", "converted", "rate")}
<th>{t["revenue"]} ({unit})</th><th>{t["cost"]} ({unit})</th></tr>
{rows}</table>{copy_table}{srm_line}
{images}
<details><summary>metrics.json</summary><pre>{html.escape(metrics.model_dump_json(indent=2))}</pre></details>
</body></html>"""
    target = settings.path("reports", f"campaign-{campaign_id}-v{version}.html")
    write_text(target, page)
    return Report(path=target, metrics=metrics, narrative=narrative, limits=limits)
