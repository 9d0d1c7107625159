"""Whether an answer's word on an order's status fits the order record it was shown.

The figure check cannot see "您的订单已发货" said of a cancelled order: no number is wrong. Status
words are read per sentence; a negated one ("没有取消", "not cancelled") or one in a conditional
sentence ("如果订单已取消，…", "once it is delivered") is no claim about this order.
"""

from __future__ import annotations

import re

from marketpilot.assistant.knowledge import Passage

# What each kind of status word claims. The orders table knows completed / cancelled / returned only;
# "shipped" is not tracked, but it is false of an order that was cancelled.
_CLAIMS = {
    "completed": re.compile(r"已完成|已签收|已收货|已送达|交易成功|\bcompleted\b|\bdelivered\b", re.I),
    "cancelled": re.compile(r"已(?:被)?取消|取消成功|交易(?:已)?关闭|已关闭|\bcancell?ed\b", re.I),
    "returned": re.compile(r"已退货|已退款|退(?:货|款)成功|\breturned\b|\brefunded\b", re.I),
    "shipped": re.compile(
        r"已发货|运输中|配送中|派送中|\bshipped\b|\bin transit\b|\bon (?:its|the) way\b|\bdispatched\b", re.I
    ),
}
# the claims true of an order in each status
_FITS = {
    "completed": {"completed", "shipped"},
    "cancelled": {"cancelled"},
    "returned": {"returned", "shipped"},
}
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])|(?<=\.)\s+")
_CONDITIONAL = re.compile(r"如果|若|的话|一旦|之后|以后|\b(?:if|once|when|after|unless|until)\b", re.I)
_NEGATED_ZH = re.compile(r"[未没不非][是有]?$")
_NEGATED_EN = re.compile(r"(?:\bnot|\bnever|\bno longer|n't)\s+(?:\w+\s+){0,2}$", re.I)


def claimed_statuses(answer: str) -> set[str]:
    """The order statuses the answer asserts, outside negations and conditional sentences."""
    claims: set[str] = set()
    for sentence in _SENTENCE_END.split(answer):
        if _CONDITIONAL.search(sentence):
            continue
        for status, words in _CLAIMS.items():
            for match in words.finditer(sentence):
                before = sentence[: match.start()]
                if not (_NEGATED_ZH.search(before[-3:]) or _NEGATED_EN.search(before[-40:])):
                    claims.add(status)
    return claims


def unsupported_statuses(answer: str, cited: list[Passage], shown: list[Passage]) -> list[str]:
    """The status claims no order fits: the cited orders, or every order shown when the answer cites
    none of them. Empty when no order was shown, or one has a status this check does not know."""
    orders = [p for p in cited if p.kind == "order"] or [p for p in shown if p.kind == "order"]
    if not orders or any(p.status not in _FITS for p in orders):
        return []
    fitting = set().union(*(_FITS[str(p.status)] for p in orders))
    return sorted(claimed_statuses(answer) - fitting)
