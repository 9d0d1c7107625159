"""A goal's purchase and browse phrases, read without the model: the categories it says customers
bought (最近30天买过美妆的, bought Lipstick in the last 30 days) or did not buy (没买过, 没买, 未买, did
not buy), each with its own days; how it joins several (且 / 既…又 / 都买过 / both … and: each; 或 / 、 /
or: any one; a plain 和 / and reads either way, and the plan's `readings` say how it was read); and the
views and add-to-carts it names (最近7天浏览过但没购买的, abandoned carts; a negated one, 没浏览过, no rule
can stand for, and the plan says it was not read). A purchase the goal asks for (提醒他们购买美妆,
促进美妆购买, remind them to buy Shoes) is what the campaign promotes, no rule (`stated_promotions`).
`ground_categories` and `ground_browsing` match the words against the shop's category names and give
the `bought`, `not_bought`, `viewed` and `carted` rules, which `planner.plan_campaign` puts in the spec."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from marketpilot.campaigns.spec import BrowseRule, CategoryPurchase


def resolve_names(values: list[str], names: dict[str, list[str]]) -> list[str]:
    """The codes `values` mean: a code as is, a name (any case) as its code, a part of one name ("重要价值
    客户" of the segment "细分1：重要价值客户为主") as that name's code; anything else unchanged, for
    validation to refuse with the known names."""
    resolved = []
    for value in values:
        key = value.strip().casefold()
        exact = [c for c, n in names.items() if key in {c.casefold(), *(x.casefold() for x in n)}]
        part = [c for c, n in names.items() if len(key) >= 2 and any(key in x.casefold() for x in n)]
        resolved.append(exact[0] if exact else part[0] if len(part) == 1 else value)
    return list(dict.fromkeys(resolved))


# A place between a negation and the purchase verb: 从来没有在我们店买过, 没在平台上买过, 没在店里买 (read
# as bought before: the negation is the verb's).
_PLACE_ZH = r"(?:在[\u4e00-\u9fffA-Za-z]{0,8}?(?:店铺?里?|平台上?|商城|官网|小程序|这里|这儿)\s*)?"

# The category after a purchase verb: "买过美妆的客户", "购买过母婴用品的", "bought Beauty in the last 30
# days". Quantities ("买过3次", "买过两次以上的"), "anything", goods in general ("购买过商品的", "bought
# products") and a clause going on ("买了就走的", "下单过但未付款的") are no category.
_BOUGHT_CATEGORY = (
    re.compile(
        # a category holds no purchase verb or negation (90天没下单也没买过美妆的: the category is the
        # second verb's) and ends at 且 or a comma as well (买过服饰且买过美妆的: both), or where the next
        # purchase phrase begins (30天内买过美妆、60天内买过服饰的: each its own days; 买过服饰又买过美妆,
        # 没买过美妆也没买过服饰: the first category was lost)
        # a bare 买 only negated: 没买鞋的, 从来没有买美妆的, 未买, 没在店里买美妆的
        rf"(?:购买过?|买过|买了|下单过?|消费过?|(?:(?<=[没未])|(?<=没有)){_PLACE_ZH}买)(?![过了])\s*"
        # nor 的, which ends it (买过的客户 names none, now that the goal's end ends one too)
        r"(?P<cat>(?:(?!购买|买过|买了|下单|消费|浏览|加购|没|未|并且|而且|且|的)[\u4e00-\u9fffA-Za-z&、/]){1,24}?)\s*"
        # or at the end of a sentence or of the goal (发短信给买过美妆也买过服饰: 服饰 was lost)
        r"(?:类目|品类|类|产品|商品|的|(?=并且|而且|且|，|,|；|[;。！？!?]|\s*$)"
        r"|(?=[、和及与或]?\s*(?:最近|近|过去)?\s*\d+\s*[天日])|(?=[、和及与或]\s*(?:没|未|从|不曾|尚未|购|买|下单|消费))"
        # or a clause after 但 / 却 / 而 or a browse after 又 (买过美妆但没买过面霜, 买过服饰又浏览过美妆)
        r"|(?=(?:同时|[又也还]|但是?|可是|却|而(?!且))+\s*(?:都|均)?\s*"
        r"(?:没|未|从|不曾|尚未|购|买|下单|消费|最近|近|过去|\d|浏览|查看|看过|加购|加入购物车)))"
    ),
    re.compile(
        # the present (buy, purchase, order, buying) only negated: "did not buy shoes", "never buy
        # Lipstick"; unnegated it is what the campaign asks ("remind them to buy Shoes": `stated_promotions`)
        # both / either / neither: each category, any, none ("bought neither Lipstick nor Shoes")
        r"\b(?:bought|purchased|ordered|shopped|(?P<present>buy|purchase|order|buying|purchasing|ordering))\s+"
        r"(?:from\s+|in\s+)?(?:the\s+|our\s+)?(?:(?P<scope>both|either|neither)\s+)?"
        r"(?!(?:in|within|during|over|the|last|past|this|anything|something|again|more|from|recently|once|"
        r"twice|before|any|a|an|on|at|for|since|less|us|you|them|it|me|online|both|either|neither|to)\b)"
        # a list goes on through commas: "bought Lipstick, Shoes or Socks"
        r"(?P<cat>[A-Za-z][A-Za-z&'-]*"
        r"(?:(?:\s*,\s*|\s+)(?!(?:bought|purchased|ordered|buy|purchase)\b)[A-Za-z&'-]+){0,4}?)"
        r"\s*(?:products?|items?|category)?\s*"
        # the category ends where the next purchase clause begins: "bought Lipstick and also bought Shoes",
        # or at a purpose: "didn't buy Lipstick to buy Shoes" (Lipstick was lost)
        r"(?=\b(?:in|within|during|over|since|this|last|before|after|but|with|by|at|on|for|from|to)\b|[.;!]|$"
        r"|,(?!\s*(?:(?:and|or)\s+)?[A-Za-z&'-]+(?:\s*[,.;!]|\s*$"
        r"|\s+(?:and|or|in|within|during|over|since|this|last|for|products?|items?)\b))"
        # or where English text ends ("bought Lipstick, Shoes and 面霜": the Latin part)
        r"|(?:(?:and|or)\s+)?[^\x00-\x7f]"
        # "and didn't buy Socks": the words before the verb hold apostrophes
        r"|(?:and|or)\s+(?:[\w']+\s+){0,2}?(?:bought|purchased|ordered|buy|purchase)\b)",
        re.I,
    ),
)
# Categories before 都买过 / 都没买过: "服饰和美妆都买过的客户" (each), "美妆、服饰都没买过的" (none);
# the list starts at the goal's start, a punctuation mark or a word that addresses customers (给, 针对).
_EACH_BOUGHT_ZH = re.compile(
    r"(?:^|(?<=[给向对把让，,。；;：:\s天日内里])|(?<=针对|面向|所有|全部))(?!以内|之内|[内里给向对把让]|针对|面向|所有|全部)"
    r"(?P<cat>[\u4e00-\u9fffA-Za-z&]{1,12}?(?:(?:以及|或者|[和与及、/])[\u4e00-\u9fffA-Za-z&]{1,12}?)+)"
    r"\s*(?P<mark>类目|品类|类|产品|商品)?\s*(?:都|均)\s*(?P<neg>没有?|未|从未|从来?没有?|不曾)?\s*"
    r"(?:购买过?|买过|买了|下单过|消费过|(?<=[没未])买)"
)
_NOT_A_CATEGORY = re.compile(
    r"[一二两三四五六七八九十几多]\s*[次件单回个]|东西|我们|本店|任何|以上|以下|^[就但未没还才都也又却]"
    r"|^(?:商品|产品|宝贝|货物?|不少|很多|许多|一些|products?|items?|things?|stuff|goods|merchandise)$",
    re.I,
)
# What separates category words in one phrase (美妆和服饰, 美妆或者服饰, Lipstick and also Shoes).
_AND = re.compile(
    r"以及|或者|[和与及或、/]|\s*,\s*(?:(?:and\s+also|and|or|nor)\s+)?"
    r"|\s+(?:and\s+also|as\s+well\s+as|and|or|nor)\s+",
    re.I,
)
# How two category words are joined: each bought (且, 并且, 同时, 又, 也, both … and, and also, as well
# as) is `all`; one will do (或, 、, a comma, or, nor) is `any`; a plain and (和, 与, 及, and) says
# neither for sure and is `and`, read as any and said so in the plan.
Join = Literal["all", "any", "and"]
_JOIN_ALL = re.compile(r"并且|而且|且|同时|又|也|还|\b(?:both|also)\b|\bas\s+well\s+as\b", re.I)
# a comma before and is the list's ("Lipstick, and Shoes"), not an or
_JOIN_ANY = re.compile(r"或|[、/；;]|[，,](?!\s*(?:and\b|以及|[和与及]))|\b(?:or|nor|either)\b", re.I)
_JOIN_OR = re.compile(r"或|\bor\b", re.I)
# Between two purchase phrases, words that address customers or send (也给…的客户发短信, 还有买过…的客户,
# "and also email customers who bought"): each phrase is an audience of its own, not one that bought both
_AUDIENCE_AGAIN = re.compile(
    r"给|向|针对|面向|客户|用户|会员|顾客|买家|人群|还有|发|推送|推荐|短信|邮件"
    r"|\b(?:customers?|users?|members?|buyers?|shoppers?|people|those|anyone|email|e-mail|send|text|"
    r"sms|push|message|notify|target|reach)\b",
    re.I,
)
# A word before a Chinese phrase that makes it about each of its categories (都买过, 同时买过, 既买过…又),
# or, after a negation, about not each (没有同时买过美妆和服饰: all); 都没买过 is none of them (any).
_SCOPE_ZH = re.compile(
    r"(?:没有?|未|不曾)\s*(?P<not_each>同时|都|一起)\s*$"
    r"|(?P<each>同时|都|均|既)\s*(?:也|还)?\s*(?P<none>没有?|未|从未|从没有?|从来没有?|不曾|尚未)?\s*$"
)


def _join(separator: str) -> Join:
    """How a separator within one purchase phrase joins its categories."""
    if _JOIN_ALL.search(separator):
        return "all"
    return "any" if _JOIN_ANY.search(separator) else "and"


def _clause_join(between: str, negated: bool) -> Join:
    """How the text between two purchase phrases of one polarity joins their categories. Each phrase
    negated on its own ("没买过美妆也没买过服饰", "didn't buy X and didn't buy Y") is none of them, the
    rule's any; only 或 / or between them (not this or not that) asks that not each was bought: all.
    Text that addresses customers again or sends something is a second audience, any."""
    if _AUDIENCE_AGAIN.search(between):
        return "any"
    if negated:
        return "all" if _JOIN_OR.search(between) else "any"
    return _join(between)


def _scope(goal: str, m: re.Match[str]) -> Join | None:
    """The reading a phrase's own words fix for all its categories (both, 都, 同时, neither), if any."""
    word = (m.groupdict().get("scope") or "").lower()
    if word:
        return "all" if word == "both" else "any"
    scope = _SCOPE_ZH.search(goal[: m.start()])
    if scope is None:
        return None
    return "all" if scope["not_each"] or not scope["none"] else "any"


# A purchase in the present after a verb that asks for it states what the campaign promotes, not what
# its customers did: "给30天没下单的客户发短信，提醒他们购买美妆" was read as the buyers of 美妆, the
# opposite of what the marketer meant. The verbs that ask (提醒, 鼓励, 推荐 …), then in the same clause
# whom and how (他们, 30天没下单的客户, 再次, 回店), then the purchase without 过 / 了 and its category.
# (not 请: "请给30天内购买美妆，…的客户发短信" is the polite way to write a goal; nor 让利)
_PURPOSE_ZH = (
    r"(?:提醒|鼓励|促进|推动|引导|推荐|号召|邀请|吸引|激励|刺激|带动|促使|促成|催促|督促|动员|劝|让(?!利))"
)
_PURPOSE_BEFORE_ZH = re.compile(rf"{_PURPOSE_ZH}[^，,。；;：:！？!?\n]{{0,30}}$")
# a category of a promoted purchase: no purchase verb, negation or 的 (both patterns below)
_PROMOTED_CAT_ZH = (
    r"(?P<cat>(?:(?!购买|买|下单|消费|复购|回购|浏览|加购|没|未|并且|而且|且|并|的)[\u4e00-\u9fffA-Za-z&、/]){1,24}?)"
    r"\s*(?P<mark>(?:类目|品类|类)?(?:产品|商品)?)"
)
_PROMOTED_ZH = re.compile(
    r"(?<![没未])(?:购买|选购|抢购|入手|复购|回购|下单|消费|买)(?![过了])\s*"
    + _PROMOTED_CAT_ZH
    # 的 only before goods (购买美妆的新品); before customers it is a relative clause (最近购买美妆的客户)
    + r"(?:的(?=\s*(?:新品|新款|产品|商品|好物|爆款|单品|宝贝|系列|套装))"
    r"|(?=\s*(?:并且|而且|且|并|还|同时|[，,；;：:。！？!?]|$)))"
)
# the category before the purchase: 促进美妆购买, 推动美妆和服饰的复购, 提升美妆销量
_PROMOTED_BEFORE_ZH = re.compile(
    rf"(?:{_PURPOSE_ZH}|提高|提升|拉动|增加)\s*"
    + _PROMOTED_CAT_ZH
    # nothing bought after it (提醒最近购买美妆的客户: a purchase, 最近 no category)
    + r"\s*的?\s*(?P<verb>购买|下单|消费|复购|回购|销量|销售|转化|成交)"
    r"(?=\s*(?:率|量|的|并|且|和|及|与|同时|还|[^\u4e00-\u9fffA-Za-z过了]|$))"
)
# after the promoted purchase, the rest of the clause makes it a relative one about customers: 鼓励最近
# 购买美妆且购买服饰的客户复购 (both bought)
_RELATIVE_ZH = re.compile(
    r"[^，,。；;！？!?]*?的\s*(?:客户|用户|顾客|会员|人|买家|消费者|群体|人群|老客|新客|粉丝|朋友|$|[，,。；;！？!?])"
)
# "remind them to buy Shoes", "encourage customers who haven't ordered to purchase Shoes", "get them into
# buying Shoes": a verb that asks, then to / into and the purchase in the present
_PURPOSE_BEFORE_EN = re.compile(
    r"\b(?:remind|encourage|invite|get|ask|urge|nudge|prompt|motivate|persuade|tempt|entice|inspire|push|"
    r"drive|bring|help|convince|lead|want|tell|call\s+on)\w*\b[^.;!?]{0,80}?\b(?:to|into)\s+"
    r"(?:[A-Za-z']+\s+){0,3}$",
    re.I,
)


# A time right before the purchase (最近购买美妆, or `_DAYS_BEFORE`'s 最近30天): the customers' own.
_DATED_ZH = re.compile(r"(?:最近|近期|过去)\s*$")
# A category the goal's sentence or the goal ends with (marked or not): 欢迎回来购买美妆, 快来购买美妆。
_ENDS_SENTENCE = re.compile(r"\s*(?:类目|品类|类|产品|商品)?\s*(?:[;。！？!?]|$)")


class PromotedPhrase(BaseModel):
    """A category the goal asks customers to buy (提醒他们购买美妆, remind them to buy Shoes): what the
    campaign promotes, which is no audience rule."""

    word: str  # the category words after the purchase verb (美妆和服饰: both, split by `_separated`)
    span: tuple[int, int]  # the goal's text from the verb that asks to the category
    verb: int  # where the purchase verb begins: no purchase phrase is read from there


def stated_promotions(goal: str) -> list[PromotedPhrase]:
    """The purchases the goal asks for rather than states (提醒他们购买美妆, 鼓励购买美妆, 推荐他们买美妆,
    促进美妆购买, "remind them to buy Shoes", "get them into buying Shoes"), in order. A purchase with 过 /
    了 (提醒买过美妆的客户) or in a clause about customers (提醒最近购买美妆的客户复购) is not one."""
    found: list[PromotedPhrase] = []
    for m in _PROMOTED_ZH.finditer(goal):
        asks = _PURPOSE_BEFORE_ZH.search(goal[: m.start()])
        if asks is None or _NEGATED.search(goal[: m.start()]) or _RELATIVE_ZH.match(goal, m.end("cat")):
            continue
        if _DAYS_BEFORE.search(goal[: m.start()]) or _DATED_ZH.search(goal[: m.start()]):
            continue  # 提醒最近30天购买美妆，还没有复购的客户: a window dates a purchase made, not asked for
        end = m.end("mark") if m["mark"] else m.end("cat")
        found.append(PromotedPhrase(word=m["cat"], span=(asks.start(), end), verb=m.start()))
    for m in _PROMOTED_BEFORE_ZH.finditer(goal):
        found.append(PromotedPhrase(word=m["cat"], span=(m.start(), m.end()), verb=m.start("verb")))
    for m in _BOUGHT_CATEGORY[1].finditer(goal):
        if not m["present"] or _NEGATED.search(goal[: m.start()]):
            continue
        asks = _PURPOSE_BEFORE_EN.search(goal[: m.start()])
        if asks is not None:
            span = (asks.start(), m.end("cat"))
            found.append(PromotedPhrase(word=m["cat"], span=span, verb=m.start()))
    return sorted(found, key=lambda p: p.span)


class CategoryPhrase(BaseModel):
    """A category word the goal writes after a purchase verb."""

    word: str
    negated: bool  # 没买过美妆的, never bought shoes: the customers who did not
    marked: bool  # a category word follows (美妆类, 母婴产品, beauty products): it is meant as a category
    # the days the purchase is qualified by (最近90天没买过美妆, bought shoes in the last 30 days)
    within_days: int | None = None
    span: tuple[int, int]  # the goal's text of the phrase, its days included
    # how it joins the category word before it of the same polarity (None: the first): 且 all, 或 any
    join: Join | None = None


# A negation right before the purchase verb: 没(有)买过, 从未购买过, "have not bought", "never bought".
_NEGATED = re.compile(
    # 没有同时买过美妆和服饰: not both (_scope reads it)
    rf"(?:没有?|未|从未|从没有?|从来没有?|不曾|尚未)\s*(?:同时|都|一起)?\s*{_PLACE_ZH}$"
    r"|\b(?:not|never|n't|haven't|hasn't|hadn't|didn't|don't|doesn't)\s+(?:\w+\s+)?$",
    re.I,
)
# Days written right before a purchase verb (最近90天没买过, 30天内买过, 近60天未购买过) or right after
# the category (bought shoes in the last 30 days, haven't bought shoes for 90 days) qualify that purchase:
# seen, "最近90天没买过美妆的" planned as not_bought 美妆 (ever) and recency_days >= 90, which left out
# every customer who had bought anything else since.
# "30天以上没买过" is the same window as "30天没买过"; a date (11月11日买过) is no window.
_DAYS_BEFORE = re.compile(
    r"(?:最近|近|过去)?\s*(?<![月\d])(\d+)\s*[天日]\s*(?:内|以内|之内|里|及?以上)?\s*(?:都|均)?\s*"
    rf"(?:有过?|曾经?)?\s*(?:没有?|未|从未|从没有?|从来没有?|不曾|尚未)?\s*{_PLACE_ZH}$"
)
# "over the last 90 days" is a window, "over 90 days ago" the opposite: no window is read from it.
_DAYS_AFTER = re.compile(
    r"\s*(?:in|within|during|for|over(?=\s+the\b|\s+(?:last|past)\b))\s+(?:the\s+)?(?:last\s+|past\s+)?"
    r"(\d+)\s*days\b(?!\s+ago\b)",
    re.I,
)
_MARKED = re.compile(r"类目|品类|类|产品|商品|products?|items?|category", re.I)
# a word that itself names goods: 宠物用品, 乳制品, pet supplies
_GOODS_WORD = re.compile(r"(?:用品|产品|商品|制品|品类|类目|类|supplies|products?|goods|wear)$", re.I)


# A further category with its own days after an English phrase's days: "bought Lipstick in the last 30
# days and Shoes in the last 60 days" (the days follow, as _DAYS_AFTER reads them).
_NEXT_CATEGORY = re.compile(
    r"\s*,?\s*(?P<join>and(?:\s+also)?|as\s+well\s+as|or|nor)\s+"
    r"(?P<cat>[A-Za-z][A-Za-z&'-]*(?:\s+[A-Za-z&'-]+){0,4}?)"
    r"\s*(?P<mark>products?|items?|category)?(?=\s+(?:in|within|during|for|over)\s)",
    re.I,
)


def _separated(cat: str) -> list[tuple[str, str | None]]:
    """The category words of a phrase's text, each with the separator before it (None: the first)."""
    words: list[tuple[str, str | None]] = []
    start, separator = 0, None
    for m in _AND.finditer(cat):
        words.append((cat[start : m.start()].strip(), separator))
        start, separator = m.end(), m.group()
    words.append((cat[start:].strip(), separator))
    return [(word, sep) for word, sep in words if word]


def stated_category_phrases(goal: str) -> list[CategoryPhrase]:
    """The category words the goal writes after a purchase verb (or before 都买过), in order and each
    once ("买过口红和面霜的" → 口红, 面霜), each with whether it is negated and marked as a category, its
    own days and how it joins the word before it of the same polarity (且 each, 或 any, 和 either)."""
    found: dict[str, CategoryPhrase] = {}
    ends: dict[bool, int] = {}  # where the last phrase of each polarity ends

    def add(
        cat: str,
        mark: str,
        negated: bool,
        days: re.Match[str] | None,
        span: tuple[int, int],
        join: Join | None,
        scope: Join | None,
    ) -> None:
        marked = _MARKED.fullmatch(mark.strip()) is not None
        for word, separator in _separated(cat):
            if separator is not None:  # a word after the phrase's first: its own words join them
                join = scope or _join(separator)
            goods = marked or _GOODS_WORD.search(word) is not None
            within = int(days[1]) if days else None
            phrase = CategoryPhrase(
                word=word, negated=negated, marked=goods, within_days=within, span=span, join=join
            )
            found.setdefault(word, phrase)
        ends[negated] = span[1]

    def joined(negated: bool, start: int) -> Join | None:
        return _clause_join(goal[ends[negated] : start], negated) if negated in ends else None

    matches = sorted(
        (m for pattern in (*_BOUGHT_CATEGORY, _EACH_BOUGHT_ZH) for m in pattern.finditer(goal)),
        key=lambda m: m.start(),
    )
    # 提醒他们购买美妆: what the campaign promotes, no purchase the customers made
    promoted = {p.verb for p in stated_promotions(goal)}
    for m in matches:
        if _NOT_A_CATEGORY.search(m["cat"]) or m.start() in promoted:
            continue
        before = _DAYS_BEFORE.search(goal[: m.start()])
        if m.re is _EACH_BOUGHT_ZH:  # 服饰和美妆都买过: each; 都没买过: none
            negated = m["neg"] is not None
            span = (before.start() if before else m.start(), m.end())
            each: Join = "any" if negated else "all"
            add(m["cat"], m["mark"] or "", negated, before, span, joined(negated, span[0]), each)
            continue
        scope_word = (m.groupdict().get("scope") or "").lower()
        negated = _NEGATED.search(goal[: m.start()]) is not None or scope_word == "neither"
        if m.groupdict().get("present") and not negated:
            continue  # "ask customers to buy shoes" states no purchase
        if (
            m.re is _BOUGHT_CATEGORY[0]
            and not negated
            and before is None
            and _ENDS_SENTENCE.match(goal, m.end("cat"))
            and not re.search("[过了]", goal[m.start() : m.start("cat")])
        ):
            # a bare 购买 ending the goal or its sentence asks for the purchase (欢迎回来购买美妆,
            # 快来购买美妆, 双11购买美妆): read as bought, it sent a lapsed customers' campaign to past
            # buyers only
            continue
        after = _DAYS_AFTER.match(goal, m.end())
        span = (before.start() if before else m.start(), after.end() if after else m.end())
        scope = _scope(goal, m)
        add(
            m["cat"],
            goal[m.end("cat") : m.end()],
            negated,
            before or after,
            span,
            joined(negated, span[0]),
            scope,
        )
        while after is not None:
            more = _NEXT_CATEGORY.match(goal, after.end())
            after = _DAYS_AFTER.match(goal, more.end()) if more else None
            if more and after and not _NOT_A_CATEGORY.search(more["cat"]):
                join = scope or _join(more["join"])
                add(more["cat"], more["mark"] or "", negated, after, (more.start(), after.end()), join, scope)
    return list(found.values())


class GroundedCategories(BaseModel):
    bought: list[str] = []  # the shop's categories the goal says were bought
    not_bought: list[str] = []  # … were not bought
    # the days each category's purchase is qualified by, when the goal writes any (the tightest)
    bought_days: dict[str, int] = {}
    not_bought_days: dict[str, int] = {}
    # each category bought (买过服饰且买过美妆, both … and) or any one (或, 、, or, and a plain 和 / and)
    bought_match: Literal["any", "all"] = "any"
    not_bought_match: Literal["any", "all"] = "any"
    # the rules (bought, not_bought) whose categories the goal joins with a plain 和 / and, which reads
    # either way: the plan says which reading it took
    assumed: list[str] = []
    # the rules whose categories the goal joins both ways (买过美妆或服饰且买过面霜): one rule is all or any
    mixed: list[str] = []
    # the goal's spans of the category phrases with days: their days are no recency band
    windows: list[tuple[int, int]] = []
    unknown: list[str] = []  # marked as a category (美妆类, beauty products), and the shop has none such
    unread: list[str] = []  # words after a purchase verb that match no category: not taken as one
    # (the goal's words, the shop's categories) of a purchase the goal asks for (提醒他们购买美妆, remind
    # them to buy Shoes): what the campaign promotes, no rule; the plan's `readings` say so
    promoted: list[tuple[str, list[str]]] = []

    def rule(self, negated: bool) -> CategoryPurchase | None:
        """The `bought` (`not_bought` when negated) rule: one window for all its categories when they
        share one, else each category with its own days and none for a category written without."""
        names = list(dict.fromkeys(self.not_bought if negated else self.bought))
        if not names:
            return None
        days = self.not_bought_days if negated else self.bought_days
        match = self.not_bought_match if negated else self.bought_match
        shared = {days.get(name) for name in names}
        if len(shared) == 1:
            return CategoryPurchase(categories=names, within_days=shared.pop(), match=match)
        return CategoryPurchase(categories=names, windows=days, match=match)


def join_reading(rule: CategoryPurchase, field: str, language: str) -> str:
    """What the plan took a plain 和 / and between a rule's categories for, and how to say the other."""
    names = ("、" if language == "zh" else ", ").join(rule.categories)
    negated, each = field == "not_bought", rule.match == "all"
    if language == "zh":
        read = {
            (False, False): f"买过{names}中任一类目即可",
            (False, True): f"{names}每个都买过",
            (True, False): f"{names}都没买过",
            (True, True): f"没有把{names}都买过",
        }[negated, each]
        other = {
            (False, False): "若要每个都买过，请写“且”“既…又…”或“都买过”",
            (False, True): "若任一即可，请写“或”",
            (True, False): "若只排除每个都买过的客户，请写“没有同时买过”",
            (True, True): "若要都没买过，请写“都没买过”",
        }[negated, each]
        return f"audience.{field}：目标里的“和”读作{read}（match: {rule.match}）；{other}"
    read = {
        (False, False): f"bought any of {names}",
        (False, True): f"bought each of {names}",
        (True, False): f"bought none of {names}",
        (True, True): f"did not buy each of {names}",
    }[negated, each]
    other = {
        (False, False): "write 'both … and' or 'and also' for customers who bought each",
        (False, True): "write 'or' for any of them",
        (True, False): "write 'did not buy both' to leave out only the customers who bought each",
        (True, True): "write 'bought neither … nor' for none of them",
    }[negated, each]
    return f"audience.{field}: 'and' in the goal read as {read} (match: {rule.match}); {other}"


def promoted_reading(words: str, categories: list[str], language: str) -> str:
    """What the plan says of a purchase the goal asks for: the category is what the campaign promotes,
    no audience rule, and the plan has no field that carries it to the copy."""
    if language == "zh":
        names = "、".join(categories)
        return (
            f"audience.bought：目标里的“{words}”读作活动要推广的类目，不是受众条件：方案没有只选买过{names}"
            f"的客户；方案也没有推广类目的字段，文案按 offer 的描述写。若只发给买过{names}的客户，请写“买过"
            f"{names}的客户”"
        )
    names = ", ".join(categories)
    return (
        f"audience.bought: {words!r} in the goal was read as what the campaign promotes, not as who it "
        f"reaches: the plan does not select the customers who bought {names}, and has no field for a "
        f"promoted category (copy follows the offer's description); to reach only those customers, write "
        f"'customers who bought {names}'"
    )


def ground_categories(goal: str, known: list[str]) -> GroundedCategories:
    """The goal's purchase phrases against the shop's category names. A name matches as written in
    any case, or as a part of exactly one category name (美妆 → 美妆护肤). A phrase that matches none is
    refused only when the goal marks it as a category; otherwise it is most likely no category at all
    (购买频次高的, bought with a coupon) and is left out, named in the plan's `unread_categories`."""
    names = {name: [name] for name in known}
    out = GroundedCategories()
    joins: dict[str, set[Join]] = {"bought": set(), "not_bought": set()}
    for phrase in stated_category_phrases(goal):
        code = resolve_names([phrase.word], names)[0]
        if code in names:
            target = out.not_bought if phrase.negated else out.bought
            if target and phrase.join is not None:
                joins["not_bought" if phrase.negated else "bought"].add(phrase.join)
            target.append(code)
            if phrase.within_days is not None:
                windows = out.not_bought_days if phrase.negated else out.bought_days
                windows[code] = min(windows.get(code, phrase.within_days), phrase.within_days)
                out.windows.append(phrase.span)
        else:
            (out.unknown if phrase.marked else out.unread).append(phrase.word)
    for promotion in stated_promotions(goal):
        codes = resolve_names([word for word, _ in _separated(promotion.word)], names)
        if found := [code for code in codes if code in names]:
            out.promoted.append((goal[promotion.span[0] : promotion.span[1]].strip(), found))
    for rule, said in joins.items():
        setattr(out, f"{rule}_match", "all" if "all" in said else "any")
        out.mixed += [rule] if {"all", "any"} <= said else []
        out.assumed += [rule] if "and" in said else []
    return out


# A browse phrase: a view or add-to-cart verb and what was viewed ("最近7天浏览过美妆但没购买的", "加购未
# 下单的", "viewed shoes in the last 7 days but didn't buy", "added Lipstick to their cart", "abandoned
# carts"). Before, the goal's days went to a recency band (bought within 7 days: the opposite) or nowhere.
_BROWSE_ZH = re.compile(
    r"(?:(?P<view>浏览(?:过|了)?|查看(?:过|了)?|看过)|(?P<cart>加购(?:过|了)?|加(?:入|进|过)?了?购物车|放(?:入|进)了?购物车))"
    r"(?:\s*(?P<cat>(?:(?!但|却|而|没|未|的|并且|而且|且|购买|下单|加购|浏览)[\u4e00-\u9fffA-Za-z&、/]){1,24}?)"
    r"\s*(?P<mark>(?:类目|品类|类)?(?:产品|商品)?))?"
    r"(?=\s*(?:[但却而可]|没|未|的|并且|而且|且|[，,；;。]|$))"
)
# what an English browse verb is followed by that names no category, or a clause going on
_EN_OBJECT_STOP = (
    r"(?:in|within|during|over|for|but|yet|without|and|or|to|the|last|past|this|anything|something|"
    r"products?|items?|goods|things|stuff|(?:web)?site|store|shop|app|pages?|it|them|us|our|a|an)\b"
)
# a category of several words goes on through "and" / "or" (Lipstick or Shoes), not into a new clause
_EN_OBJECT_GOES_ON = (
    r"(?!(?:in|within|during|over|for|but|yet|without|to|the|last|past|this|bought|purchased|ordered|"
    r"added|viewed|browsed|did|didn't|have|haven't|has|hasn't|never|who|that)\b)"
)
_EN_OBJECT = (
    r"(?:\s+(?:the\s+|our\s+|some\s+|any\s+)?(?:(?:products?|items?|goods|things|stuff|(?:web)?site|store|"
    rf"shop|app|pages?)\b|(?!{_EN_OBJECT_STOP})(?P<cat>[A-Za-z][A-Za-z&'-]*(?:\s+{_EN_OBJECT_GOES_ON}"
    r"[A-Za-z&'-]+){0,3}?)(?:\s*(?P<mark>products?|items?|category))?))?"
)
_BROWSE_EN = re.compile(
    # the present (view, browse) only negated: "did not view Shoes"
    rf"\b(?:(?P<view>viewed|browsed|looked\s+at|(?P<present>view|browse|look\s+at)){_EN_OBJECT}"
    r"(?=\s+(?:in|within|during|over|for|since|but|yet|without|then|this|last|on|at|by|with)\b"
    r"|\s+(?:and|or)\s+(?:bought|purchased|ordered|added|did|didn't|have|haven't|has|hasn't|never)\b"
    r"|\s*[,.;!]|\s*$)"
    r"|(?P<cart>added|put)(?:"
    + _EN_OBJECT.replace("?P<cat>", "?P<ccat>").replace("?P<mark>", "?P<cmark>")
    + r")?\s+(?:in)?to\s+(?:their|the|a|your|his|her)\s+(?:shopping\s+)?(?:cart|basket)"
    r"|(?P<abandoned>abandoned\s+(?:their\s+|a\s+|the\s+|shopping\s+)*(?:carts?|baskets?)))\b",
    re.I,
)
_NO_PURCHASE = re.compile(
    # the days may come after 但 (浏览过美妆但7天内没购买): the window of the view and of the purchase
    r"\s*(?:[但却而可]\s*)?(?:(?:最近|近|过去)?\s*(?P<days>\d+)\s*[天日]\s*(?:内|以内|之内|里)?\s*)?"
    r"(?:还|都|一直|并)?\s*(?:没有?|未|从未|不曾|尚未)\s*(?:再\s*)?"
    r"(?:购买|买|下单|付款|支付|结算|成交)"
    r"|\s*,?\s*(?:(?:but|yet|and)\s+)?(?:did\s+not|didn't|have\s+not|haven't|has\s+not|hasn't|never)\s+"
    r"(?:buy|bought|purchased?|ordered|order|checked\s+out|check\s+out)\b(?:\s+(?:it|them|anything))?"
    r"|\s+without\s+(?:buying|purchasing|ordering|checking\s+out|a\s+purchase|an\s+order)\b"
    r"(?:\s+(?:it|them|anything))?",
    re.I,
)
_BROWSE_GENERAL = re.compile(r"^(?:商品|产品|宝贝|东西|店铺|网站|页面|首页|我们|本店)", re.I)


class BrowsePhrase(BaseModel):
    """A view or add-to-cart the goal names, with what was viewed and whether no purchase followed."""

    rule: str  # the audience rule: viewed or carted
    word: str | None  # the category word after the verb; None: any product
    marked: bool  # a category word follows (美妆类, beauty products)
    within_days: int | None = None
    without_purchase: bool = False  # 浏览过但没购买, viewed but didn't buy, abandoned carts
    span: tuple[int, int]  # the goal's text of the phrase, its days included
    # 没浏览过美妆, never viewed Lipstick: no rule leaves the viewers out; span from the negation
    negated: bool = False


# "did not", "have not": the negation's own words, for quoting a negated phrase whole
_AUXILIARY = re.compile(r"\b(?:did|does|do|have|has|had)\s+$", re.I)


def stated_browsing(goal: str) -> list[BrowsePhrase]:
    """The browse phrases the goal writes, in order; a negated one (没浏览过, never viewed) is marked
    so, its span the goal's words from the negation (or its days) to what was not viewed."""
    found: list[BrowsePhrase] = []
    for pattern in (_BROWSE_ZH, _BROWSE_EN):
        for m in pattern.finditer(goal):
            parts = m.groupdict()
            negation = _NEGATED.search(goal[: m.start()])
            if parts.get("present") and negation is None:
                continue  # "ask them to view the new collection" states no view
            cat = parts.get("cat") or parts.get("ccat")
            mark = parts.get("mark") or parts.get("cmark") or ""
            if cat and (_BROWSE_GENERAL.search(cat) or _NOT_A_CATEGORY.search(cat)):
                cat = None
            rule = "viewed" if parts["view"] else "carted"
            if negation is not None:
                days_before = _DAYS_BEFORE.search(goal[: m.start()])
                aux = _AUXILIARY.search(goal[: negation.start()])
                start = days_before.start() if days_before else aux.start() if aux else negation.start()
                verb = "view" if parts["view"] else "cart" if parts["cart"] else None
                end = m.end() if cat or verb is None else m.end(verb)
                phrase = BrowsePhrase(rule=rule, word=None, marked=False, span=(start, end), negated=True)
                found.append(phrase)
                continue
            before, end = _DAYS_BEFORE.search(goal[: m.start()]), m.end()
            days = before or _DAYS_AFTER.match(goal, end)
            end = days.end() if days and days is not before else end
            tail = _NO_PURCHASE.match(goal, end)
            end = tail.end() if tail else end
            if days is None and (days := _DAYS_AFTER.match(goal, end)) is not None:
                end = days.end()
            within = int(days[1]) if days else int(tail["days"]) if tail and tail["days"] else None
            found.append(
                BrowsePhrase(
                    rule=rule,
                    word=cat.strip() if cat else None,
                    marked=bool(mark.strip()) or (cat is not None and _GOODS_WORD.search(cat) is not None),
                    within_days=within,
                    without_purchase=tail is not None or bool(parts.get("abandoned")),
                    span=(before.start() if before else m.start(), end),
                )
            )
    return found


class GroundedBrowsing(BaseModel):
    rules: dict[str, BrowseRule] = {}  # viewed / carted, the first phrase of each
    windows: list[tuple[int, int]] = []  # the spans of the phrases with days: no recency band
    unknown: list[tuple[str, str]] = []  # (rule, word) marked as a category the shop has none such
    unread: list[str] = []  # words after a browse verb that match no category: no rule is read
    # (rule, the goal's words) of a negated view or cart (没浏览过美妆, never viewed Lipstick): no rule
    # leaves the viewers out, so the plan says the words were not read rather than drop them unsaid
    not_read: list[tuple[str, str]] = []


def ground_browsing(goal: str, known: list[str]) -> GroundedBrowsing:
    """The goal's browse phrases as rules, their words against the shop's category names as
    `ground_categories` reads them; a phrase whose word names no category gives no rule."""
    names = {name: [name] for name in known}
    out = GroundedBrowsing()
    for phrase in stated_browsing(goal):
        if phrase.negated:
            out.not_read.append((phrase.rule, goal[phrase.span[0] : phrase.span[1]].strip()))
            continue
        categories: list[str] = []
        if phrase.word is not None:
            words = [w.strip() for w in _AND.split(phrase.word) if w.strip()]
            codes = resolve_names(words, names)
            missed = [w for w, c in zip(words, codes, strict=True) if c not in names]
            if phrase.marked:
                out.unknown += [(phrase.rule, w) for w in missed]
            else:
                out.unread += missed
            categories = [c for c in codes if c in names]
            if not categories:
                continue  # 看过直播的: no category, and no rule on every viewer either
        if phrase.rule in out.rules:
            continue
        out.rules[phrase.rule] = BrowseRule(
            categories=categories, within_days=phrase.within_days, without_purchase=phrase.without_purchase
        )
        if phrase.within_days is not None:
            out.windows.append(phrase.span)
    return out


def not_read_reading(rule: str, words: str, language: str) -> str:
    """What the plan says of a negated view or cart the goal names: no rule stands for it."""
    if language == "zh":
        did = "浏览过" if rule == "viewed" else "加购过"
        return (
            f"audience.{rule}：目标里的“{words}”没有读成规则：受众规则只能选出{did}的客户，不能把他们排除，"
            "方案没有按这部分筛选客户"
        )
    did = "viewed products" if rule == "viewed" else "added products to the cart"
    return (
        f"audience.{rule}: {words!r} in the goal was not read: audience rules select the customers who "
        f"{did} and cannot leave them out, so the plan does not filter on it"
    )
