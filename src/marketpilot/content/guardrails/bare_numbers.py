"""Numbers that facts.py's role patterns leave unread: "羊毛大衣299", "两件299", "爆款9.9".

A wrong price rarely comes with a label, so no number is ignored. Each leftover number is read here as
one of: a festival name (双11, 618大促) or a time/date that is not a claim (20:00, 晚8点, 2025新款, 12月
上新), which are not checked; a day or m/d date (11号截止, 12/31), checked like any date; a quantity with
a counting unit (3天, 24小时, 2件), checked when the brief says something about it; a spec with a
measure unit (500ml, 65W), which must be written so in the brief; or a bare number, which must be one
of the brief's figures. facts.py does the checking; this module only reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, cast

from marketpilot.content.numbers import CN_NUMERAL_CHARS, is_cn_figure, parse_number

Kind = Literal["date", "duration", "items", "measure", "number"]

_CN = f"[{CN_NUMERAL_CHARS}]"
_CN_DIGITS = set("零〇一二两三四五六七八九")
_DIGITS = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"

# Festival names that contain numbers; never prices. 618 and friends only next to a festival word,
# so "爆款618" is still read as a number.
_FESTIVAL_WORDS = (
    r"大促|狂欢|购物节|年中|节|活动|期间|同价|预售|开门红|返场|当天|好价|盛典|来袭|特惠|抢购|专享"
    r"|福利|钜惠|嗨购|限定|礼遇"
)
FESTIVAL = re.compile(
    r"双\s*(?:11|12|十一|十二)(?![\d.])"
    r"|(?<![\d.])(?:11\.11|12\.12)(?![\d.])"
    rf"|(?<![\d.])(?:618|520|99|88|38|3\.8)(?=\s*(?:{_FESTIVAL_WORDS}|表白|告白|情人节|划算节|会员节|女神节|妇女节))"
    r"|(?:迎|战|备战|嗨购|京东|天猫|淘宝|年中|过|今年)\s*618(?![\d.])"
    r"|十一\s*(?=黄金周|长假|假期|国庆)"
)

# Times of day and partial dates that say nothing checkable about the offer.
_NOT_CLAIMS = re.compile(
    rf"(?<![\d.])\d{{1,2}}\s*[:：]\s*\d{{2}}(?:\s*[:：]\s*\d{{2}})?(?![\d.])"  # 20:00, 23:59:59
    rf"|(?:\d{{1,2}}|{_CN}{{1,3}})\s*点(?:\s*(?:\d{{1,2}}|{_CN}{{1,3}})\s*分|半|整)?"  # 晚8点, 十点半
    r"|(?i:(?<![\d.])\d{1,2}\s*(?:am|pm|a\.m\.|p\.m\.))"  # 8pm
    r"|(?<![\d.])(?:19|20)\d{2}(?=\s*(?:年|新款|款|春|夏|秋|冬|新品|系列|限定|版|年度))"  # 2025新款
    r"|(?<![\d.])(?:1[0-2]|0?[1-9])\s*月(?!\s*\d)"  # 12月上新 (a month, no day)
)
# A day of the month: only before a deadline word, so 3号色 (a shade) stays a plain quantity.
_DAY = re.compile(
    r"(?<![\d.月])(?P<d>[12]\d|3[01]|0?[1-9])\s*[日号]"
    r"(?=\s*(?:截止|结束|前|当天|开抢|开始|开售|零点|0点|晚|早|上午|下午|中午|止|之前|以前|起|恢复|24点))"
)
_SLASH_DATE = re.compile(r"(?<![\d/.])(?P<m>1[0-2]|0?[1-9])/(?P<d>[12]\d|3[01]|0?[1-9])(?![\d/])")
_SKIP = re.compile(r"https?://\S+|www\.\S+|\{[^{}]*\}")  # links and render-time slots

_UNITS = re.compile(
    r"\s*(?:"
    r"(?P<duration>个月|个小时|小时|分钟|秒(?!杀)|天|日|周(?!年)|星期|年(?!级)"
    r"|(?i:hours?|hrs?|days?|weeks?|months?|years?|minutes?|mins?|seconds?|secs?)(?![A-Za-z]))"
    r"|(?P<items>件|个|份|台|套|瓶|盒|只|双|支|袋|包(?!邮)|罐|片|粒|条|张|本|箱|提|桶|对|杯|枚|顶"
    r"|(?i:pcs|pieces?|items?|units?|packs?|bottles?|pairs?|sets?)(?![A-Za-z]))"
    r"|(?P<measure>毫升|升|毫克|千克|公斤|克|斤|厘米|毫米|米|英寸|寸|瓦|磅"
    r"|(?i:ml|mah|kg|mg|cm|mm|inch(?:es)?|gb|tb|hz|oz|lbs?|l|g|m|w|v|t)(?![A-Za-z])|℃|°C)"
    r"|(?P<other>人|位|名|户|步|次|岁|款|色|码|层|倍|度|号|星|级|代|道|项|种|遍|重|季|届|期|周年"
    r"|(?i:people|persons?|customers?|buyers?|members?|steps?|times|colou?rs|styles|sizes)(?![A-Za-z]))"
    r")"
)
_TOKEN = re.compile(rf"(?P<num>{_DIGITS})(?P<mult>\s*[万亿])?|(?P<cn>{_CN}+)")

# A countdown is about the offer when a word like these is next to it: 仅剩3天, 3天后恢复原价, 2 days left.
_OFFER_BEFORE = re.compile(
    r"(?:仅剩|只剩|还剩|剩余|剩|仅|只|最后|倒计时|限时|为期|持续|活动|仅限|还有|距(?:离)?(?:结束|截止)?"
    r"|(?i:only|just|last|final|ends? in|ending in))\s*$"
)
_OFFER_AFTER = re.compile(
    r"\s*(?:后(?:恢复|涨价|结束|截止|失效|下架|回到|调回|变回|原价|停止|取消)"
    r"|内(?:有效|下单|购买|抢购|付款|使用)|有效|截止|结束|限时|特惠|特价|秒杀|闪购|大促|活动"
    r"|(?i:left|remaining|only|to go|sale|deal|offer)\b)"
)


@dataclass(frozen=True)
class BareNumber:
    kind: Kind
    value: float | tuple[int | None, int | None, int]  # a date is (year, month or None, day)
    start: int
    end: int
    text: str
    unit: str | None = None
    about_offer: bool = False  # a duration next to an offer word (仅剩3天, 3天后恢复原价)


def _mark(taken: list[bool], start: int, end: int) -> None:
    for i in range(start, end):
        taken[i] = True


def read_bare_numbers(text: str, taken: list[bool]) -> list[BareNumber]:
    """Every number outside the `taken` character positions (labelled claims, PII), classified.
    Festival names, times and partial dates are left out: they are not claims."""
    taken = list(taken)
    found: list[BareNumber] = []
    for pattern in (FESTIVAL, _NOT_CLAIMS, _SKIP):
        for m in pattern.finditer(text):
            if not any(taken[m.start() : m.end()]):
                _mark(taken, *m.span())
    for m in _DAY.finditer(text):
        if not any(taken[m.start() : m.end()]):
            found.append(BareNumber("date", (None, None, int(m.group("d"))), *m.span(), m.group()))
            _mark(taken, *m.span())
    for m in _SLASH_DATE.finditer(text):
        if not any(taken[m.start() : m.end()]):
            value = (None, int(m.group("m")), int(m.group("d")))
            found.append(BareNumber("date", value, *m.span(), m.group()))
            _mark(taken, *m.span())
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        if any(taken[start:end]):
            continue
        cn = m.group("cn")
        value = parse_number(cn or m.group("num"))
        if value is None:
            continue
        if m.group("mult"):
            value *= 10_000 if m.group("mult").strip() == "万" else 100_000_000
        unit = _UNITS.match(text, end)
        # Chinese numerals: a figure (三百九十九) anywhere, a plain digit (两件, 三天) only before a unit;
        # 千万, 万一, 一起 are words.
        if cn and not (is_cn_figure(cn) or (unit is not None and any(ch in _CN_DIGITS for ch in cn))):
            continue
        if cn and cn[0] in "万亿":
            continue
        if unit is None:
            found.append(BareNumber("number", value, start, end, m.group()))
            continue
        kind = unit.lastgroup
        if kind == "other":
            continue  # 仅需3步, 5星, 3号色: counted things the brief has no figure for
        about = kind == "duration" and bool(
            _OFFER_BEFORE.search(text[max(0, start - 6) : start]) or _OFFER_AFTER.match(text, unit.end())
        )
        found.append(
            BareNumber(
                cast(Kind, kind), value, start, unit.end(), text[start : unit.end()], unit.group(kind), about
            )
        )
    return sorted(found, key=lambda b: b.start)
