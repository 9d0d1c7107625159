"""Is every number in a persona text backed by the segment statistics?

A persona may round and reformat (12.3% / 12.3 / 0.123, 1,234 / 1234, 1.2万 / 12,345, 三成 for 30%)
but may not invent. A Chinese numeral is a number when a counting unit follows it (一次, 两单, 三个月,
十元, 百分之三十); in a word (一般, 一直, 一次性, 十分, 万一) it is not. `unsupported_numbers` lists
the numbers of a text that match no statistic; the persona generator regenerates (naming them) or
rejects the text.

A number matches a statistic when it equals the statistic rounded to the precision the text shows:
"35%" matches 0.3462 (34.62 → 35), "1.2万" matches 12,345 (1.2 × 10⁴ ± 0.05 × 10⁴).

With `context` (`segment_context(stats)` for personas), a number must match a statistic that its
words name: in "客单价45元" the 45 must be the AOV, not the 45.2 days of recency; in "每月购买一次" the
1 must be orders per customer per month of mean tenure (10.7 orders in 259 days: 1.24), not 10.7.
The words are those of its clause between the previous and the next number; when they name several
statistics ("12.3% of customers and bring 0.4567 of revenue") any of them will do, and only a number whose
words name none is checked against every statistic.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from marketpilot.content.numbers import CN_NUMERAL_CHARS, cn_to_number

# Shopping festivals are names, not statistics: 双11 (Singles' Day), 双12, 618, 99 (9.9 sales).
# So is 未来一年, the horizon of the CLV the prompt labels "未来一年预测价值".
_NAMES = re.compile(
    r"双\s*1[12](?!\d)|双十[一二]|(?<![\d.])6\.?18(?![\d.])|Top\s*\d+(?!\d)|未来\s*[一1]\s*年", re.I
)
_NUMBER = re.compile(
    r"(?<![\d.,])(?P<sign>[-+−])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*"
    r"(?P<unit>%|％|个百分点|percent|万|亿|千|[kK](?![a-zA-Z])|成(?!员|交|本|为|功|熟|长))?"
)
# A Chinese numeral is a figure when a counting unit the digits are read with follows it directly
# (一次, 两单, 三个月, 十元, 五成, 两倍) or it is a percentage (百分之三十); anywhere else it is part of a
# word: 一般, 一直, 一起, 一些, 一定, 一样, 一下, 十分, 万一, 一次性, 一块儿. Not after 第/这/那/每/再/又/同/
# 唯/统/上/下 or 最近: 第一次 is "the first", 这一次 "this time", 上一次 and 最近一次 "the last time".
_CN_RUN = rf"[{CN_NUMERAL_CHARS}]+"
_CN_FIGURE = re.compile(
    rf"(?<![{CN_NUMERAL_CHARS}第这那哪每再又同唯统上下])(?<!最近)"
    rf"(?:百分之(?P<pct>{_CN_RUN})"
    rf"|(?P<num>{_CN_RUN})(?P<unit>成(?!员|交|本|为|功|熟|长)|倍"
    r"|次(?!性|要|数)|单(?!独|纯|调|品|一)|笔|天|周|个?星期|个月|年(?!轻|龄|纪|级)|元|块钱))"
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


@dataclass(frozen=True)
class Cue:
    """Words that name a statistic, and the values that statistic may take. A `broad` cue (a currency
    names every amount) counts only where no narrower one is present: in "CLV 256.78元" the 256.78
    must be the CLV, though the AOV is in 元 too."""

    pattern: re.Pattern[str]
    values: tuple[float, ...]
    broad: bool = False
    unless: re.Pattern[str] | None = None  # the cue does not count in a clause this also matches


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
        if (mention := _cn_mention(m)) is not None:
            found.append(mention)
    return sorted(found, key=lambda m: m.start)


def _cn_mention(m: re.Match[str]) -> Mention | None:
    run = m.group("pct") or m.group("num")
    # 万一 is a word; 两三天, 一两次 are ranges and 二〇二五年 a date, not statistics.
    if run[0] in "万亿" or (len(run) > 1 and all(ch in _PLAIN_DIGITS for ch in run)):
        return None
    value = cn_to_number(run)
    if value is None:
        return None
    # As precise as written: 三百 is 300 like "300", 十二万 is 12万 ± 0.5万 like "12万".
    tolerance = 0.5 * (_SCALE.get(run[-1], 1.0) if run[-1] in "万亿" else 1.0)
    unit = m.group("unit")
    if m.group("pct") or unit == "成":
        percent = value * 10 if unit == "成" else value
        return Mention(
            m.group(0), float(percent), 5.0 if unit == "成" else tolerance, True, m.start(), m.end()
        )
    if unit == "倍":
        return Mention(m.group(0), float(value), tolerance, False, m.start(), m.end())
    # The counting word (次, 天, 元) stays outside the mention, as after digits, so that it names the
    # statistic in the clause window.
    return Mention(m.group(0), float(value), tolerance, False, m.start(), m.end("num"))


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
    named = [
        cue
        for cue in context
        if cue.pattern.search(window) and not (cue.unless and cue.unless.search(window))
    ]
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


def _cue(
    pattern: str, *values: float | None, broad: bool = False, unless: re.Pattern[str] | None = None
) -> Cue:
    return Cue(re.compile(pattern, re.I), tuple(float(v) for v in values if v is not None), broad, unless)


# The periods a frequency or a duration is written in: days, the rate's words ("每月", "a month",
# "monthly") and the duration's words ("三个月", "2 weeks"; days have the recency cue below).
_PERIODS = (
    (1.0, r"每\s*(?:天|日)|\b(?:per|a|every|each)\s+day\b(?!\s+ago)|\bdaily\b", None),
    (7.0, r"每\s*(?:周|个?星期)|\b(?:per|a|every|each)\s+week\b(?!\s+ago)|\bweekly\b", r"周|星期|weeks?"),
    (
        365.25 / 12,
        r"每\s*个?月|\b(?:per|a|every|each)\s+month\b(?!\s+ago)|\bmonthly\b",
        r"个月|months?",
    ),
    (
        365.25,
        r"每\s*年|\b(?:per|a|every|each)\s+year\b(?!\s+ago)|\b(?:yearly|annually)\b",
        r"年(?!轻|龄|纪|级)|years?",
    ),
)
# "每月一次", "twice a month": a rate, not a count of orders, a recency or a tenure.
_PER_PERIOD = re.compile("|".join(rate for _, rate, _ in _PERIODS), re.I)


def _period_cues(orders: float | None, recency: float | None, tenure: float | None) -> list[Cue]:
    """Per period, its rate (orders per customer over the mean tenure: 10.7 orders in 259 days is
    "每月一次", not "每天一次") and, outside a rate, recency and tenure in it ("近三个月")."""
    cues = []
    for days, rate_words, duration_words in _PERIODS:
        cues.append(_cue(rate_words, orders / tenure * days if orders is not None and tenure else None))
        if duration_words:
            durations = (v / days if v is not None else None for v in (recency, tenure))
            cues.append(_cue(duration_words, *durations, unless=_PER_PERIOD))
    return cues


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
        _cue(
            r"单|次|笔|复购|频|orders?|times|purchases?|buys",
            get("orders_per_customer"),
            unless=_PER_PERIOD,
        ),
        _cue(
            r"天|最近|上次|时长|days?|ago|recency|recent|tenure",
            get("recency_days"),
            get("tenure_days"),
            unless=_PER_PERIOD,
        ),
        *_period_cues(get("orders_per_customer"), get("recency_days"), get("tenure_days")),
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
