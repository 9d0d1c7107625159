"""Whether each sentence of an answer stands in the sources it cites.

The figure, name, promise and term checks read what an answer claims in numbers and named things; an
answer with none passes them whatever it says. Asked "退货运费谁出？" with nobody signed in, the
embedded model answered "运费由店铺承担" citing the shipping-fee policy, which says nothing of who pays
(no-reason returns are paid by the customer; the shop pays only for faulty items, a policy it did not
cite). So each sentence's content words must mostly be found in the passages the answer cites or in
the question:
- content words: jieba's words of two or more Chinese characters (not particles and pronouns: 的,
  我们…), weighted by jieba's IDF so that 店铺, 承担 count for more than 可以, 需要; English words of
  three or more letters without stop words, a plural or -ed/-ing ending aside (returned, returns →
  return), each weighing one;
- a word is found when it is inside a cited passage's title or text, case aside; one found only in the
  question counts half: the question says what the customer wants to know, not what is true ("The shop
  pays the return postage", asked "Who pays for return shipping?", takes return and pay from it);
- a sentence whose found words weigh less than `MIN_SUPPORT` of its words is unsupported. A sentence
  with no content words ("好的。", "Yes.") claims nothing and is kept.
An answer with an unsupported sentence goes to a person (answer.py): it is not sent without that
sentence, which may be the "but" that reverses the rest. An answer about an order is read against the
policies shown with it too. Measured on real answers in docs/assistant.md.
"""

from __future__ import annotations

import functools
import re

from marketpilot.assistant.knowledge import Passage
from marketpilot.content.numbers import halfwidth

# On the embedded model's real answers (docs/assistant.md, "Measured") every sentence of a correct one
# scores 0.88 or more, "运费由店铺承担" and "运费由顾客承担" under the shipping-fee policy 0.38 and 0.39; a
# paraphrase of the policy ("退货运费需要您自己承担") 0.57.
MIN_SUPPORT = 0.5
_SENTENCE = re.compile(r".+?(?:[。！？!?\n]+|\.(?=\s|$)\s*|$)", re.S)
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_EN_WORD = re.compile(r"[a-z][a-z'-]{2,}")
# jieba's words that say nothing of the shop: pronouns, particles and the courtesies of any answer
_ZH_FRAME = frozenset({
    "您好", "你好", "我们", "你们", "您们", "他们", "它们", "这个", "那个", "这些", "那些", "什么",
    "怎么", "如何", "哪里", "是否", "可以", "能够", "需要", "就是", "还是", "或者", "以及", "如果",
    "的话", "因为", "所以", "但是", "不过", "而且", "已经", "感谢", "谢谢", "抱歉", "请问", "亲爱",
    "亲亲", "这件", "这款", "那件", "那款", "该款", "商品", "产品", "宝贝",
})  # fmt: skip
_EN_STOP = frozenset({
    "the", "and", "for", "are", "was", "were", "you", "your", "yours", "our", "ours", "can",
    "could", "would", "will", "shall", "should", "may", "might", "must", "what", "when", "where", "who",
    "whom", "which", "why", "how", "does", "did", "done", "doing", "with", "this", "that", "these",
    "those", "from", "have", "has", "had", "having", "any", "there", "their", "they", "them", "its",
    "it's", "about", "into", "not", "but", "also", "only", "just", "than", "then", "very", "yes",
    "please", "thank", "thanks", "sorry", "hello", "dear", "here", "such", "each", "all", "some", "more",
    "most", "other", "again",
})  # fmt: skip
_ENDING = re.compile(r"(?:ies|es|s|ed|ing)$")
_DOUBLED = re.compile(r"([b-df-hj-np-tv-z])\1$")  # shipped, shipping → ship


@functools.cache
def _idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table and its median, the weight of a word it does not know."""
    import jieba
    import jieba.analyse

    jieba.setLogLevel(60)  # its "Building prefix dict …" lines are noise on the user's terminal
    table = jieba.analyse.default_tfidf.idf_loader
    return table.idf_freq, table.median_idf


def content_words(text: str) -> tuple[dict[str, float], dict[str, float]]:
    """({Chinese word: weight}, {English word as compared: weight}) of a text's content words (see the
    module doc)."""
    import jieba

    text = halfwidth(text).casefold()
    idf, median = _idf()
    zh = {
        word: idf.get(word, median)
        for run in _CJK_RUN.findall(text)
        for word in jieba.lcut(run)
        if len(word) >= 2 and word not in _ZH_FRAME
    }
    en = {}
    for word in _EN_WORD.findall(text):
        if word not in _EN_STOP:
            stem = _DOUBLED.sub(r"\1", _ENDING.sub("", word).rstrip("'-"))
            en[stem if len(stem) >= 3 else word] = 1.0
    return zh, en


def support(sentence: str, cited: str, question: str = "") -> float | None:
    """The share of the sentence's content words (by weight) found in the `cited` passages' text, a
    word found only in the question counting half; None when the sentence has no content words in a
    language the sources are written in. An English answer from a shop's Chinese policies (the shop
    wrote only policies.zh.md) cannot be read against them word by word, and is not."""
    cited, question = halfwidth(cited).casefold(), halfwidth(question).casefold()
    zh_sources, en_sources = content_words(cited)
    zh, en = content_words(sentence)
    words = (zh if zh_sources else {}) | (en if len(en_sources) >= len(zh_sources) else {})
    if not words:
        return None
    found = sum(w if word in cited else w / 2 if word in question else 0 for word, w in words.items())
    return found / sum(words.values())


def unsupported_sentences(answer: str, cited: list[Passage], question: str) -> tuple[str, list[str]]:
    """(the answer without its unsupported sentences, those sentences); the first is "" when some were
    dropped and none of the sentences left says anything ("好的。"). An answer that says nothing a
    word could be checked by ("这件商品有货。": 这件 and 商品 are frame words, 有 and 货 single
    characters) is left as it is."""
    sources = " ".join(f"{p.title} {p.text}" for p in cited)
    kept, dropped, said = [], [], False
    for sentence in _SENTENCE.findall(answer):
        share = support(sentence, sources, question)
        if share is not None and share < MIN_SUPPORT:
            dropped.append(sentence.strip())
            continue
        kept.append(sentence)
        said = said or share is not None
    return ("".join(kept).strip() if said or not dropped else ""), dropped
