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
from typing import Literal

from marketpilot.content.numbers import CN_NUMERAL_CHARS, cn_to_number

# Shopping festivals are names, not statistics: 双11 (Singles' Day), 双12, 618, 99 (9.9 sales). So is
# 未来一年, the horizon of the CLV the prompt labels "未来一年预测价值".
_NAMES = re.compile(
    r"双\s*1[12](?!\d)|双十[一二]|(?<![\d.])6\.?18(?![\d.])|Top\s*\d+(?!\d)|未来\s*[一1]\s*年", re.I
)
_NUMBER = re.compile(
    r"(?<![\d.,])(?P<sign>[-+−])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(?P<unit>%|％|个百分点|percent|万|亿|千|[kK](?![a-zA-Z])|成(?!员|交|本|为|功|熟|长))?"
)
# A Chinese numeral is a figure when a counting unit follows it directly (一次, 两单, 三笔, 五天, 两周,
# 三个月, 一年, 十元, 五成, 两倍) or it is a percentage (百分之三十); anywhere else it is part of a word
# (一般, 一直, 一起, 一些, 一定, 十分, 万一, 一次性). After 第/这/那/哪/再/又/同/唯/统/上/下/最近 it is an
# ordinal or "this/last time" (第一次, 这一次, 上一次, 最近一次); 每一次 is "every time".
_CN_RUN = rf"[{CN_NUMERAL_CHARS}]+"
_CN_FIGURE = re.compile(
    rf"(?<![{CN_NUMERAL_CHARS}第这那哪再又同唯统上下])(?<!最近)"
    rf"(?:百分之(?P<pct>{_CN_RUN})"
    rf"|(?P<num>{_CN_RUN})(?=(?P<unit>成(?!员|交|本|为|功|熟|长)|倍"
    r"|次(?!性|要|数)|单(?!独|纯|调|品|一)|笔|天|周|个?星期|个月|年(?!轻|龄|纪|级)|元|块钱)))"
)
_PLAIN_DIGITS = "零〇一二两三四五六七八九"
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
    # a Chinese numeral read for the counting word after it (一次, 三天): only a persona's clause words
    # say which statistic it is; without them (a report's narrative) "这是一次成功的活动" is no figure
    counted: bool = False


# How a timing cue reads the number its unit follows: "rate" (orders, values per day, in a clause that
# names a period: 每月一次), "duration" (values in days: 三个月, 45天) or "interval" (days, after 每:
# 每两个月, 每隔20天).
Timing = Literal["rate", "duration", "interval"]


@dataclass(frozen=True)
class Cue:
    """Words that name a statistic, and the values that statistic may take. A `broad` cue (a currency
    names every amount) counts only where no narrower one is present: in "CLV 256.78元" the 256.78
    must be the CLV, though the AOV is in 元 too. A `timing` cue's pattern is the unit that directly
    follows the number (次, 天, 个月, orders, weeks); it names that number ahead of the clause's words."""

    pattern: re.Pattern[str]
    values: tuple[float, ...]
    broad: bool = False
    timing: Timing | None = None


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
    for m in _CN_FIGURE.finditer(text):
        if (mention := _cn_mention(text, m)) is not None:
            found.append(mention)
    return sorted(found, key=lambda m: m.start)


def _cn_mention(text: str, m: re.Match[str]) -> Mention | None:
    run = m.group("pct") or m.group("num")
    unit = m.group("unit") or ""
    # 万一 is a word, 千元级 no figure; 两三天 and 一两次 are ranges and 二〇二五年 a date, not statistics.
    if run[0] in "万亿" or not (run[0] == "十" or any(ch in _PLAIN_DIGITS for ch in run)):
        return None
    if len(run) > 1 and all(ch in _PLAIN_DIGITS for ch in run):
        return None
    # 每一次 / 每一单 is "every time", but 每两个月 is an interval (see `_period_values`).
    if unit[:1] in "次单笔" and text[max(m.start() - 1, 0) : m.start()] == "每":
        return None
    value = cn_to_number(run)
    if value is None:
        return None
    # As precise as written: 三百 is 300 like "300", 十二万 is 12万 ± 0.5万 like "12万".
    tolerance = 0.5 * (_SCALE[run[-1]] if run[-1] in "万亿" else 1.0)
    if m.group("pct"):
        return Mention(m.group(0), float(value), tolerance, True, m.start(), m.end())
    if unit == "成":
        return Mention(m.group(0) + unit, value * 10.0, 5.0, True, m.start(), m.end() + 1)
    if unit == "倍":
        return Mention(m.group(0) + unit, float(value), tolerance, False, m.start(), m.end() + 1)
    # The counting word (次, 天, 元) stays outside the mention, as after digits, so that it names the
    # statistic: the text reported is the figure with its unit, "一次".
    return Mention(m.group(0) + unit, float(value), tolerance, False, m.start(), m.end(), counted=True)


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
    after = after[: end.start()] if end else after
    timed = _timed_values(text, found[i], before, after, context)
    if timed is not None:
        return timed
    window = f"{before} {after}"
    named = [cue for cue in context if cue.timing is None and cue.pattern.search(window)]
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


def _clause(text: str, mention: Mention) -> str:
    """The whole clause of a mention, across the other numbers in it."""
    starts = list(_CLAUSE_END.finditer(text, 0, mention.start))
    end = _CLAUSE_END.search(text, mention.end)
    return text[starts[-1].end() if starts else 0 : end.start() if end else len(text)]


def _timed_values(
    text: str, mention: Mention, before: str, after: str, context: Sequence[Cue]
) -> list[float] | None:
    """The values a number's own unit names (None: no timing cue applies). Each number of a clause
    that names a rate and a duration ("每月购买一次，距上次购买244天") is read by its own unit: the 一
    of 一次 as the rate, the 244 of 244天 as the recency."""
    every = _EVERY.search(before) is not None
    values: list[float] | None = None
    for cue in context:
        if cue.timing is None or not (unit := cue.pattern.match(after)):
            continue
        if cue.timing == "rate":
            periods = [_rate_days(m) for m in _RATE.finditer(_clause(text, mention))]
            if periods:
                values = (values or []) + [v * days for v in cue.values for days in periods]
        elif (cue.timing == "interval") == every:
            days = _unit_days(unit.group("unit") or unit.group("en"))
            values = (values or []) + [v / days for v in cue.values]
    return values


# Figures segment statistics never hold, whatever their value: a count of items ("413件商品", 413 being
# the customers) and a difference from the average ("比全店平均高2.3", 2.3 being the segment's own
# orders per customer). The prompt states comparisons in words only.
_ITEMS_AFTER = re.compile(
    r"\s*(?:件|款|个商品|样商品|items?\b|units?\b|products?\b(?!\s+categor)|pieces?\b)", re.I
)
_DIFFERENCE_BEFORE = re.compile(
    r"比[^，。；;,]{0,16}?(?:高|低|多|少|贵|便宜|长|短)(?:了|出)?\s*$|(?:高|低|多|少)出\s*$"
    r"|\b(?:higher|lower|more|less|fewer|above|below)\b[^,.;]*\bby\s*$",
    re.I,
)
_DIFFERENCE_AFTER = re.compile(
    r"\s*(?:percentage points?\s+|points?\s+)?(?:higher|lower|more|less|fewer|above|below)\b"
    r"(?=[^,.;]*\b(?:than|average|mean)\b)",
    re.I,
)


def _no_statistic(text: str, mention: Mention) -> bool:
    """Whether the mention is an item count or a difference, which no segment statistic is."""
    clause = _clause(text, mention)
    before = text[: mention.start][-len(clause) - 1 :]
    after = text[mention.end :]
    return bool(
        _ITEMS_AFTER.match(after) or _DIFFERENCE_BEFORE.search(before) or _DIFFERENCE_AFTER.match(after)
    )


def unsupported_numbers(text: str, stats: object, *, context: Sequence[Cue] = ()) -> list[str]:
    """The numbers written in `text` that match no number in `stats` (empty list: all grounded);
    with `context`, a number whose words name statistics must match one of those, and an item count
    or a difference from an average matches none."""
    allowed = flatten_numbers(stats)
    normalised = _normalise(text)
    found = _mentions(normalised)
    bad = []
    for i, mention in enumerate(found):
        if mention.counted and not context:
            continue
        if context and _no_statistic(normalised, mention):
            bad.append(mention.text)
            continue
        named = _named_values(normalised, found, i, context) if context else None
        if not _supported(mention, allowed if named is None else named):
            bad.append(mention.text)
    return bad


def _cue(pattern: str, *values: float | None, broad: bool = False) -> Cue:
    return Cue(re.compile(pattern, re.I), _values(*values), broad)


# Days in a period, by its Chinese or English name.
_PERIOD_DAYS = {"天": 1.0, "日": 1.0, "周": 7.0, "星期": 7.0, "月": 365.25 / 12, "年": 365.25}
_PERIOD_DAYS |= {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "year": 365.25}
_ADVERBS = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year", "annually": "year"}
# The period of a frequency: 每天, 每个月, 每两周, 每隔3天, "a month", "every 2 weeks", "monthly".
_RATE = re.compile(
    rf"每\s*(?:隔\s*)?(?P<n>\d+(?:\.\d+)?|{_CN_RUN})?\s*个?(?P<zh>天|日|周|星期|月|年)"
    r"|\b(?:per|a|an|every|each)\s+(?:(?P<n_en>\d+(?:\.\d+)?)\s+)?(?P<en>day|week|month|year)s?\b(?!\s+ago)"
    r"|\b(?P<adv>daily|weekly|monthly|yearly|annually)\b",
    re.I,
)
_EVERY = re.compile(r"(?:每\s*(?:隔\s*)?|\bevery\s+)$", re.I)
# The unit right after a number: orders counted, or a duration. A bare 月 or 日 after digits is a
# date (3月, 11日), and so is 2025年, which then matches no duration.
_COUNT_UNIT = re.compile(r"\s*(?P<unit>次|单|笔|times?\b|orders?\b|purchases?\b)", re.I)
_DURATION_UNIT = re.compile(
    r"\s*(?:个?(?P<unit>天|周|星期|(?<=个)月|年(?!轻|龄|纪|级))|(?P<en>days?|weeks?|months?|years?)\b)",
    re.I,
)


def _unit_days(unit: str) -> float:
    return _PERIOD_DAYS[unit.lower().removesuffix("s")]


def _rate_days(m: re.Match[str]) -> float:
    """Days in the period a rate phrase names: 30.4 for 每月, 14 for 每两周 or "every 2 weeks"."""
    if m.group("adv"):
        return _PERIOD_DAYS[_ADVERBS[m.group("adv").lower()]]
    n = m.group("n") or m.group("n_en")
    count = 1.0 if not n else float(n) if n[0].isdigit() else float(cn_to_number(n) or 1)
    return count * _PERIOD_DAYS[(m.group("zh") or m.group("en")).lower()]


def _timing_cues(orders: float | None, recency: float | None, tenure: float | None) -> list[Cue]:
    """A number followed by 次/单/orders in a clause naming a period is orders per customer over the
    mean tenure in that period (10.7 orders in 259 days: "每月一次", 1.24, not "每天一次"); one followed
    by 天/周/个月/年 is the recency or tenure in that unit ("近三个月" for 88 days), and after 每 the
    mean days between orders ("每三周购买一次")."""
    cues = [Cue(_DURATION_UNIT, _values(recency, tenure), timing="duration")]
    if orders and tenure:
        cues.append(Cue(_COUNT_UNIT, (orders / tenure,), timing="rate"))
        cues.append(Cue(_DURATION_UNIT, (tenure / orders,), timing="interval"))
    return cues


def _values(*values: float | None) -> tuple[float, ...]:
    return tuple(float(v) for v in values if v is not None)


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
        *_timing_cues(get("orders_per_customer"), get("recency_days"), get("tenure_days")),
    ]
    for c in cats:
        cues.append(_cue(re.escape(str(c.get("category"))), c.get("share")))
    for c in mix:
        names = "|".join(re.escape(str(c[k])) for k in ("name_zh", "name_en") if c.get(k))
        if names:
            cues.append(_cue(names, c.get("share")))
    return cues
