"""Whether the terms an answer gives a promise are the sources' terms.

The promise check (claims.py) asks whether the shop offers a service at all; customers act on its
terms too. A policy of "7天无理由退货" supports "30天无理由退货" as a promise, and the figure check lets
30 through when the question says it ("能30天无理由退货吗？") or another shown source has it; "全场包邮"
has no figure at all, and "满 8 元包邮" borrows the 8 of the shipping fee. So, for the promises that
have terms customers act on:
- no-reason returns and price protection: the period (7 天, 七天, 两周 = 14 days, 7-day, within 30
  days; 一年 = 1 年 = one year = 12 个月, not the 年 of a date (2024年起); 3 个工作日 and 48 小时 stay in
  their own units);
- returns of any kind (退货, 退换, return, exchange): the same, against every window a source gives a
  return ("签收后 30 天内可以申请退货" from a shop of 7-day no-reason and 15-day faulty-item returns);
  a period in a clause about the refund ("退货后 3 个工作日内退款") is the refund's;
- free shipping: the order value it starts at (满 99 元, orders of 99 or more) or the number of items
  (满 2 件), and "every order" (全场包邮, free shipping on all orders) as a threshold of 0; an amount
  taken off ("免运费再减8元", "¥8 off") is none, and an order collected in store ("自提订单一律免运费")
  is no free shipping (claims.py).
An answer's term is the one nearest its promise in the same clause, else one of another clause of the
sentence that states nothing but the term ("签收后 7 天内，…", "Within 7 days of delivery, …", "订单满
99 元，即可包邮", "Free shipping, no minimum"; not "48小时内发货，…"). A source's
terms are read generously (missing a wrong term is better than handing off a right one): the nearest
in the clause, else every term of the sentence, else every term of the passage. A term of the answer
that no source gives the same promise is unsupported; a promise without a term is claims.py's.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from marketpilot.assistant.claims import CLAUSE_END, PROMISE_WORDS, negated, promise_spans
from marketpilot.assistant.knowledge import Passage
from marketpilot.content.numbers import CN_NUMERAL_CHARS, halfwidth, parse_fold

_CN = CN_NUMERAL_CHARS
_EN_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30,
    "forty-five": 45, "sixty": 60, "ninety": 90,
}  # fmt: skip
_EN_NUMBER = "|".join(sorted(_EN_NUMBERS, key=len, reverse=True))
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"  # 1,000 is one number, not 1 and 000


def _num(group: str) -> str:
    """A whole number in digits or Chinese numerals, not the tail of a date (the 11 of 11月11日), as the
    named group."""
    return rf"(?P<{group}>(?<![\d.,月]){_DIGITS}(?!\.?\d)|(?<![{_CN}月])[{_CN}]+(?![{_CN}]))"


# 年 is a period (一年内, 1 年, 两年), not the 年 of a date (2024年起, 二〇二四年, 24年11月) nor of 年级,
# 年底, 年货
_PERIOD = re.compile(
    rf"(?!(?:\d{{4}}|[〇零一二三四五六七八九]{{4}})\s*年){_num('n')}"
    r"\s*(?P<unit>个?工作日|天|日|个?周|个?星期|个月|个?小时|年(?!\s*\d|[级底初中末份度货代]))"
    rf"|(?P<en>(?<![\w.])(?:\d+(?:\.\d+)?|{_EN_NUMBER}))[\s-]*"
    r"(?P<en_unit>(?:working|business)[\s-]days?|days?|weeks?|months?|years?|hours?)(?![A-Za-z])",
    re.I,
)
_UNITS = {
    "工作日": "working day", "天": "day", "日": "day", "周": "week", "星期": "week", "月": "month",
    "年": "year", "小时": "hour", "working": "working day", "business": "working day", "day": "day",
    "week": "week", "month": "month", "year": "year", "hour": "hour",
}  # fmt: skip
# an order value or item count free shipping starts at: 满 99 元, 99元以上, ¥99, 满2件, orders of 99 or
# more, over ¥99, 2 items (满一年 is a time, not a threshold)
_THRESHOLD = re.compile(
    rf"(?P<pre>满|超过|达到|[¥￥$])\s*[¥￥$]?\s*{_num('n')}(?!\s*(?:个?(?:年|月|天|日|小时|周|星期|工作日)|岁))"
    r"\s*(?P<unit>元|块|件|个)?"
    rf"|{_num('n2')}\s*(?P<unit2>元|块|件)"
    r"|(?P<en_pre>\b(?:over|above|from|of|exceeding|at least|more than|spend(?:ing)?|minimum(?: of)?)\s+"
    rf"|[¥￥$]\s*|\b(?:CNY|RMB)\s*)(?:[¥￥$]|CNY\s*|RMB\s*)?(?P<en>{_DIGITS})"
    r"(?P<en_unit>\s*(?:items?|pieces?)\b)?"
    rf"|(?P<en2>(?<![\w.,]){_DIGITS})\s*(?P<en2_unit>yuan\b|CNY\b|RMB\b|items?\b|pieces?\b|\+|or more\b)",
    re.I,
)
# An amount taken off is no threshold: the 8 of "免运费再减8元", "立减 10 元", "优惠8元", "8元优惠券", "save
# ¥8", "8 yuan off". Read before the number, so the 满 of "限时优惠满99元包邮" keeps its threshold.
_DISCOUNT_BEFORE = re.compile(r"(?:减|省|抵|返|优惠|\bsave)\s*[¥￥$]?\s*$", re.I)
_DISCOUNT_AFTER = re.compile(r"\s*(?:的?(?:优惠|券|红包|折扣)|(?:off|discount|coupon|voucher)\b)", re.I)
# every order ships free: a threshold of 0
_EVERY_ORDER = re.compile(
    r"全场|全店|全部|所有|任意|任何|无门槛|不限金额|不论金额|无论金额|不管金额|全国|一律"
    r"|\b(?:all|every|any)\b (?:\w+ ){0,2}?(?:orders?|items?|products?|purchases?)\b|\bsite-?wide\b"
    r"|\bstore-?wide\b|\bno minimum\b|\bno matter\b|\bregardless of\b|\beverything\b|\balways\b"
    r"|\bany amount\b|\bnationwide\b",
    re.I,
)
_KINDS = {
    "no_reason_returns": "period",
    "price_protection": "period",
    "free_shipping": "threshold",
    "returns": "period",
}
# Returns of any kind: "签收后 30 天内可以申请退货" promises a window though it names no service of
# claims.py (the embedded model wrote it, asked "能30天无理由退货吗？" of a 7-day shop).
_RETURN_WORDS = re.compile(r"退货|退换|换货|\breturn(?:s|ed|ing)?\b|\bexchange[sd]?\b", re.I)
# a period in a clause about the refund is how long the refund takes ("退货验收后 3 个工作日内退款")
_REFUND_WORDS = re.compile(r"退款|到账|\brefund", re.I)
# Clauses for terms: "and", "but" join two ("We ship within 48 hours and offer no-reason returns").
_CLAUSE_END = re.compile(
    rf"{CLAUSE_END.pattern}|\b(?:and|but|while|whereas|then)\b|并且|而且|同时|另外", re.I
)
_SENTENCE_END = re.compile(r"[。！？!?\n]|\.(?=\s|$)")
# What a clause that only states a term may hold besides it, so that the term belongs to the promise
# of the next or the previous clause: 签收后 7 天内，…; Within 7 days of delivery, …; 订单满 99 元，即可包邮;
# Free shipping, no minimum. "48小时内发货，…" (dispatch) is more than a window.
_TERM_ONLY = {
    "period": re.compile(
        r"[\s自从签收到货后起之日内以购买下单付款的商品物包裹]*"
        r"|\s*(?:if returned )?within\s+(?:(?:of|after|from|since|delivery|receipt|purchase|payment|receiving"
        r"|getting|buying|it|them|the|your|order|item|items|goods|parcel)\b\s*)*",
        re.I,
    ),
    "threshold": re.compile(
        r"[\s订单实付金额购物消费单笔商品以上及即可]*"
        r"|\s*(?:(?:for|on|with|orders?|purchases?|spend|spending|the|your|and|or|more|up|above|over)\b\s*)*",
        re.I,
    ),
}


class Term(NamedTuple):
    """What a promise is good for: (7, "day"), (99, "money"), (2, "item"); (0, "money") is every order."""

    value: float
    unit: str


def unsupported_terms(answer: str, shown: list[Passage], policies: list[Passage]) -> list[str]:
    """The answer's words (term and promise) for each term it gives a promise that no shown source nor
    any of the shop's policies gives the same promise."""
    given: dict[str, set[Term]] = {}
    for p in [*shown, *policies]:
        for key, terms in source_terms(f"{p.title}。{p.text}").items():
            given.setdefault(key, set()).update(terms)
    text = halfwidth(answer)
    missing = []
    for key, start, end in _termed_spans(text, answer=True):
        found = _answer_term(text, key, start, end)
        if found is None or found[0] in given.get(key, set()):
            continue
        first, last = sorted([(start, end), found[1:]])
        # the words from term to promise, or both with "…" for the clause between ("15 days … any reason")
        apart = _ends(text, _CLAUSE_END, first[1], last[0])
        missing.append(
            f"{answer[slice(*first)]} … {answer[slice(*last)]}" if apart else answer[first[0] : last[1]]
        )
    return list(dict.fromkeys(missing))


def answer_terms(answer: str) -> dict[str, list[Term]]:
    """{promise: the terms the answer gives it}, read as an answer's are (the nearest in the clause)."""
    text = halfwidth(answer)
    out: dict[str, list[Term]] = {}
    for key, start, end in _termed_spans(text, answer=True):
        if (found := _answer_term(text, key, start, end)) is not None:
            out.setdefault(key, []).append(found[0])
    return out


def source_terms(text: str) -> dict[str, set[Term]]:
    """{promise: the terms a source gives it}, read generously (see the module doc)."""
    text = halfwidth(text)
    out: dict[str, set[Term]] = {}
    for key, start, end in _termed_spans(text, answer=False):
        clause = _bounds(text, start, end, _CLAUSE_END)
        if nearest := _nearest(_terms(text, _KINDS[key], *clause), start, end):
            found = {nearest[0]}
        else:
            found = {t for t, _, _ in _terms(text, _KINDS[key], *_bounds(text, start, end, _SENTENCE_END))}
            found = found or {t for t, _, _ in _terms(text, _KINDS[key], 0, len(text))}
        out.setdefault(key, set()).update(found)
    if "no_reason_returns" in out:  # a no-reason window is a return window
        out.setdefault("returns", set()).update(out["no_reason_returns"])
    return out


def _termed_spans(text: str, *, answer: bool) -> list[tuple[str, int, int]]:
    """(promise or "returns", start, end) of each promise with terms and each mention of returns, outside
    negations. A return word in the clause or the words of a no-reason promise, made or refused (the 退货
    of 无理由退货, "returned for any reason"), is that promise's, so a wrong window is reported once; in an
    answer, one in a clause about the refund is no window."""
    spans = [span for span in promise_spans(text) if span[0] in _KINDS]
    no_reason = [m.span() for m in PROMISE_WORDS["no_reason_returns"].finditer(text)]
    for m in _RETURN_WORDS.finditer(text):
        clause = _bounds(text, m.start(), m.end(), _CLAUSE_END)
        # in the promise's clause, or in its words ("for any reason you are unhappy, return it")
        if negated(text, m.start(), m.end()) or any(
            clause[0] <= a < clause[1] or a <= m.start() < b for a, b in no_reason
        ):
            continue
        if not (answer and _REFUND_WORDS.search(text[slice(*clause)])):
            spans.append(("returns", *m.span()))
    return sorted(spans, key=lambda span: span[1])


def _answer_term(text: str, key: str, start: int, end: int) -> tuple[Term, int, int] | None:
    """(term, start, end) the answer gives the promise at start:end: the nearest in its clause, else the
    one of another clause of the sentence that states nothing but the term (`_TERM_ONLY`)."""
    kind = _KINDS[key]
    clause_start, clause_end = _bounds(text, start, end, _CLAUSE_END)
    if nearest := _nearest(_terms(text, kind, clause_start, clause_end), start, end):
        return nearest
    clauses = _clauses(text, *_bounds(text, start, end, _SENTENCE_END))
    others = [c for c in clauses if c != (clause_start, clause_end)]
    for other in sorted(others, key=lambda c: abs(c[0] - clause_start)):  # the nearest clause first
        for found in _terms(text, kind, *other):
            if _TERM_ONLY[kind].fullmatch(text[other[0] : found[1]] + text[found[2] : other[1]]):
                return found
    return None


def _terms(text: str, kind: str, start: int, end: int) -> list[tuple[Term, int, int]]:
    """(term, start, end) of each term of `kind` ("period" or "threshold") in text[start:end]."""
    found = []
    if kind == "period":
        for m in _PERIOD.finditer(text, start, end):
            if m.group("n") is not None:
                value, unit = _cn_value(m.group("n")), _UNITS[m.group("unit").lstrip("个")]
            else:
                number = m.group("en").lower()
                value = float(_EN_NUMBERS.get(number) or number)
                unit = _UNITS[re.split(r"[\s-]", m.group("en_unit").lower().rstrip("s"))[0]]
            # a week is 7 days and a year 12 months, so 两周 is 14 天 and 一年 is 12 个月 (not 7 天)
            if value is not None:
                term = {"week": Term(value * 7, "day"), "year": Term(value * 12, "month")}.get(unit)
                found.append((term or Term(value, unit), *m.span()))
        return found
    for m in _THRESHOLD.finditer(text, start, end):
        figure = next(g for g in ("n", "n2", "en", "en2") if m.group(g) is not None)
        if _DISCOUNT_BEFORE.search(text, start, m.start(figure)) or _DISCOUNT_AFTER.match(text, m.end()):
            continue
        if (number := m.group("n") or m.group("n2")) is not None:
            value = _cn_value(number)
            items = (m.group("unit") or m.group("unit2") or "") in ("件", "个")
        else:
            value = float((m.group("en") or m.group("en2")).replace(",", ""))
            items = bool(
                re.match(r"\s*(?:item|piece)", m.group("en_unit") or m.group("en2_unit") or "", re.I)
            )
        if value is not None:
            found.append((Term(value, "item" if items else "money"), *m.span()))
    found += [(Term(0.0, "money"), *m.span()) for m in _EVERY_ORDER.finditer(text, start, end)]
    return found


def _nearest(terms: list[tuple[Term, int, int]], start: int, end: int) -> tuple[Term, int, int] | None:
    """The term closest to the promise at start:end; a stated threshold before "every order" (满 99 元
    全国包邮 starts at 99)."""

    def distance(found: tuple[Term, int, int]) -> tuple[bool, int]:
        term, a, b = found
        return (term == Term(0.0, "money"), a - end if a >= end else max(start - b, 0))

    return min(terms, key=distance, default=None)


def _clauses(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each clause of text[start:end]."""
    spans, at = [], start
    for match in _ends(text, _CLAUSE_END, start, end):
        spans.append((at, match.start()))
        at = match.end()
    return [*spans, (at, end)]


def _bounds(text: str, start: int, end: int, ends: re.Pattern[str]) -> tuple[int, int]:
    """The clause or sentence (as `ends` splits them) that holds text[start:end]."""
    before = [m.end() for m in _ends(text, ends, 0, start)]
    after = ends.search(text, end)
    return (before[-1] if before else 0, after.start() if after else len(text))


def _ends(text: str, ends: re.Pattern[str], start: int, end: int) -> list[re.Match[str]]:
    """The clause or sentence ends within text[start:end], read in the whole text: `finditer`'s endpos
    would let "$" end a clause at "满99.包邮"'s dot."""
    return [m for m in ends.finditer(text, start) if m.end() <= end]


def _cn_value(run: str) -> float | None:
    """Digits, or Chinese numerals that count (七, 十五, 两; 千万 is a word, not a figure)."""
    if run[0].isdigit():
        return float(run.replace(",", ""))
    if not (re.search("[零〇一二两三四五六七八九]", run) or run[0] == "十"):
        return None
    return parse_fold(run)
