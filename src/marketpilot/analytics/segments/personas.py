"""LLM-written personas for segments, grounded in the segment statistics.

Only aggregated statistics go into the prompt (never customer rows or personal data). Every number
of the reply is checked against the statistics (`numbers.unsupported_numbers`); a reply whose only
fault is clauses with such numbers is kept without them when the rest passes (`without_unsupported`);
one that fails otherwise is regenerated with the problems named, at most `max_attempts` times, then
replaced by a description built from the statistics by a template, flagged `source="template"`. A
segment under the minimum size gets that template and a statement that it is too small to describe,
and no LLM call.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from marketpilot.analytics.segments.numbers import mentions, segment_context, unsupported_numbers
from marketpilot.analytics.segments.stats import SegmentStats
from marketpilot.llm import LLMClient, LLMError, Message, load_prompt
from marketpilot.wording import counted

Language = Literal["zh", "en"]
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")


class PersonaDraft(BaseModel):
    """What the model returns."""

    name: str = Field(min_length=1, max_length=40)
    description: str = Field(min_length=10, max_length=600)


class Persona(BaseModel):
    segment: int
    language: Language
    name: str
    description: str
    source: Literal["llm", "template"]
    attempts: int
    rejected: list[str] = Field(default_factory=list, description="Why earlier drafts were rejected")


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


class ShopAverages(BaseModel):
    """Customer-weighted averages over all segments: the yardstick for "high" and "low"."""

    aov: float
    orders_per_customer: float
    recency_days: float
    churn_risk: float

    @classmethod
    def of(cls, segments: list[SegmentStats]) -> ShopAverages:
        n = sum(s.customers for s in segments) or 1
        orders = sum(s.orders_per_customer * s.customers for s in segments)
        return cls(
            aov=sum(s.revenue for s in segments) / max(orders, 1e-9),
            orders_per_customer=orders / n,
            recency_days=sum(s.recency_days * s.customers for s in segments) / n,
            churn_risk=sum(s.churn_risk * s.customers for s in segments) / n,
        )


def _level(value: float, average: float, lang: Language) -> str:
    """Words, not numbers, so the comparison adds no number the checker would have to allow."""
    ratio = value / average if average else 1.0
    if lang == "zh":
        return "高于全店平均" if ratio > 1.1 else "低于全店平均" if ratio < 0.9 else "接近全店平均"
    return (
        "above the shop average"
        if ratio > 1.1
        else "below the shop average"
        if ratio < 0.9
        else "near the shop average"
    )


def _days(days: float, lang: Language) -> str:
    """Whole days, as people count them: a model given "29.0" wrote "平均购买29.0天"."""
    return f"{days:.0f} 天" if lang == "zh" else f"{days:.0f}"


def facts(
    stats: SegmentStats, lang: Language, currency: str, shop: ShopAverages | None = None
) -> list[tuple[str, str]]:
    """The statistics as (label, value) lines for the prompt, formatted for people; with `shop`,
    each behaviour line says whether it is above or below the shop average."""
    sep = "、" if lang == "zh" else ", "
    money = f" {currency}"
    cats = sep.join(f"{c.category} ({_pct(c.share)})" for c in stats.top_categories)
    mix = sep.join(f"{c.name_zh if lang == 'zh' else c.name_en} ({_pct(c.share)})" for c in stats.rfm_mix)

    def vs(value: float, average: float | None) -> str:
        return (
            ""
            if average is None
            else f"（{_level(value, average, lang)}）"
            if lang == "zh"
            else (f" ({_level(value, average, lang)})")
        )

    rows = [
        ("客户数", "Customers", f"{stats.customers}"),
        ("占全部客户", "Share of customers", _pct(stats.customer_share)),
        ("销售额占比", "Share of revenue", _pct(stats.revenue_share)),
        ("客单价", "Average order value", f"{stats.aov:.2f}{money}{vs(stats.aov, shop and shop.aov)}"),
        (
            "人均订单数",
            "Orders per customer",
            f"{stats.orders_per_customer}{vs(stats.orders_per_customer, shop and shop.orders_per_customer)}",
        ),
        (
            "距上次购买（平均）",
            "Days since last purchase (mean)",
            f"{_days(stats.recency_days, lang)}{vs(stats.recency_days, shop and shop.recency_days)}",
        ),
        ("成为客户的时长（平均）", "Days as a customer (mean)", _days(stats.tenure_days, lang)),
        ("平均折扣率", "Mean discount rate", _pct(stats.discount_rate)),
        (
            "流失风险（平均）",
            "Churn risk (mean)",
            f"{_pct(stats.churn_risk)}{vs(stats.churn_risk, shop and shop.churn_risk)}",
        ),
    ]
    if stats.clv_mean is not None:
        rows.append(
            ("未来一年预测价值 CLV（平均）", "Predicted 1-year CLV (mean)", f"{stats.clv_mean:.2f}{money}")
        )
    if cats:
        rows.append(("主要品类（销售额占比）", "Top categories (share of spend)", cats))
    if mix:
        rows.append(("RFM 类别构成", "RFM class mix", mix))
    return [(zh if lang == "zh" else en, value) for zh, en, value in rows]


def check_persona(
    draft: PersonaDraft, stats: SegmentStats, lang: Language, *, min_numbers: int = 2
) -> list[str]:
    """Problems with a draft: numbers not in the stats or not the statistic their words name, too few
    statistics quoted (a description without numbers would pass the check vacuously), or the wrong
    language."""
    # The full stop keeps the name's words from naming statistics for the description's first number.
    text = f"{draft.name}。{draft.description}"
    problems = [
        f"数字 {n} 不在统计中（或不是它所说的那项统计）"
        if lang == "zh"
        else f"the number {n} is not in the statistics (or not the one its words name)"
        for n in unsupported_numbers(text, stats, context=segment_context(stats))
    ]
    if len(mentions(draft.description)) < min_numbers:
        problems.append(
            f"描述至少要引用 {min_numbers} 个统计数字"
            if lang == "zh"
            else f"quote at least {min_numbers} statistics"
        )
    if lang == "zh" and len(_CJK.findall(draft.description)) < len(_LATIN.findall(draft.description)):
        problems.append("描述不是中文")
    return problems


# A clause ends at a Chinese comma or stop; an English sentence at a stop followed by a space.
_ZH_PIECES = re.compile(r"(?<=[，,；;。！？!?])")
_EN_PIECES = re.compile(r"(?<=[.!?;])\s+")
_ZH_STOPS = "。！？!?"


def without_unsupported(
    draft: PersonaDraft, stats: SegmentStats, lang: Language
) -> tuple[PersonaDraft, list[str]] | None:
    """The draft with every clause (zh) or sentence (en) that holds a number the statistics do not
    support cut out, and the pieces cut; None when the cut draft would still fail a check. Seen: the
    embedded model writes "他们平均每天购买268次" (268 is the recency in days) into an otherwise
    grounded persona, and its retries copy the clause word for word."""
    context = segment_context(stats)
    if unsupported_numbers(draft.name, stats, context=context):
        return None
    pieces = (_ZH_PIECES if lang == "zh" else _EN_PIECES).split(draft.description.strip())
    kept: list[str] = []
    cut: list[str] = []
    for piece in pieces:
        if not unsupported_numbers(piece, stats, context=context):
            kept.append(piece)
            continue
        cut.append(piece.strip())
        # A cut sentence end passes its stop to the clause before it: "…老客，[…268次。]" → "…老客。"
        if lang == "zh" and kept and piece[-1:] in _ZH_STOPS and kept[-1][-1:] in "，,；;":
            kept[-1] = kept[-1][:-1] + piece[-1]
    if not cut:
        return None
    repaired = PersonaDraft.model_construct(
        name=draft.name, description=("" if lang == "zh" else " ").join(kept).strip()
    )
    if len(repaired.description) < 10 or check_persona(repaired, stats, lang):
        return None
    return repaired, cut


def template_persona(
    stats: SegmentStats, lang: Language, currency: str, *, attempts: int, rejected: list[str]
) -> Persona:
    """A plain description assembled from the statistics (always grounded, less lively)."""
    lead = stats.rfm_mix[0] if stats.rfm_mix else None
    cats = (
        "、".join(c.category for c in stats.top_categories)
        if lang == "zh"
        else ", ".join(c.category for c in stats.top_categories)
    )
    share, revenue, churn = _pct(stats.customer_share), _pct(stats.revenue_share), _pct(stats.churn_risk)
    aov, orders = f"{stats.aov:.2f} {currency}", stats.orders_per_customer
    recency = f"{stats.recency_days:.0f}"  # whole days
    if lang == "zh":
        name = f"细分{stats.segment}：{lead.name_zh}为主" if lead else f"细分{stats.segment}"
        text = (
            f"共 {stats.customers} 位客户，占全部客户的 {share}，贡献 {revenue} 的销售额；"
            f"客单价 {aov}，人均 {orders} 单，距上次购买平均 {recency} 天，流失风险 {churn}。"
        )
        if cats:
            text += f"主要购买{cats}。"
    else:
        name = f"Segment {stats.segment}: mostly {lead.name_en}" if lead else f"Segment {stats.segment}"
        text = (
            f"{stats.customers} customers ({share} of all) bringing {revenue} of revenue; "
            f"average order {aov}, "
            f"{orders} orders each, last purchase {recency} days ago on average, churn risk {churn}."
        )
        if cats:
            text += f" They mostly buy {cats}."
    return Persona(
        segment=stats.segment,
        language=lang,
        name=name,
        description=text,
        source="template",
        attempts=attempts,
        rejected=rejected,
    )


def small_segment_persona(stats: SegmentStats, lang: Language, currency: str) -> Persona:
    """The template description of a segment under the minimum size, saying that it is too small to
    describe as a group. A model's persona of a handful of customers would read like a market
    segment, and each is a model call; the only number added is the segment's size, so the text
    stays grounded in the statistics."""
    persona = template_persona(stats, lang, currency, attempts=0, rejected=[])
    n = stats.customers
    note = (
        f"这个细分只有 {n} 位客户，少于最小细分规模，人数太少，无法可靠地概括为一个客户群体："
        "以上只是这几位客户的统计，不是人群画像。"
        if lang == "zh"
        else f" This segment holds only {counted(n, 'customer')}, under the minimum segment size: too "
        "few to describe reliably as a group, so the above are their statistics, not a persona."
    )
    return persona.model_copy(update={"description": persona.description + note})


def _suffixed(name: str, segment: int, lang: Language) -> str:
    return f"{name}（{segment}）" if lang == "zh" else f"{name} ({segment})"


def distinct_names(personas: list[Persona]) -> list[Persona]:
    """The personas with every name unique (ignoring case and surrounding spaces): copy briefs (CLI and
    API) find a segment by its persona name, and the model, writing each segment on its own, can
    give two segments the same one ("高频忠实老客"). The first segment keeps the name; a later one gets
    its segment number appended, "高频忠实老客（3）" / "Loyal regulars (3)"."""
    taken: set[str] = set()
    # Names as written, so a suffixed name cannot collide with a name the model wrote for another segment.
    written = {p.name.strip().casefold() for p in personas}
    result: list[Persona] = []
    for persona in personas:
        name = persona.name.strip()
        if name.casefold() in taken:
            name = _suffixed(name, persona.segment, persona.language)
            while name.casefold() in taken | written:  # the model itself wrote "高频忠实老客（3）" elsewhere
                name = _suffixed(name, persona.segment, persona.language)
        taken.add(name.casefold())
        result.append(persona if name == persona.name else persona.model_copy(update={"name": name}))
    return result


def write_persona(
    client: LLMClient,
    stats: SegmentStats,
    *,
    n_segments: int,
    shop: ShopAverages | None = None,
    lang: Language = "zh",
    currency: str = "CNY",
    max_attempts: int = 3,
) -> Persona:
    """Ask the model for a persona; check it; regenerate naming the problems; fall back to the template."""
    prompt = load_prompt("persona", lang)
    fix = load_prompt("persona_fix", lang)
    messages: list[Message] = prompt.render(
        segment=stats.segment, n_segments=n_segments, facts=facts(stats, lang, currency, shop)
    )
    rejected: list[str] = []
    for attempt in range(1, max_attempts + 1):
        try:
            completion = client.complete(
                messages,
                schema=PersonaDraft,
                temperature=0.3,
                # Room for the longest reply the schema allows (40 + 600 characters, about a token
                # each in Chinese): a grammar-bound local model then always finishes its JSON.
                max_tokens=700,
                # Without it the embedded 1.5B model can loop on one sentence until the length bound.
                frequency_penalty=0.5,
                seed=1000 * stats.segment + attempt,
                prompt=prompt.ref,
            )
        except LLMError as exc:
            rejected.append(f"attempt {attempt}: {exc}")
            break
        draft: PersonaDraft = completion.parsed
        problems = check_persona(draft, stats, lang)
        cut = without_unsupported(draft, stats, lang) if problems else None
        if cut is not None:
            rejected.append(f"attempt {attempt}: {'; '.join(problems)}; cut: {' '.join(cut[1])}")
            draft, problems = cut[0], []
        if not problems:
            return Persona(
                segment=stats.segment,
                language=lang,
                name=draft.name.strip(),
                description=draft.description.strip(),
                source="llm",
                attempts=attempt,
                rejected=rejected,
            )
        rejected.append(f"attempt {attempt}: {'; '.join(problems)}")
        messages = [
            *messages,
            Message(role="assistant", content=completion.text),
            *fix.render(problems=problems),
        ]
    return template_persona(stats, lang, currency, attempts=len(rejected), rejected=rejected)
