"""Whether the products an answer names and the services it promises are in its sources.

The figure and status checks cannot see "小米手环9 Pro" recommended from a catalogue that has only
小米手环8, nor "支持货到付款" when no policy says so: no number and no status is wrong. Both kinds of
claim are read outside negations only ("本店没有小米手环9", "cash on delivery is not available", and a
refused service verb anywhere in the clause: "本店不支持满99.9元包邮"), and the question is no source for
them: "小米手环9有货吗？" answered "有货" must still rest on a catalogue row.

Products: only model-number-like names are claims; a generic word ("手环", "earbuds") names nothing.
- letters and digits in one token: X200, SPF50, WH-1000XM5, P000001;
- a proper noun, a space and a number: iPhone 15, Pixel 8 (not "Orders 99", not "December 12");
- a device word (手机, 手环, 耳机…) or a word the catalogue itself numbers (小米 in "小米14 Pro"), then a
  number: 手环9, 小米15; any Chinese word does, when a model suffix follows (… 9 Pro).
A model suffix (Pro, Max, Ultra…) after the number is part of the name. A number with a unit (99元,
7 days, 20000mAh, 36-37) is a quantity, the figure check's business. A name is supported when a shown
source holds it, case, spaces and hyphens aside.

Promises: a short list of services customers act on (cash on delivery, free shipping, no-reason
returns, price protection, pickup, invoices), each in its zh and en wordings: the service's own words
("return it for any reason", 上门取件, COD or "pay by cod"), not an everyday phrase that shares one ("no
reason to worry", 以免邮寄, "cod fillets"); collecting in store is neither pickup nor free shipping
("自提免运费"). One the answer makes must be made, not negated, by a shown source or by one of the shop's
policies. Its terms (return days, free-shipping threshold, price-protection days) are terms.py's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from marketpilot.assistant.knowledge import Passage
from marketpilot.content.numbers import halfwidth

_CJK = "\u3400-\u9fff"
_SUFFIX = r"(?:\s?(?:Pro|Max|Plus|Ultra|Mini|Lite|SE|Air|Neo|Turbo)(?![A-Za-z]))"
# what may follow a number for it to be a quantity, a time or a range rather than a model number
_QUANTITY = re.compile(
    r"\s?(?:[元块角天日号月年周时点分秒个件张次笔单位岁段码片包盒粒抽米斤克升只对套台条瓶支双副份折倍人层种款色寸度万千百亿多余%‰×*]"
    r"|毫升|工作日|[-–—~～/:：]\s?\d|\s?(?:到|至)\s?\d|\s(?:to|or|and)\s\d"
    r"|(?:ml|l|g|kg|mg|mah|ah|wh|w|v|hz|gb|tb|mb|mm|cm|m|km|inch(?:es)?|ft|oz|lbs?|pcs?|pieces?|items?|h|hrs?"
    r"|hours?|mins?|minutes?|s|secs?|seconds?|days?|weeks?|months?|years?|am|pm|st|nd|rd|th|percent|yuan"
    r"|cny|rmb|usd|eur|gbp|working|business|times?|packs?|sets?|pairs?|k|p|d)(?![A-Za-z]))",
    re.I,
)
_SUFFIXES = re.compile(rf"{_SUFFIX}*")
_LATIN_MODEL = re.compile(rf"(?<![A-Za-z0-9])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*{_SUFFIX}*")
_NAMED_NUMBER = re.compile(r"(?<![A-Za-z0-9])([A-Za-z][A-Za-z+]*) (\d+(?:\.\d+)?)(?!\.?\d)")
_CJK_NUMBER = re.compile(rf"([{_CJK}]+)\s?(\d+(?:\.\d+)?)(?!\d)")
_CURRENCY = re.compile(r"(?:CNY|RMB|USD|EUR|GBP|HKD|JPY|US|NO)\d", re.I)
# device words: a number after one names a model (手环9, 耳机 3), whatever the catalogue sells
_DEVICE = re.compile(
    r"(?:手机|手环|手表|耳机|平板|电脑|笔记本|相机|音箱|电视|键盘|鼠标|显示器|路由器|游戏机|投影仪|扫地机|无人机)$"
)
# Capitalised words that a number follows without making a product name.
_NOT_NAMES = re.compile(
    r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|(?:mon|tues|wednes|thurs|fri|satur|sun)day|orders?|items?"
    r"|no|nr|number|step|size|policy|section|page|days?|room|option|level|line|table|figure|id|sku|vat"
    r"|cny|rmb|usd|eur|gbp|hkd|jpy|us|top|vol|part|chapter|phase|floor|unit|tel|ext|i",
    re.I,
)
_SENTENCE_START = re.compile(r"(?:^|[.!?。！？:：;；\n\"“‘(（*•-])\s*$")

# A promise is the service's own words, never an everyday phrase that shares one of them: "no reason
# to worry", "ringing for no reason", "contact-free delivery", guitar "pickups", "the price matches",
# 以免邮寄 and 打包邮寄 (免邮, 包邮), 建议保价 (the parcel's declared value), 确保价格, 售价保持, 特价保湿.
_EN = r"(?<![A-Za-z])"  # starts an English word; a Chinese character may come right before (\b sees none)
_RETURN = rf"(?<!non-){_EN}return(?:s|ed|ing|able)?\b"
_ANY_REASON = (
    r"for (?:any|no) reason|no reasons? (?:needed|required|necessary|given|asked)|no questions asked"
    r"|without (?:giving |stating |needing )?(?:a |any )?reasons?"
)
_CLAUSE_WORD = r"(?:[\s,:]+(?!(?:and|but)\b)[\w'-]+)"  # a word of the same clause (no . ; ! ?)
_PROMISES = {
    # COD (CoD) in capitals or dotted in any case; a lower-case "cod" only beside payment words ("pay by
    # cod", "cod is accepted"), so the fish ("cod fillets", "cod liver oil") promises nothing
    "cash_on_delivery": r"货到付款|cash[- ]on[- ]delivery|pay(?:ment)? (?:up)?on delivery|(?-i:\bCO[Dd]\b)"
    r"|\bc\.o\.d\b|\bcod(?= (?:is |are )?(?:payment|accepted|supported|option|orders?)\b)"
    r"|\b(?:pay(?:s|ing)?|payment|accepts?|supports?|offers?) (?:by |via |with |using |through )?cod\b",
    # 免 of 以免/避免/难免; 包 of a word (打包, 钱包) before a word of 邮 (邮寄, 邮费): 打包邮寄, 钱包邮费
    "free_shipping": r"(?<![以避难])(?:免运费|免邮(?![寄件箱局政编递戳筒票购差]))"
    r"|(?<![打钱面书背红分拆礼箱皮腰挎手提])包邮|包邮(?![寄件箱局政编递戳筒票购差费资])|运费全免|免费配送"
    rf"|(?<![-A-Za-z])free (?:shipping|delivery)|{_EN}ships? (?:for )?free\b(?!-)"
    rf"|{_EN}shipped (?:for )?free\b(?!-)|shipping is free|delivery is free|postage[- ]free",
    # the return word and the reason words together, in either order, within a few words of one clause
    # 无理由退货, and the shorthand 7天无理由 (the number of days says what is meant)
    "no_reason_returns": rf"无理由退|(?<=天)无理由|{_EN}no[- ]reasons?[- ]returns?\b"
    rf"|{_EN}no[- ]questions[- ]asked[- ]returns?\b|{_RETURN}{_CLAUSE_WORD}{{0,6}}?[\s,:]+(?:{_ANY_REASON})\b"
    rf"|{_EN}for any reason{_CLAUSE_WORD}{{0,8}}?[\s,:]+{_RETURN}",
    # 保价 of a parcel's insured value (快递保价, 保价费, 建议保价寄回) and inside other words (确保价格)
    "price_protection": r"(?<![确担环递运寄件丰邮裹议])保价(?![格值款位费金运寄发邮])"
    r"|价保(?![持留密存管养质修险障证暖湿鲜温值])|价格保护|price[- ](?:protection|guarantee)"
    r"|price[- ]match(?:ing)?\b(?! (?:the|what|that|its|their|your|my|our|his|her|with)\b)",
    # pickup as a service (free pickup, arrange a pickup), not a guitar pickup or a pickup truck, nor
    # collecting in store ("free pickup at our store")
    "pickup": r"上门(?:取件|取货|收件|揽收)"
    r"|\b(?:free|door|doorstep|home|courier|return|parcel|package|scheduled) pick-?ups?\b"
    r"(?! (?:in|at|from) (?:the |our |a |any |your )?(?:store|shop|branch))"
    r"|\b(?:arrange|schedule|book|request)(?:s|d|ed|ing)? (?:a |the |your )?(?:free )?pick-?ups?\b"
    r"|\bpick-?ups? (?:service|(?:from|at) your (?:door|home|address|place))"
    r"|\bpick(?:s|ed|ing)? (?:\w+ ){0,2}up (?:from|at) your (?:door|home|address|place)"
    r"|\bcollect(?:s|ed)? (?:\w+ ){0,2}from your (?:door|home|address)",
    "invoice": r"发票|开票|\binvoices?\b|\bfapiao\b",
}
PROMISE_WORDS = {key: re.compile(words, re.I) for key, words in _PROMISES.items()}
# An order collected in store ships nothing: the 免运费 of "到店自提免运费" or "自提订单一律包邮" is no
# free shipping (nor its 一律 a threshold of 0); "到店自提或满99元包邮" and 自提点 (a parcel locker the
# shop ships to) still are.
_STORE_PICKUP = re.compile(
    r"(?:自提|到店取货|门店取货)(?:订单|商品|的话|的|均|都|一律|全部|可以?|即可|则|\s)*$"
)

_SEPARATORS = re.compile(r"[\s\-_·•/]+")
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-_·•/]+(?=\d)")
# A dot ends a clause before a space, at the end, or between a word and a Chinese character (a full-width
# ． typed as a full stop); not inside a number (99.9, a stray 满99.包邮), nor is a thousands comma
# (满1,000元包邮). Read it in the whole text:
# `finditer`'s endpos would let "$" end a clause at any dot right before the words.
CLAUSE_END = re.compile(rf"[，。；！？;!?\n]|,(?!(?<=\d,)\d{{3}}(?!\d))|\.(?=\s|$)|(?<!\d)\.(?=[{_CJK}])")
# 不限, 不论, 不管 and "no minimum", "no matter" mean "whatever the amount", 不仅 and 不但 "not only": no
# refusal
_NEGATION_ZH = re.compile(r"不(?![限论管仅但])|没|未|无法|暂无|并非|并无")
_NEGATION_EN = re.compile(
    r"\b(?:not|no(?! (?:minimum|matter|threshold)\b)|never|cannot|without|nor|unavailable)\b|n't\b", re.I
)
# A refused service verb reaches its object anywhere in the clause, past the few characters above:
# "本店不支持满99.9元包邮", "暂时不提供满 99 元包邮服务", "free shipping on orders over 99 is not
# available". Only the verb or contrast nearest the words governs them: "不支持货到付款但支持满99元包邮"
# and "we don't offer COD but free shipping is available" still make free shipping, a 不 that refuses
# no service ("不影响二次销售的情况下支持…", "未拆封商品支持…") leaves the promise made, and so does a
# refusal a 的 turns into a description ("未参加活动的商品满99元包邮").
_SERVICE_VERB = (
    r"支持|提供|享受?|参与|参加|开通|适用|办理"
    r"|\b(?:offer|provide|support|include|accept|apply|applies|available|eligible)\w*"
)
_GOVERNING_VERB = re.compile(
    rf"(?P<refused>(?:不|没有?|未|无法)[再能会]?(?:可以?)?(?:{_SERVICE_VERB})"
    rf"|(?:\b(?:not|never|cannot|no longer)|n't)\s+(?:\w+\s+){{0,2}}?(?:{_SERVICE_VERB})|\bunavailable\b)"
    rf"|{_SERVICE_VERB}|但|不过|而是|的|\b(?:but|however|instead)\b",
    re.I,
)


def numbered_words(names: Iterable[str]) -> frozenset[str]:
    """The Chinese words a catalogue follows with a model number (手环 of 小米手环8, 小米 of 小米14 Pro):
    the last two characters before a number that is no quantity."""
    found = set()
    for name in names:
        text = halfwidth(name)
        for match in _CJK_NUMBER.finditer(text):
            if not _QUANTITY.match(text, match.end()):
                found.add(match.group(1)[-2:])
    return frozenset(found)


def named_products(answer: str, numbered: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(the words as the answer writes them, the name as compared) of each product or model the answer
    names outside a negation."""
    text = halfwidth(answer)
    numbered = tuple(numbered)
    names: list[tuple[int, int]] = []
    for match in _LATIN_MODEL.finditer(text):
        token = match.group()
        if any(c.isdigit() for c in token) and not _CURRENCY.match(token):
            names.append(match.span())
    for match in _NAMED_NUMBER.finditer(text):
        word = match.group(1)
        if _QUANTITY.match(text, match.end()) or not _proper(word, text, match.start()):
            continue
        names.append((match.start(), _with_suffix(text, match.end())))
    for match in _CJK_NUMBER.finditer(text):
        if _QUANTITY.match(text, match.end()):
            continue
        word, end = match.group(1), _with_suffix(text, match.end())
        device = _DEVICE.search(word)
        noun = device.group() if device else next((n for n in numbered if word.endswith(n)), None)
        if noun is None and end > match.end():
            noun = word[-2:]  # any word before "9 Pro" is a name
        if noun is not None:
            names.append((match.end(1) - len(noun), end))
    found = []
    for start, end in sorted(names):
        if not negated(text, start, end):
            found.append((answer[start:end], _flat(text[start:end])))
    return list(dict.fromkeys(found))


def unsupported_products(answer: str, shown: list[Passage], numbered: Iterable[str] = ()) -> list[str]:
    """The products or models the answer names that no shown source holds, as the answer writes them."""
    sources = [_flat(f"{p.id} {p.title} {p.text}") for p in shown]
    missing = []
    for words, name in named_products(answer, numbered):
        # a number ends where the digits do: 手环9 is not in 手环99
        held = re.compile(re.escape(name) + (r"(?!\d)" if name[-1].isdigit() else ""))
        if not any(held.search(source) for source in sources):
            missing.append(words)
    return missing


def promises(text: str) -> dict[str, str]:
    """{promise: the words that make it} of each service the text promises outside a negation."""
    text = halfwidth(text)
    made: dict[str, str] = {}
    for key, start, end in promise_spans(text):
        made.setdefault(key, text[start:end])
    return made


def promise_spans(text: str) -> list[tuple[str, int, int]]:
    """(promise, start, end) of every place the text (half-width already) makes one outside a negation,
    in the order of the text."""
    spans = [
        (key, match.start(), match.end())
        for key, words in PROMISE_WORDS.items()
        for match in words.finditer(text)
        if not negated(text, match.start(), match.end())
        and not (key == "free_shipping" and _STORE_PICKUP.search(text, 0, match.start()))
    ]
    return sorted(spans, key=lambda span: span[1])


def unsupported_promises(answer: str, shown: list[Passage], policies: list[Passage]) -> list[str]:
    """The promises the answer makes that no shown source and none of the shop's policies make."""
    made = {key for p in [*shown, *policies] for key in promises(f"{p.title}。{p.text}")}
    return [words for key, words in promises(answer).items() if key not in made]


def _proper(word: str, text: str, start: int) -> bool:
    """A name-like word: an inner capital (iPhone, SPF) or a capital that does not start a sentence."""
    if _NOT_NAMES.fullmatch(word):
        return False
    if any(c.isupper() for c in word[1:]):
        return True
    return word[0].isupper() and not _SENTENCE_START.search(text[:start])


def _with_suffix(text: str, end: int) -> int:
    suffix = _SUFFIXES.match(text, end)
    return suffix.end() if suffix else end


def negated(text: str, start: int, end: int) -> bool:
    """A negation in the same clause shortly before or after the words ("本店没有小米手环9",
    "暂不支持货到付款", "cash on delivery is not available"), or a refused verb that governs them from
    anywhere in the clause ("本店不支持满99.9元包邮")."""
    ends = [m.end() for m in CLAUSE_END.finditer(text) if m.end() <= start]
    before = text[ends[-1] if ends else 0 : start]
    after_end = CLAUSE_END.search(text, end)
    after = text[end : after_end.start() if after_end else len(text)]
    verbs_before = list(_GOVERNING_VERB.finditer(before))
    verb_after = _GOVERNING_VERB.search(after)
    return bool(
        _NEGATION_ZH.search(before[-8:])
        or _NEGATION_ZH.search(after[:8])
        or _NEGATION_EN.search(" ".join(before.split()[-5:]))
        or _NEGATION_EN.search(" ".join(after.split()[:4]))
        or (verbs_before and verbs_before[-1].group("refused"))
        or (verb_after and verb_after.group("refused"))
    )


def _flat(text: str) -> str:
    """Case, spaces and hyphens aside: "iPhone 15 Pro" is "iphone15pro", "WH-1000XM5" is "wh1000xm5";
    numbers stay apart ("SPF30 60ml" holds SPF30, not SPF3060)."""
    text = _BETWEEN_DIGITS.sub("|", halfwidth(text))
    return _SEPARATORS.sub("", text).casefold()
