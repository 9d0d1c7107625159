"""Advertising-law terms: absolute claims (最, 第一, 国家级, 100% …), authority and medical claims.

The term lists are data (content/data/ad_law_zh.yaml, ad_claims_en.yaml) so that a shop's legal
reviewer can maintain them without touching code. Chinese terms match anywhere (Chinese has no word
boundaries), minus their listed harmless contexts (最近 is "recently"); English terms match whole words.
"""

from __future__ import annotations

import re
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


@dataclass(frozen=True)
class Term:
    term: str
    category: str
    suggestion: str
    exceptions: tuple[str, ...]
    pattern: re.Pattern[str]
    language: str

    @property
    def message(self) -> str:
        basis = _ARTICLE_ZH[self.category] if self.language == "zh" else "unsubstantiated in ads"
        return f"{_CATEGORY_MESSAGES[self.category]} ({basis})"


@cache
def load_terms(path: Path | None = None, language: str = "zh") -> tuple[Term, ...]:
    """The maintained term list for `language` (or the YAML file at `path`)."""
    source = path or DATA_DIR / ("ad_law_zh.yaml" if language == "zh" else "ad_claims_en.yaml")
    doc = yaml.safe_load(source.read_text(encoding="utf-8"))
    terms = []
    for entry in doc["terms"]:
        word = str(entry["term"])
        escaped = re.escape(word)
        if doc.get("language") == "en":
            # whole words only: "cure" must not fire inside "secure"
            escaped = rf"(?<![A-Za-z]){escaped}(?![A-Za-z])"
        terms.append(
            Term(
                term=word,
                category=entry["category"],
                suggestion=entry["suggestion"],
                exceptions=tuple(entry.get("exceptions") or ()),
                pattern=re.compile(escaped, re.IGNORECASE),
                language=doc.get("language", language),
            )
        )
    # longer terms first so that 全网最低 is reported once, not as 最 as well
    return tuple(sorted(terms, key=lambda t: -len(t.term)))


def _excepted(text: str, start: int, end: int, exceptions: tuple[str, ...]) -> bool:
    for phrase in exceptions:
        for m in re.finditer(re.escape(phrase), text, re.IGNORECASE):
            if m.start() <= start and end <= m.end():
                return True
    return False


def check_ad_law(text: str, brief: Brief | None = None) -> list[Violation]:
    """Both lists run on every text: Chinese copy quotes English claims and the reverse."""
    medical_ok = bool(brief and brief.product.medical)
    taken = [False] * len(text)
    violations = []
    for term in (*load_terms(language="zh"), *load_terms(language="en")):
        if term.category == "medical" and medical_ok:
            continue
        for m in term.pattern.finditer(text):
            start, end = m.span()
            if any(taken[start:end]) or _excepted(text, start, end, term.exceptions):
                continue
            taken[start:end] = [True] * (end - start)
            violations.append(
                Violation(
                    rule="ad_law",
                    span=(start, end),
                    text=m.group(),
                    message=f"“{m.group()}”: {term.message}",
                    suggestion=term.suggestion,
                )
            )
    return sorted(violations, key=lambda v: v.span)
