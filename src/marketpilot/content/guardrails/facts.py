"""Every price, discount, percentage, date and quantity in the copy must match the brief.

The extractor reads numbers the way Chinese and English copy writes them: ¥399 / 399元 / 399块 /
RMB 399 / 三百九十九元, 原价399现价319 (each price gets its role), 立减80元, 满300减50, 8折 / 85折 /
5折 / 半价, 20% off, save $10, 买二送一 / buy 2 get 1, 仅剩5件, 12月31日 / Dec 31. Bare numbers
without a price, unit or role word (双11, 618, 2025新款) are not claims and are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from marketpilot.content.briefs import Brief
from marketpilot.content.guardrails.base import Violation
from marketpilot.content.numbers import NUM, fmt_amount, parse_number

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
_MONEY = rf"(?:(?P<cur>{_CUR_PREFIX})\s*)?(?P<num>{NUM})(?:\s*(?P<unit>{_CUR_SUFFIX}))?"

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
    (re.compile(r"(?P<num>\d+(?:\.\d)?|[零一二两三四五六七八九]{1,2})\s*折(?!叠|伞|页|痕|线|纸)"), ("rate",)),
    (re.compile(r"半价"), ("rate",)),
    (
        re.compile(
            r"(?i)(?:save|take|extra|up to)?\s*(?P<num>\d+(?:\.\d+)?)\s*%\s*off"
            r"|(?:save|省|减)\s*(?P<num2>\d+(?:\.\d+)?)\s*%"
        ),
        ("rate",),
    ),
    # other percentages (100%纯棉, 好评率99%) must come from the brief
    (re.compile(r"(?P<num>\d+(?:\.\d+)?)\s*[%％]"), ("percent",)),
    # money with a role word: 原价399, 现价¥319, 立减80元, save $10, was $49
    *[
        (re.compile(rf"(?i)(?<![A-Za-z])(?:{words}){_FILLER}{_MONEY}"), (role,))
        for role, words in _ROLE_WORDS
    ],
    (re.compile(rf"(?i){_MONEY}\s*off"), ("off",)),
    (re.compile(rf"(?i)(?P<num>{NUM})\s*元?\s*(?:优惠券|券)"), ("off",)),
    # plain money: ¥399, 399元, RMB 399, $39.90
    (re.compile(rf"(?P<cur>{_CUR_PREFIX})\s*(?P<num>{NUM})(?:\s*(?P<unit>{_CUR_SUFFIX}))?"), ("money",)),
    (re.compile(rf"(?P<num>{NUM})\s*(?P<unit>{_CUR_SUFFIX})"), ("money",)),
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
    value: float | tuple[int | None, int, int]  # a date is (year or None, month, day)
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


def _is_money(m: re.Match[str], num: str, cur: str | None, unit: str | None) -> bool:
    """Whether a number after a role word is an amount of money."""
    if cur or unit:
        # "一块" is "together" / "a piece" far more often than ¥1.
        return not (num == "一" and unit == "块")
    if not num[0].isdigit():  # 三百九十九 needs its 元: "仅一天", "省一半" are not prices
        return False
    if re.match(r"[A-Za-z]", m.group().lstrip()):  # English needs a currency: "for 2", "only 3"
        return False
    return not _OTHER_UNIT.match(m.string, m.end())


def extract_claims(text: str) -> list[Claim]:
    """Every checkable number in `text`, non-overlapping, in order of position."""
    taken = [False] * len(text)
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
    value = parse_number(num)
    if value is None:
        return None
    cur, unit = groups.get("cur"), groups.get("unit")
    if role in ("list", "sale", "price", "off", "money") and not _is_money(m, num, cur, unit):
        return None
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
    p = brief.product
    return " ".join([p.name, *p.attributes.keys(), *p.attributes.values(), *p.selling_points])


_ROLE_NAMES = {
    "list": "list price",
    "sale": "sale price",
    "price": "price",
    "off": "saving",
    "threshold": "spend threshold",
    "coupon": "coupon amount",
    "money": "amount",
}


def check_facts(text: str, brief: Brief) -> list[Violation]:
    """One violation per number that the brief does not back."""
    money = _allowed_money(brief)
    p, o = brief.product, brief.offer
    violations: list[Violation] = []

    def flag(claim: Claim, message: str, suggestion: str | None) -> None:
        span = (claim.start, claim.end)
        violations.append(
            Violation(rule="facts", span=span, text=claim.text, message=message, suggestion=suggestion)
        )

    for claim in extract_claims(text):
        role = claim.role
        if role in money:
            assert isinstance(claim.value, float)
            if claim.currency and claim.currency != p.currency:
                flag(
                    claim,
                    f"currency {claim.currency} but the brief is in {p.currency}",
                    f"write the amount in {p.currency}",
                )
                continue
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
            if expected is None:
                flag(claim, "the brief has no buy-N-get-M offer", "remove the offer")
            elif claim.value != expected:
                flag(
                    claim,
                    f"{role} {fmt_amount(float(claim.value))}, but the brief offers "
                    f"buy {o.buy_n} get {o.get_m}",
                    f"买{o.buy_n}送{o.get_m}" if brief.language == "zh" else f"buy {o.buy_n} get {o.get_m}",
                )
        elif role == "stock":
            allowed = {float(v) for v in (p.stock, o.limit) if v is not None}
            if claim.value not in allowed:
                hint = "/".join(fmt_amount(a) for a in sorted(allowed)) if allowed else None
                flag(
                    claim,
                    f"quantity {fmt_amount(float(claim.value))} is not in the brief "
                    f"(stock/limit: {hint or 'none'})",
                    f"use {hint}" if hint else "remove the quantity claim",
                )
        elif role == "date":
            _check_date(claim, brief, flag)
    return violations


def _check_date(claim: Claim, brief: Brief, flag) -> None:  # type: ignore[no-untyped-def]
    year, month, day = claim.value  # type: ignore[misc]
    known = [d for d in (brief.offer.deadline_date, brief.offer.starts) if d is not None]
    for d in known:
        if (d.month, d.day) == (month, day) and year in (None, d.year):
            return
    if not known:
        flag(claim, "the brief gives no date; this one is invented", "remove the date")
        return
    deadline = brief.offer.deadline_date or known[0]
    flag(
        claim,
        f"date {_fmt_date(year, month, day)} does not match the brief ({deadline.isoformat()})",
        f"{deadline.month}月{deadline.day}日" if brief.language == "zh" else deadline.strftime("%b %-d"),
    )


def _fmt_date(year: int | None, month: int, day: int) -> str:
    return (
        date(year or 2000, month, day).strftime("%m-%d") if year is None else f"{year}-{month:02d}-{day:02d}"
    )
