"""Every price, discount, percentage, date and quantity in the copy must match the brief.

The extractor reads numbers the way Chinese and English copy writes them: ¥399 / 399元 / 399块 /
九块九 / RMB 399 / 三百九十九元, 原价399现价319 (each price gets its role), 299到手 / 9.9包邮 / 99秒杀
(a sale price), 立减80元, 满300减50, 8折 / 85折 / 5折 / 半价, 第2件半价, 20% off, save $10, 买二送一 /
buy 2 get 1, 仅剩5件, 12月31日 / Dec 31. Every other number is read by bare_numbers.py and must be a
festival name or time, a quantity the brief does not contradict, a spec the brief states, or one of the
brief's figures: a wrong price rarely comes with a label ("羊毛大衣299", "两件299").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from marketpilot.content.briefs import Brief
from marketpilot.content.guardrails.bare_numbers import FESTIVAL, BareNumber, read_bare_numbers
from marketpilot.content.guardrails.base import Violation
from marketpilot.content.numbers import (
    CN_NUMERAL_CHARS,
    NUM,
    fmt_amount,
    halfwidth,
    is_cn_figure,
    parse_fold,
    parse_number,
)
from marketpilot.privacy.pii import find_pii

Role = Literal[
    "list",
    "sale",
    "price",
    "off",
    "threshold",
    "coupon",
    "money",
    "rate",
    "percent",
    "buy",
    "get",
    "stock",
    "date",
    "nth",
    "nth_rate",
]

MONEY_TOL = 0.011  # one fen/cent of rounding
RATE_TOL = 0.011  # 8折 for 319/399 (20.05 % off) is honest; 7折 is not

_CUR_PREFIX = r"(?:[¥￥$€£]|US\$|RMB\s?|CNY\s?|USD\s?|EUR\s?)"
_CUR_SUFFIX = r"(?:元|块钱|块|rmb|RMB|yuan|USD|dollars?|euros?)"
_SYMBOL_CURRENCY = {
    "¥": "CNY",
    "￥": "CNY",
    "元": "CNY",
    "块": "CNY",
    "块钱": "CNY",
    "rmb": "CNY",
    "cny": "CNY",
    "yuan": "CNY",
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "£": "GBP",
}
# 九块九 / 两块五: the digit after 块 is jiao (tenths), unless it counts something (三块一件).
_JIAO = r"(?<=块)(?P<jiao>[一二三四五六七八九\d])(?![\d.十百千万件个份瓶盒支袋只双斤天]|包(?!邮))"
_UNIT = rf"(?P<unit>{_CUR_SUFFIX})(?:{_JIAO})?"
_MONEY = rf"(?:(?P<cur>{_CUR_PREFIX})\s*)?(?P<num>{NUM})(?:\s*{_UNIT})?"
_SALE_AFTER = r"到手|包邮|秒杀|抢购|拿下|入手|带回家|起"

_ROLE_WORDS: list[tuple[Role, str]] = [
    (
        "list",
        r"原价|划线价|吊牌价|市场价|日常价|专柜价|官方价"
        r"|was|originally|regular(?:ly)?(?: price)?|list price|RRP|MSRP",
    ),
    (
        "sale",
        r"现价|到手价?|券后价?|活动价|秒杀价|折后价?|特价|惊爆价|抢购价|团购价|拼团价|仅需|只需|只要|仅售|低至"
        r"|now(?: only)?|only|just|sale price|for",
    ),
    ("price", r"售价|价格|price"),
    ("off", r"立减|直降|直减|立省|再减|优惠|便宜|省下|省|领券减|少花|save|take|extra"),
]
_FILLER = r"(?:\s*[:：]?\s*(?:只要|仅需|仅|只|才|低至|不到)?\s*)"

_MONEY_A, _MONEY_B = _MONEY.replace("?P<", "?P<a_"), _MONEY.replace("?P<", "?P<b_")

# (pattern, roles of its numbered groups) — applied in order; earlier matches win overlaps.
_PATTERNS: list[tuple[re.Pattern[str], tuple[Role, ...]]] = [
    # 满300减50 / 每满300元减50元 / spend $100 get $10 off
    (
        re.compile(rf"(?:每)?满\s*{_MONEY_A}\s*(?P<mark>立?减|省)\s*{_MONEY_B}"),
        ("threshold", "coupon"),
    ),
    (
        re.compile(
            rf"(?i)(?:spend|orders? over|over)\s*{_MONEY_A},?\s*(?P<mark>get|save|take)\s*{_MONEY_B}\s*off"
        ),
        ("threshold", "coupon"),
    ),
    # 第2件半价 / 第二件8折: the offer on the N-th item
    (
        re.compile(
            rf"第\s*(?P<a_num>{NUM})\s*(?:件|个|份|瓶|盒|支|双)\s*"
            r"(?P<mark>半价|(?P<fold>\d+(?:\.\d)?|[零一二两三四五六七八九]{1,2})\s*折)"
        ),
        ("nth", "nth_rate"),
    ),
    # 买二送一 / 买2件送1件 / 买2赠1 / buy 2 get 1 (free)
    (
        re.compile(rf"买\s*(?P<a_num>{NUM})\s*(?:件|个|份|瓶|盒)?\s*(?P<mark>送|赠)\s*(?P<b_num>{NUM})"),
        ("buy", "get"),
    ),
    (re.compile(r"(?i)\bbuy\s*(?P<a_num>\d+)\s*,?\s*(?P<mark>get)\s*(?P<b_num>\d+)"), ("buy", "get")),
    # dates: 2025年12月31日, 2025-12-31, 12月31日, Dec 31
    (
        re.compile(r"(?P<y>\d{4})\s*[年\-/.]\s*(?P<m>\d{1,2})\s*[月\-/.]\s*(?P<d>\d{1,2})\s*[日号]?"),
        ("date",),
    ),
    (re.compile(r"(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*[日号]"), ("date",)),
    (
        re.compile(
            r"(?i)\b(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(?P<y>\d{4}))?"
        ),
        ("date",),
    ),
    (
        re.compile(
            r"(?i)(?:until|ends?|by|through|thru|before|till)\s+(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>\d{4}))?\b"
        ),
        ("date",),
    ),
    # stock / limits: 仅剩5件, 限量100件, 前100名, only 5 left
    (
        re.compile(
            rf"(?:仅剩|只剩|还剩|剩余|限量|限购|仅限|前)\s*(?P<num>{NUM})\s*(?:件|个|份|台|套|瓶|盒|只|双|支|名|位|单)"
        ),
        ("stock",),
    ),
    (
        re.compile(
            r"(?i)\b(?:only|just)\s+(?P<num>\d+)\s+(?:left|remaining)|\bfirst\s+(?P<num2>\d+)\s+(?:customers|buyers|orders)"
        ),
        ("stock",),
    ),
    # discounts: 8折 / 8.5折 / 85折 / 五折, 半价, 20% off, save 20%
    (
        re.compile(r"(?P<num>(?<!\d)\d+(?:\.\d)?|[零一二两三四五六七八九]{1,2})\s*折(?!叠|伞|页|痕|线|纸)"),
        ("rate",),
    ),
    (re.compile(r"半价"), ("rate",)),
    (
        re.compile(
            r"(?i)(?:save|take|extra|up to)?\s*(?P<num>(?<!\d)\d+(?:\.\d+)?)\s*[%％]\s*off"
            r"|(?:save|省|减)\s*(?P<num2>\d+(?:\.\d+)?)\s*[%％]"
        ),
        ("rate",),
    ),
    # other percentages (100%纯棉, 好评率99%) must come from the brief
    (re.compile(r"(?P<num>(?<!\d)\d+(?:\.\d+)?)\s*[%％]"), ("percent",)),
    # money with a role word: 原价399, 现价¥319, 立减80元, save $10, was $49
    *[
        (re.compile(rf"(?i)(?<![A-Za-z])(?:{words}){_FILLER}{_MONEY}"), (role,))
        for role, words in _ROLE_WORDS
    ],
    # a sale price named after the number: 299到手, 9.9包邮, 99秒杀, 199元起 (满99包邮 is a threshold)
    (
        re.compile(rf"(?<![满\d.,{CN_NUMERAL_CHARS}])(?P<num>{NUM})(?:\s*{_UNIT})?\s*(?:{_SALE_AFTER})"),
        ("sale",),
    ),
    (re.compile(rf"(?i){_MONEY}\s*off"), ("off",)),
    (re.compile(rf"(?i)(?P<num>{NUM})\s*元?\s*(?:优惠券|券)"), ("off",)),
    # plain money: ¥399, 399元, RMB 399, $39.90
    (re.compile(rf"(?P<cur>{_CUR_PREFIX})\s*(?P<num>{NUM})(?:\s*{_UNIT})?"), ("money",)),
    (re.compile(rf"(?P<num>{NUM})\s*{_UNIT}"), ("money",)),
]
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}


@dataclass(frozen=True)
class Claim:
    role: Role
    value: float | tuple[int | None, int | None, int]  # a date is (year, month, day); year/month may be None
    start: int
    end: int
    text: str
    currency: str | None = None


def _currency(cur: str | None, unit: str | None) -> str | None:
    for token in (cur, unit):
        if token:
            key = token.strip().lower()
            return _SYMBOL_CURRENCY.get(key, _SYMBOL_CURRENCY.get(key[:1]))
    return None


# A number followed by one of these measures something else: 仅需3步, only 2 days, 省30分钟.
_OTHER_UNIT = re.compile(
    r"\s*(?:步|天|日|周|月|年|小时|分钟|秒|次|件|个|人|岁|款|色|码|cm|mm|ml|g|kg|days?|hours?|min|items?|steps?)",
    re.I,
)


def _is_money(m: re.Match[str], num: str, cur: str | None, unit: str | None, jiao: str | None = None) -> bool:
    """Whether a number after a role word is an amount of money."""
    if cur or unit:
        # "一块" is "together" / "a piece" far more often than ¥1.
        return not (num == "一" and unit == "块" and not jiao)
    if not num[0].isdigit() and not is_cn_figure(num):  # "仅一天", "省一半" are not prices
        return False
    if re.match(r"[A-Za-z]", m.group().lstrip()):  # English needs a currency: "for 2", "only 3"
        return False
    return not _OTHER_UNIT.match(m.string, m.end())


def extract_claims(text: str) -> list[Claim]:
    """Every number with a price, discount, offer or date reading in `text`, non-overlapping, in order
    of position. Festival names (双11, 618大促) are never claims."""
    taken = [False] * len(text)
    for m in FESTIVAL.finditer(text):
        taken[m.start() : m.end()] = [True] * (m.end() - m.start())
    claims: list[Claim] = []
    for pattern, roles in _PATTERNS:
        for m in pattern.finditer(text):
            if m.end() == m.start() or any(taken[m.start() : m.end()]):
                continue
            found = _claims_from_match(m, roles)
            if found is None:
                continue
            claims.extend(found)
            for i in range(m.start(), m.end()):
                taken[i] = True
    return sorted(claims, key=lambda c: c.start)


def _claims_from_match(m: re.Match[str], roles: tuple[Role, ...]) -> list[Claim] | None:
    groups = m.groupdict()
    whole = m.group()
    lead = len(whole) - len(whole.lstrip())
    start, end = m.start() + lead, m.end()
    if roles == ("date",):
        month = _MONTHS[groups["mon"].lower()[:3]] if groups.get("mon") else int(groups["m"])
        day, year = int(groups["d"]), int(groups["y"]) if groups.get("y") else None
        if not (1 <= month <= 12 and 1 <= day <= 31):
            return None
        return [Claim("date", (year, month, day), start, end, m.group()[lead:])]
    if roles == ("nth", "nth_rate"):
        nth = parse_number(groups["a_num"])
        if nth is None:
            return None
        mark = m.group("mark")
        if mark == "半价":
            off = 0.5
        else:
            fold = parse_fold(groups["fold"])
            if fold is None:
                return None
            fold = fold / 100 if fold >= 10 else fold / 10
            if not 0 < fold < 1:
                return None
            off = round(1 - fold, 6)
        mark_start = m.start("mark")
        nth_text = m.string[start:mark_start].rstrip()
        return [
            Claim("nth", nth, start, start + len(nth_text), nth_text),
            Claim("nth_rate", off, mark_start, end, m.string[mark_start:end]),
        ]
    if len(roles) == 2:  # threshold/off or buy/get: one claim per side, each with its own span
        out = []
        for prefix, role in zip(("a_", "b_"), roles, strict=True):
            num = groups[f"{prefix}num"]
            value = parse_number(num)
            if value is None:
                return None
            s, e = m.span(f"{prefix}num")
            cur, unit = groups.get(f"{prefix}cur"), groups.get(f"{prefix}unit")
            if cur:
                s = m.start(f"{prefix}cur")
            if unit:
                e = m.end(f"{prefix}unit")
            if jiao := groups.get(f"{prefix}jiao"):
                value += (parse_number(jiao) or 0) / 10
                e = m.end(f"{prefix}jiao")
            # include the 满/买 and 减/送 markers so each span reads as a phrase: 满300 | 减50
            s = start if prefix == "a_" else m.start("mark")
            out.append(Claim(role, value, s, e, m.string[s:e], _currency(cur, unit)))
        return out
    (role,) = roles
    if whole.strip() == "半价":
        return [Claim("rate", 0.5, start, end, whole)]
    num = groups.get("num") or groups.get("num2")
    if num is None:
        return None
    value = parse_fold(num) if role == "rate" else parse_number(num)
    if value is None:
        return None
    cur, unit, jiao = groups.get("cur"), groups.get("unit"), groups.get("jiao")
    if role in ("list", "sale", "price", "off", "money") and not _is_money(m, num, cur, unit, jiao):
        return None
    if jiao:
        value += (parse_number(jiao) or 0) / 10
    if role == "rate":
        if "折" in whole:
            # 8折 = 20 % off; 85折 / 8.5折 = 15 % off; 五折 = 50 % off
            fold = value / 100 if value >= 10 else value / 10
            if not 0 < fold < 1:
                return None
            value = round(1 - fold, 6)
        else:
            value = value / 100
    return [Claim(role, value, start, end, whole[lead:], _currency(cur, unit))]


def _allowed_money(brief: Brief) -> dict[Role, set[float]]:
    p, o = brief.product, brief.offer
    sale = p.sale_price
    list_prices = {p.price} if p.price else set()
    sale_prices = {v for v in (sale, p.promo_price) if v}
    off = set()
    if p.price and sale and sale < p.price:
        off.add(round(p.price - sale, 2))
    if o.coupon_amount:
        off.add(o.coupon_amount)
        sale_prices |= {round(v - o.coupon_amount, 2) for v in list(sale_prices) if v > o.coupon_amount}
        if p.price and sale:
            off.add(round(p.price - sale + o.coupon_amount, 2))  # total saving incl. the coupon
    if o.nth_discount and sale:
        sale_prices.add(round(sale * (1 - o.nth_discount), 2))  # 第2件只要159.5
    thresholds = {o.coupon_threshold} if o.coupon_threshold else set()
    allowed: dict[Role, set[float]] = {
        "list": list_prices,
        "sale": sale_prices,
        "price": list_prices | sale_prices,
        "off": off,
        "threshold": thresholds,
        "coupon": {o.coupon_amount} if o.coupon_amount else set(),
    }
    allowed["money"] = set().union(*allowed.values())
    return allowed


def _close(value: float, allowed: set[float], tol: float) -> bool:
    return any(abs(value - a) <= tol for a in allowed)


def _brief_text(brief: Brief) -> str:
    """The brief's own words, where it may state figures: iPhone 15, 500ml, 两件套, 好评率99%."""
    p, o = brief.product, brief.offer
    words = [p.name, p.category or "", *p.attributes.keys(), *p.attributes.values(), *p.selling_points]
    return " ".join([*words, brief.season or "", brief.brand.shop_name or "", o.coupon_code or ""])


_FIGURE = re.compile(rf"\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|[{CN_NUMERAL_CHARS}]+")
# 500毫升 in the brief backs 500ml in the copy
_UNIT_ALIASES = {"毫升": "ml", "升": "l", "毫克": "mg", "千克": "kg", "公斤": "kg", "克": "g", "厘米": "cm"}
_UNIT_ALIASES |= {"毫米": "mm", "米": "m", "英寸": "inch", "inches": "inch", "瓦": "w", "°c": "℃", "个": "件"}


def brief_figures(brief: Brief) -> set[float]:
    """Every figure the brief gives: prices, savings and coupon figures, discount figures (20 and 8 for
    8折), offer quantities, the offer's dates and the numbers in the brief's own words."""
    p, o = brief.product, brief.offer
    figures = set(_allowed_money(brief)["money"])
    for off in (p.off_fraction, o.nth_discount):
        if off:
            figures |= {float(round(off * 100)), round((1 - off) * 10, 1), float(round((1 - off) * 100))}
    figures |= {float(v) for v in (p.stock, o.limit, o.buy_n, o.get_m) if v is not None}
    for d in (o.deadline_date, o.starts):
        if d is not None:
            figures |= {float(d.year), float(d.month), float(d.day)}
    for m in _FIGURE.finditer(_brief_text(brief)):
        if (m.group()[0].isdigit() or is_cn_figure(m.group())) and (v := parse_number(m.group())) is not None:
            figures.add(v)
    return figures


def _with_unit(value: float, unit: str | None) -> tuple[float, str]:
    key = (unit or "").lower()
    return value, _UNIT_ALIASES.get(key, key)


def _stated(brief: Brief) -> set[tuple[float, str]]:
    """Quantities and specs the brief writes with their unit (500ml, 两件套)."""
    text = _brief_text(brief)
    return {
        _with_unit(float(b.value), b.unit)  # type: ignore[arg-type]
        for b in read_bare_numbers(text, [False] * len(text))
        if b.kind in ("items", "measure")
    }


def _item_counts(brief: Brief) -> set[float]:
    """The item counts the offer names; empty when the brief says nothing about counts."""
    p, o = brief.product, brief.offer
    counts = {float(v) for v in (p.stock, o.limit, o.buy_n, o.get_m) if v is not None}
    if o.buy_n and o.get_m:
        counts.add(float(o.buy_n + o.get_m))  # 买二送一: 3件到手
    return counts


_DAYS_PER = {"小时": 1 / 24, "个小时": 1 / 24, "分钟": 1 / 1440, "秒": 1 / 86400, "周": 7, "星期": 7}
_DAYS_PER |= {"个月": 30, "年": 365, "hour": 1 / 24, "hr": 1 / 24, "minute": 1 / 1440, "min": 1 / 1440}
_DAYS_PER |= {"second": 1 / 86400, "sec": 1 / 86400, "week": 7, "month": 30, "year": 365}


def _days(value: float, unit: str) -> float:
    key = unit.lower()
    key = key[:-1] if key.endswith("s") and key[:-1] in _DAYS_PER else key
    return value * _DAYS_PER.get(key, 1.0)  # 天, 日, day


_ROLE_NAMES = {
    "list": "list price",
    "sale": "sale price",
    "price": "price",
    "off": "saving",
    "threshold": "spend threshold",
    "coupon": "coupon amount",
    "money": "amount",
}


class _Flagger:
    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def __call__(self, item: Claim | BareNumber, message: str, suggestion: str | None) -> None:
        self.violations.append(
            Violation(
                rule="facts",
                span=(item.start, item.end),
                text=item.text,
                message=message,
                suggestion=suggestion,
            )
        )


def check_facts(text: str, brief: Brief) -> list[Violation]:
    """One violation per number that the brief does not back, labelled or not."""
    original, text = text, halfwidth(text)  # １９９元 is 199元; spans are the same in both
    flag = _Flagger()
    claims = extract_claims(text)
    for claim in claims:
        _check_claim(claim, brief, flag)
    # What the labelled patterns did not read, and is not personal data (the pii rule's), is a bare number.
    taken = [False] * len(text)
    for start, end in [(c.start, c.end) for c in claims] + [(m.start, m.end) for m in find_pii(text)]:
        taken[start:end] = [True] * (end - start)
    bare = read_bare_numbers(text, taken)
    if bare:
        _check_bare(bare, brief, flag)
    for v in flag.violations:
        v.text = original[v.span[0] : v.span[1]]
    return sorted(flag.violations, key=lambda v: v.span)


def _check_claim(claim: Claim, brief: Brief, flag: _Flagger) -> None:
    p, o = brief.product, brief.offer
    money = _allowed_money(brief)
    role = claim.role
    if role in money:
        assert isinstance(claim.value, float)
        if claim.currency and claim.currency != p.currency:
            flag(
                claim,
                f"currency {claim.currency} but the brief is in {p.currency}",
                f"write the amount in {p.currency}",
            )
            return
        allowed = money[role]
        if not _close(claim.value, allowed, MONEY_TOL):
            name = _ROLE_NAMES[role]
            if allowed:
                shown = " / ".join(fmt_amount(a) for a in sorted(allowed))
                flag(
                    claim,
                    f"{name} {fmt_amount(claim.value)} does not match the brief ({shown})",
                    f"use {shown}",
                )
            else:
                flag(
                    claim,
                    f"the brief gives no {name}; {fmt_amount(claim.value)} is invented",
                    "remove this amount",
                )
    elif role == "rate":
        assert isinstance(claim.value, float)
        actual = p.off_fraction
        if actual is None:
            flag(
                claim,
                f"the brief has no discount; {claim.value:.0%} off is invented",
                "remove the discount claim",
            )
        elif abs(claim.value - actual) > RATE_TOL:
            fold = fmt_amount(round((1 - actual) * 10, 1))
            flag(
                claim,
                f"says {claim.value:.0%} off but the brief gives {actual:.0%} off ({fold}折)",
                f"use {fold}折" if brief.language == "zh" else f"use {actual:.0%} off",
            )
    elif role == "percent":
        assert isinstance(claim.value, float)
        pct = fmt_amount(claim.value * 100 if claim.value < 1 else claim.value)
        if not re.search(rf"(?<![\d.]){re.escape(pct)}\s*[%％]", _brief_text(brief)):
            flag(
                claim,
                f"{pct}% is not a figure from the brief",
                "remove the percentage or add it to the brief",
            )
    elif role in ("buy", "get"):
        expected = o.buy_n if role == "buy" else o.get_m
        if expected is None or o.get_m is None:
            flag(claim, "the brief has no buy-N-get-M offer", "remove the offer")
        elif claim.value != expected:
            flag(
                claim,
                f"{role} {fmt_amount(float(claim.value))}, but the brief offers "  # type: ignore[arg-type]
                f"buy {o.buy_n} get {o.get_m}",
                f"买{o.buy_n}送{o.get_m}" if brief.language == "zh" else f"buy {o.buy_n} get {o.get_m}",
            )
    elif role in ("nth", "nth_rate"):
        _check_nth(claim, brief, flag)
    elif role == "stock":
        allowed = {float(v) for v in (p.stock, o.limit) if v is not None}
        if claim.value not in allowed:
            hint = "/".join(fmt_amount(a) for a in sorted(allowed)) if allowed else None
            flag(
                claim,
                f"quantity {fmt_amount(float(claim.value))} is not in the brief "  # type: ignore[arg-type]
                f"(stock/limit: {hint or 'none'})",
                f"use {hint}" if hint else "remove the quantity claim",
            )
    elif role == "date":
        _check_date(claim, brief, flag)


def _check_nth(claim: Claim, brief: Brief, flag: _Flagger) -> None:
    """第2件半价 needs offer.buy_n=2 and offer.nth_discount=0.5."""
    o = brief.offer
    assert isinstance(claim.value, float)
    if o.nth_discount is None or o.buy_n is None:
        if claim.role == "nth":
            flag(claim, "the brief has no offer on the N-th item", "remove the offer")
        return
    fold = fmt_amount(round((1 - o.nth_discount) * 10, 1))
    offer = f"第{o.buy_n}件" + ("半价" if o.nth_discount == 0.5 else f"{fold}折")
    if claim.role == "nth" and claim.value != o.buy_n:
        flag(claim, f"the brief's offer is on item {o.buy_n} ({offer})", offer)
    elif claim.role == "nth_rate" and abs(claim.value - o.nth_discount) > RATE_TOL:
        said = f"says {claim.value:.0%} off but the brief gives {o.nth_discount:.0%} off ({offer})"
        flag(claim, said, offer)


def _check_bare(bare: list[BareNumber], brief: Brief, flag: _Flagger) -> None:
    o = brief.offer
    figures = brief_figures(brief)
    stated = _stated(brief)
    counts = _item_counts(brief)
    offer_days = (o.deadline_date - o.starts).days + 1 if o.deadline_date and o.starts else None
    prices = sorted(_allowed_money(brief)["price"])
    for b in bare:
        if b.kind == "date":
            _check_date(b, brief, flag)
            continue
        assert isinstance(b.value, float)
        if b.kind == "duration":
            # A countdown is true on some day of the offer when it is no longer than the offer.
            if b.about_offer and offer_days is not None and _days(b.value, b.unit or "") > offer_days:
                flag(
                    b,
                    f"{b.text} is longer than the offer ({offer_days} days, {o.starts} to {o.deadline_date})",
                    f"at most {offer_days}天" if brief.language == "zh" else f"at most {offer_days} days",
                )
        elif b.kind == "items":
            if counts and b.value not in counts | {1.0} and _with_unit(b.value, b.unit) not in stated:
                shown = "/".join(fmt_amount(c) for c in sorted(counts))
                flag(b, f"quantity {b.text} is not in the brief (offer counts: {shown})", f"use {shown}")
        elif b.kind == "measure":
            if _with_unit(b.value, b.unit) not in stated:
                flag(
                    b,
                    f"unverified spec {b.text}: not in the product's name or attributes",
                    "remove it or add it to the product attributes",
                )
        elif not _close(b.value, figures, MONEY_TOL):
            shown = " / ".join(fmt_amount(a) for a in prices)
            flag(
                b,
                f"unverified number {fmt_amount(b.value)}: not in the brief",
                f"use the brief's price ({shown}) or remove the number" if prices else "remove the number",
            )


def _check_date(item: Claim | BareNumber, brief: Brief, flag: _Flagger) -> None:
    year, month, day = item.value  # type: ignore[misc]
    known = [d for d in (brief.offer.deadline_date, brief.offer.starts) if d is not None]
    for d in known:
        if month in (None, d.month) and d.day == day and year in (None, d.year):
            return
    if not known:
        flag(item, "the brief gives no date; this one is invented", "remove the date")
        return
    deadline = brief.offer.deadline_date or known[0]
    flag(
        item,
        f"date {_fmt_date(year, month, day)} does not match the brief ({deadline.isoformat()})",
        f"{deadline.month}月{deadline.day}日" if brief.language == "zh" else deadline.strftime("%b %-d"),
    )


def _fmt_date(year: int | None, month: int | None, day: int) -> str:
    if month is None:
        return f"day {day}"
    return f"{month:02d}-{day:02d}" if year is None else f"{year}-{month:02d}-{day:02d}"
