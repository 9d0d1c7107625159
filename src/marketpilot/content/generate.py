"""Copy variants for many briefs at once: one LLM call per brief, guardrails, bounded repair, dedupe,
and a bounded top-up for briefs left with fewer than asked.

A brief is one segment × product × channel, so a campaign to a million customers costs
segments × products × channels calls, never one per customer: personal touches are slots filled at
render time (slots.py), and no personal data is ever part of a prompt.

    sets = generate_variants(briefs, get_client(settings), n=5)
    for s in sets: s.variants, s.dropped, s.fixed, s.shortfall
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, Field

from marketpilot.content.briefs import Angle, Brief
from marketpilot.content.channels import CHANNEL_SPECS, OPT_OUT, ChannelSpec
from marketpilot.content.guardrails import check_copy
from marketpilot.content.guardrails.base import Violation
from marketpilot.content.guardrails.length import push_lines, sms_billing, sms_message
from marketpilot.content.guardrails.platform import add_ai_label
from marketpilot.content.numbers import fmt_amount
from marketpilot.content.scoring import quality_scores
from marketpilot.llm import Completion, LLMClient, LLMError, LLMRequest, load_prompt
from marketpilot.privacy.pii import mask_pii
from marketpilot.wording import counted

if TYPE_CHECKING:
    from marketpilot.content.scoring import CTRModel

Embedder = Callable[[list[str]], np.ndarray]

ANGLE_NAMES = {
    "zh": {
        "benefit": "利益点：商品给顾客带来的好处",
        "scarcity": "稀缺感：库存或活动时间有限（只用事实中的截止日期和数量）",
        "social_proof": "口碑：顾客喜欢它的理由（不编造数字）",
        "seasonal": "节日/季节钩子",
    },
    "en": {
        "benefit": "benefit: what the product does for the customer",
        "scarcity": "scarcity: limited stock or time (only the deadline and quantities in the facts)",
        "social_proof": "social proof: why customers like it (no invented numbers)",
        "seasonal": "seasonal hook",
    },
}
_CHANNEL_NAMES = {
    "zh": {
        "sms": "短信",
        "push": "App 推送（第一行标题，第二行正文）",
        "email_subject": "邮件标题",
        "email_body": "邮件正文",
        "banner": "海报/横幅标题",
        "product_title": "商品标题",
        "social_post": "小红书/微信种草文",
    },
    "en": {
        "sms": "SMS",
        "push": "app push (first line title, second line body)",
        "email_subject": "e-mail subject",
        "email_body": "e-mail body",
        "banner": "poster/banner headline",
        "product_title": "product title",
        "social_post": "social post",
    },
}


class DraftVariant(BaseModel):
    """What the model returns per variant."""

    angle: str = Field(description="which angle this variant uses")
    text: str = Field(description="the copy itself")


class DraftSet(BaseModel):
    variants: list[DraftVariant] = Field(min_length=1, max_length=20)


class Variant(BaseModel):
    """An accepted variant: passed every guardrail. `text` may hold slots such as {name}."""

    text: str
    angle: str
    brief_key: str
    channel: str
    language: str
    repaired: bool = False
    sms_segments: int | None = None
    score: float | None = None  # quality score in [0, 1] (scoring.quality_scores)
    predicted_ctr: float | None = None  # from past campaign outcomes, when there are any (scoring.CTRModel)
    ai_generated: bool = True
    prompt_version: str | None = None
    model: str | None = None
    generated_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))


class DroppedVariant(BaseModel):
    text: str
    angle: str
    reason: str  # "guardrails" | "near_duplicate" | "empty" | "llm_error"
    detail: str


class VariantSet(BaseModel):
    """The outcome for one brief: accepted variants, what was dropped and why, how many were fixed;
    `missing` and `shortfall` say how many short of the n asked it is, and why."""

    brief: Brief
    variants: list[Variant] = Field(default_factory=list)
    dropped: list[DroppedVariant] = Field(default_factory=list)
    fixed: int = 0
    llm_calls: int = 0
    error: str | None = None
    missing: int = 0
    shortfall: str | None = None  # "asked for 3, got 2: …" whenever missing > 0


class GenerationReport(BaseModel):
    briefs: int
    variants: int
    fixed: int
    dropped: int
    drop_reasons: dict[str, int]
    violation_rules: dict[str, int]  # rules that caused drops
    llm_calls: int
    missing: int = 0  # variants short of n, over all briefs


def angles_for(brief: Brief, n: int) -> list[Angle]:
    """Distinct angles in turn; scarcity only with a deadline, stock or limit, seasonal only with a season."""
    pool: list[Angle] = ["benefit", "social_proof"]
    o = brief.offer
    if o.deadline or o.limit or brief.product.stock:
        pool.insert(1, "scarcity")
    if brief.season:
        pool.append("seasonal")
    return [pool[i % len(pool)] for i in range(n)]


def brief_facts(brief: Brief) -> list[str]:
    """The brief as fact lines for the prompt, in the brief's language, every number as copy may write it."""
    p, o, zh = brief.product, brief.offer, brief.language == "zh"
    cur = "元" if p.currency == "CNY" else f" {p.currency}"
    lines = [f"商品：{p.name}" if zh else f"Product: {p.name}"]
    if p.category:
        lines.append(f"类目：{p.category}" if zh else f"Category: {p.category}")
    if p.attributes:
        sep = "，" if zh else ", "
        attrs = sep.join(f"{k}：{v}" if zh else f"{k}: {v}" for k, v in p.attributes.items())
        lines.append(f"属性：{attrs}" if zh else f"Attributes: {attrs}")
    if p.price:
        lines.append(
            f"原价：{fmt_amount(p.price)}{cur}" if zh else f"Regular price: {fmt_amount(p.price)}{cur}"
        )
    if p.sale_price and p.sale_price != p.price:
        lines.append(
            f"现价：{fmt_amount(p.sale_price)}{cur}" if zh else f"Sale price: {fmt_amount(p.sale_price)}{cur}"
        )
    if off := p.off_fraction:
        fold = fmt_amount(round((1 - off) * 10, 1))
        lines.append(f"折扣：{fold}折" if zh else f"Discount: {off:.0%} off")
    if o.coupon_amount:
        amount = fmt_amount(o.coupon_amount)
        if o.coupon_threshold:
            t = fmt_amount(o.coupon_threshold)
            lines.append(
                f"优惠券：满{t}减{amount}" if zh else f"Coupon: {amount}{cur} off orders over {t}{cur}"
            )
        else:
            lines.append(f"优惠券：立减{amount}{cur}" if zh else f"Coupon: {amount}{cur} off")
    if o.buy_n and o.get_m:
        lines.append(f"活动：买{o.buy_n}送{o.get_m}" if zh else f"Deal: buy {o.buy_n} get {o.get_m}")
    if o.buy_n and o.nth_discount:
        fold = "半价" if o.nth_discount == 0.5 else f"{fmt_amount(round((1 - o.nth_discount) * 10, 1))}折"
        lines.append(f"活动：第{o.buy_n}件{fold}" if zh else f"Deal: {o.nth_discount:.0%} off item {o.buy_n}")
    if o.starts and o.deadline_date:
        days = (o.deadline_date - o.starts).days + 1
        lines.append(f"活动天数：{days}天" if zh else f"Offer runs: {days} days")
    if o.deadline_date:
        d = o.deadline_date
        lines.append(f"截止日期：{d.month}月{d.day}日" if zh else f"Ends: {d.strftime('%b')} {d.day}")
    if o.limit:
        lines.append(f"限量：{o.limit}件" if zh else f"Limited to: {o.limit} units")
    if brief.season:
        lines.append(f"节日：{brief.season}" if zh else f"Occasion: {brief.season}")
    for point in p.selling_points[:5]:
        lines.append(f"卖点：{point}" if zh else f"Selling point: {point}")
    # Catalogue text is the shop's, but it can carry a person's details (属性 "客服：138…", a review
    # quoted as a selling point): masked like every other text before it reaches a prompt.
    return [mask_pii(line) for line in lines]


def _max_chars(brief: Brief) -> int:
    spec = CHANNEL_SPECS[brief.channel]
    if spec.name == "sms":
        # one 70-character segment minus the signature 【shop】 and opt-out text the sender adds
        shop = len(brief.brand.shop_name or "") + 2
        return max(20, 70 - shop - len(OPT_OUT[brief.language]))
    if spec.max_width:
        return spec.max_width // 2 if brief.language == "zh" else spec.max_width
    return spec.max_chars or 200


# Channels whose copy is a headline, not a message: the prompts ask for a short phrase and show its form.
# Asked for "copy" within 16 characters, the embedded 1.5B model wrote banner drafts of 25–60 characters,
# review-like ones among them (“…质量也非常有保障，物流也很快。一定会回购！”), and its repairs stayed long.
HEADLINE_CHANNELS = frozenset({"banner"})


def headline_name(brief: Brief) -> str | None:
    """A short name for a headline in Chinese: the catalogue name's first two words that hold no digit
    and are no attribute value (暮色森林 宽松卫衣 灰色 → 暮色森林宽松卫衣, 童心 防胀气奶粉 3段 800g →
    童心防胀气奶粉; the second word alone, or the first, when the two leave under six characters), so
    the prompt can say how many characters are left for the selling point: the model otherwise led
    its banner drafts with the whole name and went over the limit with what followed. None in
    English, or when no word is short enough."""
    if brief.language != "zh" or brief.channel not in HEADLINE_CHANNELS:
        return None
    values = set(brief.product.attributes.values())
    words = [w for w in brief.product.name.split() if w not in values and not re.search(r"\d", w)]
    room = _max_chars(brief) - 6  # a comma and at least five characters for the selling point
    return next((n for n in ("".join(words[:2]), *words[1:2], *words[:1]) if 0 < len(n) <= room), None)


def _headline_facts(lines: list[str], language: str) -> list[str]:
    """A headline's facts: the selling points on one line, to pick one from. As five lines (价格, 客服,
    外观, 质量, 物流 from review insight) the model listed them all in each banner draft."""
    label, rest = ("卖点：", "卖点（标题只挑一个）：") if language == "zh" else ("Selling point: ", "")
    points = [line.removeprefix(label) for line in lines if line.startswith(label)]
    if len(points) < 2:
        return lines
    joined = "、".join(points) if language == "zh" else ", ".join(points)
    merged = rest + joined if language == "zh" else f"Selling points (pick one per headline): {joined}"
    return [line for line in lines if not line.startswith(label)] + [merged]


def _common_vars(brief: Brief) -> dict[str, object]:
    facts = brief_facts(brief)
    return {
        "facts": _headline_facts(facts, brief.language) if brief.channel in HEADLINE_CHANNELS else facts,
        "max_chars": _max_chars(brief),
        "angle_names": ANGLE_NAMES[brief.language],
        "headline": brief.channel in HEADLINE_CHANNELS,
        "short_name": (short := headline_name(brief)),
        # The model overshoots a stated length by a few characters (asked for 7 after the name, it
        # wrote 8–10): the selling point is asked two shorter than the room it has, at least four.
        "point_chars": max(4, _max_chars(brief) - len(short) - 3) if short else None,
    }


def missing_angles(brief: Brief, n: int, used: Sequence[str], k: int) -> list[Angle]:
    """The k angles a top-up asks for: the brief's plan for n minus the angles the accepted variants
    already use, then the plan's next turns."""
    left = Counter(used)
    out: list[Angle] = []
    for angle in angles_for(brief, n + k):
        if left[angle] > 0:
            left[angle] -= 1
        elif len(out) < k:
            out.append(angle)
    return out


def variants_request(
    brief: Brief,
    n: int,
    *,
    temperature: float,
    top_p: float,
    seed: int | None,
    angles: Sequence[Angle] | None = None,
    existing: Sequence[str] = (),
) -> LLMRequest:
    """Ask for n variants; a top-up names its `angles` and lists the `existing` texts to differ from."""
    prompt = load_prompt("copy_variants", brief.language)
    messages = prompt.render(
        **_common_vars(brief),
        channel_name=_CHANNEL_NAMES[brief.language][brief.channel],
        slots=CHANNEL_SPECS[brief.channel].slots,
        goal=brief.goal,
        segment=brief.audience.segment,
        persona=brief.audience.persona,
        tone=brief.tone or brief.brand.tone,
        required_words=brief.brand.required_words,
        forbidden_words=brief.brand.forbidden_words,
        n=n,
        angles=list(angles) if angles is not None else angles_for(brief, n),
        existing=list(existing),
    )
    return LLMRequest(
        messages=messages,
        schema_model=DraftSet,
        temperature=temperature,
        top_p=top_p,
        max_tokens=120 + 90 * n,
        seed=seed,
        prompt=prompt.ref,
    )


def repair_request(
    brief: Brief, items: list[tuple[DraftVariant, list[Violation]]], *, seed: int | None
) -> LLMRequest:
    prompt = load_prompt("copy_repair", brief.language)
    angles = ANGLE_NAMES[brief.language]
    messages = prompt.render(
        **_common_vars(brief),
        items=[
            {
                "angle": d.angle if d.angle in angles else "benefit",
                "text": d.text,
                "violations": [v.describe() for v in vs],
            }
            for d, vs in items
        ],
    )
    # Low temperature: a repair should change what is wrong, not write something new.
    return LLMRequest(
        messages=messages,
        schema_model=DraftSet,
        temperature=0.3,
        top_p=0.9,
        max_tokens=120 + 90 * len(items),
        seed=seed,
        prompt=prompt.ref,
    )


_QUOTES = re.compile(r"^[\s\"'“”「」『』]+|[\s\"'“”「」『』]+$")


def clean_text(text: str) -> str:
    """Strip quotes and list numbering the model sometimes wraps around a variant."""
    text = re.sub(r"^\s*(?:\d+[.、)]|[-*•])\s*", "", text.strip())
    return _QUOTES.sub("", text)


def _default_embedder(texts: list[str]) -> np.ndarray:
    from marketpilot.embed import embed

    return embed(texts, kind="passage")


def drop_near_duplicates(vectors: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """(index, index it duplicates, cosine) for each row too close to an earlier kept one."""
    if len(vectors) < 2:
        return []
    sims = vectors @ vectors.T
    kept: list[int] = []
    dupes = []
    for i in range(len(vectors)):
        best = kept[int(np.argmax(sims[i, kept]))] if kept else -1
        if best >= 0 and sims[i, best] >= threshold:
            dupes.append((i, best, float(sims[i, best])))
        else:
            kept.append(i)
    return dupes


_Draft = tuple[DraftVariant, bool, Completion]  # a draft that passed the guardrails, repaired or not


class _Pending:
    """One brief's drafts on their way: reviewed, repaired, deduplicated; `kept` passed every check."""

    def __init__(self, brief: Brief, spec: ChannelSpec) -> None:
        self.brief = brief
        self.spec = spec
        self.result = VariantSet(brief=brief)
        self.accepted: list[_Draft] = []  # passed the guardrails this round, not yet deduplicated
        self.failing: list[tuple[DraftVariant, list[Violation]]] = []
        self.kept: list[_Draft] = []
        self.vectors: list[np.ndarray] = []  # the embedding of each kept draft
        self.asked = 0  # variants asked for by the variants and top-up calls that answered
        self.written = 0  # drafts those calls returned
        self.topups = 0
        self.topup_error: str | None = None


def review_text(text: str, brief: Brief, spec: ChannelSpec) -> str:
    """The text a draft is checked as: cleaned, a push split into title and body, the AI label added
    where the channel needs one (also what bench/copy_yield.py checks first drafts as)."""
    return add_ai_label(push_lines(clean_text(text), spec), brief.language, spec)


def _review(pending: _Pending, completion: Completion, *, repaired: bool, angles: Sequence[str]) -> None:
    """Check each draft; passing ones are accepted, failing ones wait for repair. Models often name
    the angle in their own words; the angle asked for at that position is kept instead."""
    drafts: DraftSet = completion.parsed
    spec = pending.spec
    pending.failing = []
    if not repaired:
        pending.written += len(drafts.variants)
    for i, draft in enumerate(drafts.variants):
        text = review_text(draft.text, pending.brief, spec)
        angle = draft.angle if draft.angle in ANGLE_NAMES["en"] else angles[i % len(angles)]
        draft = DraftVariant(angle=angle, text=text)
        if not clean_text(draft.text):
            pending.result.dropped.append(
                DroppedVariant(text="", angle=draft.angle, reason="empty", detail="empty text")
            )
            continue
        result = check_copy(draft.text, pending.brief, specs={spec.name: spec})
        if result.ok:
            pending.accepted.append((draft, repaired, completion))
        else:
            pending.failing.append((draft, result.violations))


def generate_variants(
    briefs: Sequence[Brief],
    client: LLMClient,
    n: int = 5,
    *,
    temperature: float = 0.9,
    top_p: float = 0.95,
    max_repairs: int = 1,
    max_topups: int = 1,
    enough: int | None = None,
    # multilingual-e5-small puts different copy about one product at cosine 0.90–0.975 and rewordings
    # of the same sentence above 0.99; 0.985 separates the two.
    dedupe_threshold: float = 0.985,
    concurrency: int | None = None,
    seed: int | None = None,
    embedder: Embedder | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    specs: Mapping[str, ChannelSpec] = CHANNEL_SPECS,
    ctr_model: CTRModel | None = None,
) -> list[VariantSet]:
    """N guardrail-clean, distinct variants per brief: one LLM call per brief plus at most `max_repairs`
    repair calls for briefs with failing variants. A brief left with fewer than `enough` (default n; the
    model wrote too few, or some were dropped) gets up to `max_topups` top-up calls asking for the
    missing ones with the unused angles and the texts it already has, reviewed, repaired and
    deduplicated the same way; a brief still short of n says so in `missing` and `shortfall` (a poster
    needs one headline of the n: `enough=1` tops up only a brief with none). Calls per brief: 1 when the
    first answer suffices, at most (1 + max_repairs) × (1 + max_topups). `specs` carries the
    per-channel AI label settings (`channels.channel_specs()`); with a `ctr_model`
    (`scoring.ctr_model_from_history`) each variant gets its `predicted_ctr`."""
    if n < 1:
        raise ValueError("n must be at least 1")
    enough = n if enough is None else min(max(enough, 1), n)
    embed = embedder or _default_embedder
    pendings = [_Pending(b, specs[b.channel]) for b in briefs]
    angles = [angles_for(b, n) for b in briefs]
    requests = [variants_request(b, n, temperature=temperature, top_p=top_p, seed=seed) for b in briefs]
    results = client.complete_many(
        requests, concurrency=concurrency, on_result=_progress(on_progress, len(requests))
    )
    _review_round(pendings, results, angles, topup=False)
    _repair(pendings, client, max_repairs, seed=seed, concurrency=concurrency)
    _dedupe(pendings, n, dedupe_threshold, embed)

    for round_ in range(1, max_topups + 1):
        todo = [p for p in pendings if len(p.kept) < enough and not p.result.error and not p.topup_error]
        if not todo:
            break
        angles = [missing_angles(p.brief, n, [d.angle for d, _, _ in p.kept], n - len(p.kept)) for p in todo]
        requests = [
            variants_request(
                p.brief,
                len(asked),
                temperature=temperature,
                top_p=top_p,
                # another seed each round: with the same one, a round that added nothing would get the
                # previous round's (cached) answer again
                seed=None if seed is None else seed + round_,
                angles=asked,
                existing=[d.text for d, _, _ in p.kept],
            )
            for p, asked in zip(todo, angles, strict=True)
        ]
        results = client.complete_many(requests, concurrency=concurrency)
        _review_round(todo, results, angles, topup=True)
        _repair(todo, client, max_repairs, seed=seed, concurrency=concurrency)
        _dedupe(todo, n, dedupe_threshold, embed)

    for pending in pendings:
        _finish(pending, n)
    if ctr_model is not None:
        accepted = [v for p in pendings for v in p.result.variants]
        if accepted:  # one batch for the whole run, like the embeddings
            ctr = ctr_model.predict_ctr([v.text for v in accepted], [v.channel for v in accepted])
            for variant, value in zip(accepted, ctr, strict=True):
                variant.predicted_ctr = round(float(value), 4)
    return [p.result for p in pendings]


def _review_round(
    pendings: Sequence[_Pending],
    results: Sequence[Completion | LLMError],
    angles: Sequence[Sequence[Angle]],
    *,
    topup: bool,
) -> None:
    """Review the answers of a variants (or top-up) call per brief. A failed first call is the brief's
    error; a failed top-up only ends its top-ups, keeping what it has."""
    for pending, result, asked in zip(pendings, results, angles, strict=True):
        pending.result.llm_calls += 1
        pending.topups += int(topup)
        if isinstance(result, LLMError):
            if topup:
                pending.topup_error = str(result)
            else:
                pending.result.error = str(result)
            continue
        pending.asked += len(asked)
        _review(pending, result, repaired=False, angles=asked)


def _repair(
    pendings: Sequence[_Pending],
    client: LLMClient,
    max_repairs: int,
    *,
    seed: int | None,
    concurrency: int | None,
) -> None:
    """Up to `max_repairs` repair calls per brief with failing drafts; what still fails is dropped."""
    for _ in range(max_repairs):
        todo = [p for p in pendings if p.failing]
        if not todo:
            break
        repairs = [repair_request(p.brief, p.failing, seed=seed) for p in todo]
        results = client.complete_many(repairs, concurrency=concurrency)
        for pending, result in zip(todo, results, strict=True):
            pending.result.llm_calls += 1
            previous = pending.failing
            if isinstance(result, LLMError):
                pending.failing = []
                _drop_failing(pending, previous, f"repair call failed: {result}")
                continue
            _review(pending, result, repaired=True, angles=[d.angle for d, _ in previous] or ["benefit"])
            # A repair reply with fewer variants than asked leaves the rest dropped as still failing.
            del previous[: len(result.parsed.variants)]
            _drop_failing(pending, previous, "no repaired version returned")
    for pending in pendings:
        _drop_failing(pending, pending.failing, None)
        pending.failing = []


def _dedupe(pendings: Sequence[_Pending], n: int, threshold: float, embed: Embedder) -> None:
    """Keep this round's accepted drafts that are no near-duplicate of a kept one (or of each other),
    up to n per brief. One embedding call for the round's whole batch: per-brief calls would dominate
    the run time."""
    texts = [d.text for p in pendings for d, _, _ in p.accepted]
    if not texts:
        return
    vectors = np.asarray(embed(texts), dtype=np.float32)
    start = 0
    for pending in pendings:
        new, pending.accepted = pending.accepted, []
        if not new:
            continue
        rows = np.vstack([*pending.vectors, *vectors[start : start + len(new)]])
        start += len(new)
        drafts = pending.kept + new
        # kept rows are pairwise below the threshold, so only new rows can be reported as duplicates
        dupes = {i: (j, sim) for i, j, sim in drop_near_duplicates(rows, threshold)} if threshold < 1 else {}
        for i in range(len(pending.kept), len(drafts)):
            if len(pending.kept) >= n:
                break
            draft, _, _ = drafts[i]
            if i in dupes:
                j, sim = dupes[i]
                pending.result.dropped.append(
                    DroppedVariant(
                        text=draft.text,
                        angle=draft.angle,
                        reason="near_duplicate",
                        detail=f"cosine {sim:.3f} with “{drafts[j][0].text}”",
                    )
                )
                continue
            pending.kept.append(drafts[i])
            pending.vectors.append(rows[i])


def _progress(
    callback: Callable[[int, int], None] | None, total: int
) -> Callable[[int, object], None] | None:
    """Adapt `complete_many`'s per-result callback to a (done, total) progress callback."""
    if callback is None:
        return None
    done = [0]

    def on_result(index: int, result: object) -> None:
        done[0] += 1
        callback(done[0], total)

    return on_result


def _drop_failing(
    pending: _Pending, failing: list[tuple[DraftVariant, list[Violation]]], detail: str | None
) -> None:
    for draft, violations in failing:
        pending.result.dropped.append(
            DroppedVariant(
                text=draft.text,
                angle=draft.angle,
                reason="guardrails",
                detail=detail or "; ".join(v.describe() for v in violations),
            )
        )
    failing.clear()


def _finish(pending: _Pending, n: int) -> None:
    brief, result = pending.brief, pending.result
    for draft, repaired, completion in pending.kept:
        sms = brief.channel == "sms"
        bill = (
            sms_billing(sms_message(draft.text, shop_name=brief.brand.shop_name, language=brief.language))
            if sms
            else None
        )
        result.variants.append(
            Variant(
                text=draft.text,
                angle=draft.angle,
                brief_key=brief.key,
                channel=brief.channel,
                language=brief.language,
                repaired=repaired,
                sms_segments=bill.segments if bill else None,
                prompt_version=completion.prompt.version if completion.prompt else None,
                model=completion.model,
            )
        )
    result.fixed = sum(v.repaired for v in result.variants)
    if pending.kept:
        scores = quality_scores(
            [d.text for d, _, _ in pending.kept],
            brief,
            vectors=np.vstack(pending.vectors),
            passed=[True] * len(pending.kept),
        )
        for variant, value in zip(result.variants, scores["quality"], strict=True):
            variant.score = round(float(value), 4)
    result.missing = n - len(result.variants)
    if result.missing:
        result.shortfall = _shortfall(pending, n)


def _shortfall(pending: _Pending, n: int) -> str:
    """Why a brief has fewer than n variants, from what its calls returned and what was dropped."""
    result = pending.result
    reasons = Counter(d.reason for d in result.dropped)
    parts = []
    if result.error:
        parts.append(f"the LLM call failed ({result.error})")
    if pending.written < pending.asked:
        parts.append(f"the model wrote {pending.written} of the {pending.asked} asked for")
    if reasons["guardrails"]:
        parts.append(f"{counted(reasons['guardrails'], 'draft')} failed the guardrails")
    if reasons["near_duplicate"]:
        parts.append(f"{counted(reasons['near_duplicate'], 'near-duplicate')} dropped")
    if reasons["empty"]:
        parts.append(f"{counted(reasons['empty'], 'empty draft')}")
    if pending.topup_error:
        parts.append(f"a top-up call failed ({pending.topup_error})")
    after = f" after {counted(pending.topups, 'top-up call')}" if pending.topups else ""
    return f"asked for {n}, got {len(result.variants)}{after}: {'; '.join(parts) or 'too few drafts'}"


def report(sets: Sequence[VariantSet]) -> GenerationReport:
    """Totals over a batch: how many variants were fixed by repair, dropped, and why."""
    reasons: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    for s in sets:
        for d in s.dropped:
            reasons[d.reason] += 1
            if d.reason == "guardrails":
                rules.update(set(re.findall(r"\[(\w+)\]", d.detail)))
        if s.error:
            reasons["llm_error"] += 1
    return GenerationReport(
        briefs=len(sets),
        variants=sum(len(s.variants) for s in sets),
        fixed=sum(s.fixed for s in sets),
        dropped=sum(len(s.dropped) for s in sets),
        drop_reasons=dict(reasons),
        violation_rules=dict(rules),
        llm_calls=sum(s.llm_calls for s in sets),
        missing=sum(s.missing for s in sets),
    )
