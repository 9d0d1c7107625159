"""Advertising-law terms: absolute claims (最, 第一, 国家级, 100% …), authority and medical claims.

The term lists are data (content/data/ad_law_zh.yaml, ad_claims_en.yaml) so that a shop's legal
reviewer can maintain them without touching code. Chinese terms match anywhere (Chinese has no word
boundaries), minus their listed harmless contexts (最近 is "recently"); English terms match whole words.

Copy is matched in a folded form, so the spellings used to slip past review are caught as what they
say: full-width letters and digits (ＮＯ．１, １００％), traditional characters (國家級, 頂級) and
spaces or decorations between the characters of a Chinese term (国 家 级, 第·一). Spans still point
into the original text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from marketpilot.content.briefs import Brief
from marketpilot.content.guardrails.base import Violation

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
_CATEGORY_MESSAGES = {
    "absolute": "absolute/superlative claim",
    "authority": "implies state endorsement or inspection exemption",
    "medical": "medical/efficacy claim for a non-medical product",
    "guarantee": "promises a guaranteed result",
}
_ARTICLE_ZH = {
    "absolute": "广告法第九条",
    "authority": "广告法第九条",
    "medical": "广告法第十七条",
    "guarantee": "广告法第二十八条",
}
# What may sit between two characters of a Chinese term without changing what it says: spaces,
# zero-width characters and the decorations used to split a word for review (国·家·级, 最*佳).
_GAP = r"[\s\u200b-\u200d\u2060\ufeff·•・*_~\-|/\\.]*"
_LATIN = re.compile(r"[A-Za-z]")


@dataclass(frozen=True)
class Term:
    term: str
    category: str
    suggestion: str
    exceptions: tuple[re.Pattern[str], ...]
    pattern: re.Pattern[str]
    language: str

    @property
    def message(self) -> str:
        basis = _ARTICLE_ZH[self.category] if self.language == "zh" else "unsubstantiated in ads"
        return f"{_CATEGORY_MESSAGES[self.category]} ({basis})"


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _pattern(word: str, *, english: bool, bounded: bool) -> re.Pattern[str]:
    """`word` as a regex over folded text. A term that starts or ends with a letter or digit must not
    run on into a longer word or number: "cure" is not in "secure", NO.1 not in "No.10 色号"."""
    word = fold(word)[0]
    parts = []
    for i, ch in enumerate(word):
        if i and _is_cjk(word[i - 1]) and _is_cjk(ch):
            parts.append(_GAP)
        parts.append(r"[\s\-]+" if english and ch in " -" else re.escape(ch))
    body = "".join(parts)
    if bounded:
        if _LATIN.match(word[0]) or english:
            body = rf"(?<![A-Za-z]){body}"
        elif word[0].isdigit():
            body = rf"(?<![\d.]){body}"
        if _LATIN.match(word[-1]) or english:
            body = rf"{body}(?![A-Za-z])"
        if word[-1].isdigit():
            body = rf"{body}(?!\d)"
    return re.compile(body, re.IGNORECASE)


@cache
def _traditional() -> dict[str, str]:
    """Traditional → simplified forms of the characters the Chinese list uses."""
    doc = yaml.safe_load((DATA_DIR / "ad_law_zh.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in (doc.get("traditional") or {}).items()}


def fold(text: str) -> tuple[str, list[int]]:
    """`text` as the terms are matched: NFKC (full-width → half-width), curly apostrophes straight,
    traditional characters simplified; with the index into `text` of every folded character."""
    table = _traditional()
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch) if ord(ch) > 0x7F else ch:
            chars.append(table.get(c, "'" if c == "’" else c))
            index.append(i)
    return "".join(chars), index


@cache
def load_terms(path: Path | None = None, language: str = "zh") -> tuple[Term, ...]:
    """The maintained term list for `language` (or the YAML file at `path`)."""
    source = path or DATA_DIR / ("ad_law_zh.yaml" if language == "zh" else "ad_claims_en.yaml")
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    english = doc.get("language") == "en"
    terms = []
    for entry in doc["terms"]:
        word = str(entry["term"])
        terms.append(
            Term(
                term=word,
                category=entry["category"],
                suggestion=entry["suggestion"],
                exceptions=tuple(
                    _pattern(str(p), english=english, bounded=False) for p in entry.get("exceptions") or ()
                ),
                pattern=_pattern(word, english=english, bounded=True),
                language=doc.get("language", language),
            )
        )
    # longer terms first so that 全网最低 is reported once, not as 最 as well
    return tuple(sorted(terms, key=lambda t: -len(t.term)))


class _Exceptions:
    """Where a term's harmless contexts occur in one text, found once per text (not once per match:
    50,000 characters of 最 took a minute)."""

    def __init__(self, text: str, patterns: tuple[re.Pattern[str], ...]) -> None:
        self.spans = [[m.span() for m in p.finditer(text)] for p in patterns]
        self.starts = [[s for s, _ in spans] for spans in self.spans]

    def cover(self, start: int, end: int) -> bool:
        for spans, starts in zip(self.spans, self.starts, strict=True):
            i = bisect_right(starts, start) - 1
            if i >= 0 and spans[i][1] >= end:
                return True
        return False


def check_ad_law(text: str, brief: Brief | None = None) -> list[Violation]:
    """Both lists run on every text: Chinese copy quotes English claims and the reverse."""
    medical_ok = bool(brief and brief.product.medical)
    folded, index = fold(text)
    taken = [False] * len(folded)
    violations = []
    for term in (*load_terms(language="zh"), *load_terms(language="en")):
        if term.category == "medical" and medical_ok:
            continue
        exceptions: _Exceptions | None = None
        for m in term.pattern.finditer(folded):
            start, end = m.span()
            if any(taken[start:end]):
                continue
            exceptions = exceptions or _Exceptions(folded, term.exceptions)
            if exceptions.cover(start, end):
                continue
            taken[start:end] = [True] * (end - start)
            span = (index[start], index[end - 1] + 1)
            said = text[span[0] : span[1]]
            violations.append(
                Violation(
                    rule="ad_law",
                    span=span,
                    text=said,
                    message=term.message,  # the phrase is `text`: said once, not twice
                    suggestion=term.suggestion,
                )
            )
    return sorted(violations, key=lambda v: v.span)
