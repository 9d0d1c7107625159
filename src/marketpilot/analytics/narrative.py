"""LLM-written text grounded in numbers: the model writes from a list of facts, every number it writes
must match one of them (`segments.numbers.unsupported_numbers`), and it writes the paragraph the
prompts ask for, not headings and lists (a small model tends to re-list the facts, misreading some);
it does not call a p-value it quotes significant on the wrong side of 0.05 (`wrong_significance`);
otherwise it is asked once more, naming what is wrong, and then a templated text takes its place and
says so. Used by the campaign report and the decision reports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from marketpilot.analytics.segments.numbers import unsupported_numbers
from marketpilot.config import Settings
from marketpilot.errors import MarketPilotError


class Narrative(BaseModel):
    text: str
    source: str  # "llm" | "template"
    # numbers the LLM wrote that no fact supports, "headings or lists", or a p-value read the wrong way
    rejected: list[str] = []


# A Markdown heading, bullet or numbered item at the start of a line.
# (A line may begin with a number: "12.3% of …" is a sentence, "1. …" an item.)
_NOT_A_PARAGRAPH = re.compile(r"^\s*(?:#{1,6}\s|[-*•]\s|\d{1,2}[.、)）](?!\d)\s*\S)", re.M)
NOT_A_PARAGRAPH = "headings or lists"
_RETRY = {
    "zh": (
        "这些数字不在指标中：{numbers}。只用指标里的数字重写。",
        "请写成一段话（3到5句），不要标题和列表。",
        "p 值小于 0.05 才算显著，0.05 及以上不显著；改正：{wrong}。",
    ),
    "en": (
        "These numbers are not in the metrics: {numbers}. Rewrite using only metric numbers.",
        "Write one paragraph of 3 to 5 sentences, without headings or lists.",
        "A result is significant only when p < 0.05; correct this: {wrong}.",
    ),
}


# A p-value the text calls significant or not in the sentence that quotes it; the 1.5B model read
# "p值为0.0068" as "结果不显著". Significance at the usual 5 % level.
ALPHA = 0.05
_SENTENCES = re.compile(r"(?<=[。！？!?；;\n])|(?<=\.)\s+")
_NOT_SIGNIFICANT = re.compile(
    r"不(?:太|够|算|具有?|具备)?(?:统计(?:学)?上的?)?显著|(?:没有|并无|未见|未发现|未达到?|未|无)(?:统计(?:学)?上?的?)?显著"
    r"|\bnot\b(?:\s+\w+){0,2}?\s+significant|\binsignificant|\bnon-?significant|\bno significant",
    re.I,
)
_SIGNIFICANT = re.compile(r"显著|\bsignificant", re.I)
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def wrong_significance(text: str, facts: Mapping[str, float | int | str]) -> list[str]:
    """Each p-value of `facts` (keys ending in p_value) that a sentence quoting it calls significant
    when it is 0.05 or more, or not significant when it is under 0.05."""
    p_values = {float(v) for k, v in facts.items() if k.endswith("p_value") and isinstance(v, int | float)}
    wrong = []
    for sentence in _SENTENCES.split(text):
        quoted = sorted(p_values & {float(n) for n in _NUMBER.findall(sentence)})
        if not quoted:
            continue
        if _NOT_SIGNIFICANT.search(sentence):
            wrong += [f"p = {p:g} called not significant" for p in quoted if p < ALPHA]
        elif _SIGNIFICANT.search(sentence):
            wrong += [f"p = {p:g} called significant" for p in quoted if p >= ALPHA]
    return wrong


def whole_sentences(text: str) -> str:
    """`text` up to its last finished sentence (a reply cut off at max_tokens ends mid-sentence)."""
    ends = [text.rfind(mark) for mark in "。！？.!?\n"]
    cut = max(ends)
    return text[: cut + 1].strip() if cut > 0 else text


def grounded_narrative(
    settings: Settings,
    prompt_name: str,
    language: str,
    facts: Mapping[str, float | int | str],
    fallback: str,
    *,
    names: Mapping[str, float | int | str] | None = None,
    client: Any = None,
    **render: Any,
) -> Narrative:
    """`facts` are shown to the model as "- key: value" lines (the prompt's `facts`); `names` are
    numbers it may repeat without their being statistics (a version, a campaign number)."""
    from marketpilot.llm import load_prompt

    allowed = {**facts, **(names or {})}
    prompt = load_prompt(prompt_name, language)
    rejected: list[str] = []
    try:
        if client is None:
            from marketpilot.llm import get_client

            client = get_client(settings)
        messages = prompt.render(facts="\n".join(f"- {k}: {v}" for k, v in facts.items()), **render)
        for _ in range(2):
            completion = client.complete(messages, temperature=0.3, max_tokens=300, seed=0, prompt=prompt.ref)
            text = completion.text.strip()
            if completion.finish_reason == "length":
                text = whole_sentences(text)
            rejected = unsupported_numbers(text, allowed)
            listed = bool(_NOT_A_PARAGRAPH.search(text))
            wrong = wrong_significance(text, facts)
            if text and not rejected and not listed and not wrong:
                return Narrative(text=text, source="llm")
            numbers_note, shape_note, significance_note = _RETRY["zh" if language == "zh" else "en"]
            notes = [numbers_note.format(numbers=", ".join(rejected))] if rejected else []
            notes += [shape_note] if listed or not text else []
            notes += [significance_note.format(wrong="; ".join(wrong))] if wrong else []
            rejected += [NOT_A_PARAGRAPH] if listed else []
            rejected += wrong
            note = " ".join(notes)
            messages = [
                *messages,
                type(messages[0])(role="assistant", content=text),
                type(messages[0])(role="user", content=note),
            ]
    except MarketPilotError as exc:
        rejected = [f"LLM unavailable: {exc}"]
    return Narrative(text=fallback, source="template", rejected=rejected)
