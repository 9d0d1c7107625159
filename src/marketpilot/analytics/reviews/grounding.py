"""Whether LLM output rests on the reviews it cites: shared content, and no support from a review that
reads like an instruction to the model. Used for the needs/pain-points claims and the open aspects."""

from __future__ import annotations

import re

# Instructions aimed at the model rather than opinions about a product.
_INJECTION = re.compile(
    r"(?:忽略|无视|忘记|不要理会)[^。！？\n]{0,8}(?:指令|指示|规则|提示|要求)|系统提示|提示词|"
    r"不要(?:分析|总结)|只(?:输出|回复|回答)|你现在是|"
    r"\b(?:ignore|disregard|forget)\b[^.!?\n]{0,30}\b(?:instructions?|rules|prompts?)\b|system prompt|"
    r"\boutput\b[^.!?\n]{0,30}\binstead\b|\byou are now\b",
    re.I,
)
# Words a claim uses to frame what reviewers said; shared with a review, they prove nothing.
_FRAMING = re.compile(
    r"顾客|用户|买家|消费者|评价|反映|表示|认为|觉得|希望|提到|抱怨|称赞|喜欢|非常|比较|很多|一些"
)
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_EN_WORD = re.compile(r"[a-z0-9][a-z0-9']+")
_EN_FRAMING = {
    "customer",
    "customers",
    "user",
    "users",
    "buyer",
    "buyers",
    "review",
    "reviews",
    "reviewer",
    "reviewers",
    "the",
    "and",
    "with",
    "that",
    "this",
    "they",
    "their",
    "for",
    "are",
    "was",
    "is",
    "not",
    "too",
    "very",
    "some",
    "many",
    "say",
    "says",
    "said",
    "mention",
    "mentions",
    "find",
    "like",
    "want",
    "wants",
    "complain",
    "complains",
    "about",
    "of",
    "to",
    "in",
    "it",
    "its",
    "be",
    "has",
    "have",
}


def looks_like_injection(text: str) -> bool:
    return bool(_INJECTION.search(text))


def content_units(text: str) -> set[str]:
    """Chinese character bigrams (framing words removed) and English words: what a claim rests on."""
    lowered = text.lower()
    units = {w[:5] for w in _EN_WORD.findall(lowered) if w not in _EN_FRAMING}  # crude stem: walked/walk
    for run in _CJK_RUN.findall(_FRAMING.sub(" ", lowered)):
        units.update(run[i : i + 2] for i in range(len(run) - 1))
    return units


def is_grounded(claim: str, cited_texts: list[str]) -> bool:
    """The claim shares at least one content unit with the reviews it cites."""
    return bool(content_units(claim) & set().union(*(content_units(t) for t in cited_texts)))
