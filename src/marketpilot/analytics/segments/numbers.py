"""Is every number in a persona text backed by the segment statistics?

A persona may round and reformat (12.3% / 12.3 / 0.123, 1,234 / 1234, 1.2万 / 12,345, 三成 for 30%)
but may not invent. `unsupported_numbers` lists the numbers of a text that match no statistic; the
persona generator regenerates (naming them) or rejects the text.

A number matches a statistic when it equals the statistic rounded to the precision the text shows:
"35%" matches 0.3462 (34.62 → 35), "1.2万" matches 12,345 (1.2 × 10⁴ ± 0.05 × 10⁴).

With `context` (`segment_context(stats)` for personas), a number must match a statistic that its
words name: in "客单价45元" the 45 must be the AOV, not the 45.2 days of recency. The words are those
of its clause between the previous and the next number; when they name several statistics
("12.3% of customers and bring 0.4567 of revenue") any of them will do, and only a number whose
words name none is checked against every statistic.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# Shopping festivals are names, not statistics: 双11 (Singles' Day), 双12, 618, 99 (9.9 sales).
_NAMES = re.compile(r"双\s*1[12](?!\d)|双十[一二]|(?<![\d.])6\.?18(?![\d.])|Top\s*\d+(?!\d)", re.I)
_NUMBER = re.compile(
    r"(?<![\d.,])(?P<sign>[-+−])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(?P<unit>%|％|个百分点|percent|万|亿|千|[kK](?![a-zA-Z])|成(?!员|交|本|为|功|熟|长))?"
)
_CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}
# 三成 = 30 %, 两倍 = ×2: Chinese numerals count only with these units, so 一般 / 十分 stay words.
_CN_NUMBER = re.compile(r"(?P<num>[一二两三四五六七八九十])(?P<unit>成(?!员|交|本|为|功|熟|长)|倍)")
_SCALE = {"万": 1e4, "亿": 1e8, "千": 1e3, "k": 1e3, "K": 1e3}
# Clauses end at sentence punctuation; a comma or full stop between digits is part of a number.
_CLAUSE_END = re.compile(r"[，。；;！!？?：:\n]|,(?!\d)|\.(?!\d)")


@dataclass(frozen=True)
class Mention:
    """A number as written: `value` in the unit of the statistics, `tolerance` from the shown precision;
    `start`/`end` locate it in the normalised text."""

    text: str
    value: float
    tolerance: float
    percent: bool
    start: int = 0
    end: int = 0


@dataclass(frozen=True)
class Cue:
    """Words that name a statistic, and the values that statistic may take. A `broad` cue (a currency
    names every amount) counts only where no narrower one is present: in "CLV 256.78元" the 256.78
    must be the CLV, though the AOV is in 元 too."""

    pattern: re.Pattern[str]
    values: tuple[float, ...]
    broad: bool = False


def _normalise(text: str) -> str:
    return _NAMES.sub(" ", unicodedata.normalize("NFKC", text))


def mentions(text: str) -> list[Mention]:
    """The numbers of a text in reading order (full-width digits normalised; festival names ignored)."""
    return _mentions(_normalise(text))


def _mentions(text: str) -> list[Mention]:
    found: list[Mention] = []
    for m in _NUMBER.finditer(text):
        raw = m.group("num")
        unit = m.group("unit") or ""
        decimals = len(raw.split(".")[1]) if "." in raw else 0
        value = float(raw.replace(",", ""))
        if m.group("sign") in ("-", "−"):
            value = -value
        step = 10.0**-decimals
        scale = _SCALE.get(unit, 1.0)
        if unit == "成":
            value, step, percent = value * 10, 10.0, True
        else:
            percent = unit in ("%", "％", "个百分点", "percent")
        found.append(
            Mention(m.group(0).strip(), value * scale, step / 2 * scale, percent, m.start(), m.end())
        )
    for m in _CN_NUMBER.finditer(text):
        digit = _CN_DIGITS[m.group("num")]
        if m.group("unit") == "倍":
            found.append(Mention(m.group(0), float(digit), 0.5, False, m.start(), m.end()))
        else:
            found.append(Mention(m.group(0), digit * 10.0, 5.0, True, m.start(), m.end()))
    return sorted(found, key=lambda m: m.start)


def flatten_numbers(stats: object) -> list[float]:
    """Every number in nested stats (dicts, lists, pydantic models); list lengths count too
    ("3 个主要品类" when the stats list three)."""
    out: list[float] = []
    stack: list[object] = [stats]
    while stack:
        item = stack.pop()
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, int | float):
            out.append(float(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, Iterable) and not isinstance(item, str | bytes):
            values = list(item)
            out.append(float(len(values)))
            stack.extend(values)
    return out


def _supported(mention: Mention, allowed: Iterable[float]) -> bool:
    for value in allowed:
        # A share stored as 0.123 may be written 12.3%, 12.3 or 0.123; a rate stored as 12.3 as 12.3%.
        candidates = (value, value * 100) if abs(value) <= 1 else (value,)
        for candidate in candidates:
            if abs(mention.value - candidate) <= mention.tolerance + 1e-9 * max(1.0, abs(candidate)):
                return True
    return False


def _named_values(text: str, found: list[Mention], i: int, context: Sequence[Cue]) -> list[float] | None:
    """Values of the statistics named around mention `i` (None: its words name no statistic)."""
    left = found[i - 1].end if i > 0 else 0
    right = found[i + 1].start if i + 1 < len(found) else len(text)
    before, after = text[left : found[i].start], text[found[i].end : right]
    ends = list(_CLAUSE_END.finditer(before))
    before = before[ends[-1].end() :] if ends else before
    end = _CLAUSE_END.search(after)
    window = f"{before} {after[: end.start()] if end else after}"
    named = [cue for cue in context if cue.pattern.search(window)]
    if not named:
        return None
    # A currency word only narrows when the clause names no amount itself: "预计CLV为256.78元" must be
    # the CLV, but in "每位客户平均消费477.17元" the clause names customers and the 元 says it is an amount.
    broad = [cue for cue in named if cue.broad]
    narrow = [cue for cue in named if not cue.broad]
    amounts = {v for cue in broad for v in cue.values}
    if narrow and any(amounts & set(cue.values) for cue in narrow):
        named = narrow
    return [v for cue in named for v in cue.values]


def unsupported_numbers(text: str, stats: object, *, context: Sequence[Cue] = ()) -> list[str]:
    """The numbers written in `text` that match no number in `stats` (empty list: all grounded);
    with `context`, a number whose words name statistics must match one of those."""
    allowed = flatten_numbers(stats)
    normalised = _normalise(text)
    found = _mentions(normalised)
    bad = []
    for i, mention in enumerate(found):
        named = _named_values(normalised, found, i, context) if context else None
        if not _supported(mention, allowed if named is None else named):
            bad.append(mention.text)
    return bad


def _cue(pattern: str, *values: float | None, broad: bool = False) -> Cue:
    return Cue(re.compile(pattern, re.I), tuple(float(v) for v in values if v is not None), broad)


def segment_context(stats: object) -> list[Cue]:
    """The words that name each statistic of a segment (`SegmentStats` or its dict), in Chinese and
    English. A category's share is named by its name, 品类 or 销售额 (the prompt labels category shares
    销售额占比), an RFM class's share by its name or RFM, neither by 占比 alone: "服饰占17.66%" must
    be the share of 服饰."""
    s = stats.model_dump() if hasattr(stats, "model_dump") else dict(stats)  # type: ignore[call-overload]
    get = s.get
    cats = [c for c in get("top_categories") or [] if isinstance(c, Mapping)]
    mix = [c for c in get("rfm_mix") or [] if isinstance(c, Mapping)]
    money = (get("aov"), get("clv_mean"), get("revenue"))
    cues = [
        _cue(
            r"客户|顾客|用户|买家|会员|人(?!均)|位|名(?!称)|customers?|people|buyers?|shoppers?|members?",
            get("customers"),
            get("customer_share"),
        ),
        _cue(r"占|比例|份额|比重|shares?|proportion", get("customer_share"), get("revenue_share")),
        _cue(
            r"销售|营收|收入|贡献|GMV|revenue|sales|spend",
            get("revenue"),
            get("revenue_share"),
            *(c.get("share") for c in cats),  # a category's share is its share of the segment's sales
        ),
        _cue(r"客单|单价|每单|订单金额|AOV|order value|average order|per order|basket", get("aov")),
        _cue(r"[元块¥$£€]|CNY|RMB|USD|GBP|EUR|yuan", *money, broad=True),
        _cue(r"单|次|笔|复购|频|orders?|times|purchases?|buys", get("orders_per_customer")),
        _cue(r"天|最近|上次|时长|days?|ago|recency|recent|tenure", get("recency_days"), get("tenure_days")),
        _cue(r"折|优惠|券|让利|discount|coupon|deal", get("discount_rate")),
        _cue(r"流失|沉睡|churn|lapse|attrition|risk", get("churn_risk")),
        _cue(r"CLV|LTV|价值|生命周期|预测|预计|lifetime|predicted|worth|value", get("clv_mean")),
        _cue(r"品类|类目|类别|categor(?:y|ies)", len(cats), *(c.get("share") for c in cats)),
        _cue(r"RFM", *(c.get("share") for c in mix)),
        _cue(r"细分|分群|segment|cluster", get("segment")),
    ]
    for c in cats:
        cues.append(_cue(re.escape(str(c.get("category"))), c.get("share")))
    for c in mix:
        names = "|".join(re.escape(str(c[k])) for k in ("name_zh", "name_en") if c.get(k))
        if names:
            cues.append(_cue(names, c.get("share")))
    return cues
