"""Synthetic reviews written by the configured LLM, extra training rows for the fast mode.

    python -m marketpilot.analytics.reviews.synthesize --lang zh --out FILE.jsonl --requests 300 --seed 8

The three Chinese corpora cover books, notebooks, hotels and food delivery, the English ones fashion,
beauty, gift cards, restaurants, films and phones; a shop's file holds reviews of fruit, shampoo and
shoes, whose words ("不新鲜", "掉色", "起球"; "stale", "pilling") the n-gram model never saw. Each request
draws a category, a polarity, an aspect and a tone from `data/synthesis_plan.<lang>.yaml` and asks for
eight reviews (prompt `review_synthesize`); the polarity asked for is the label. The rows in
data/reviews_<lang>/synthetic_llm.jsonl.gz were written this way by the embedded model (their
READMEs) and join the fast mode's training rows only (`corpora.with_synthetic`): docs/review-insight.md
has what they gain out of domain and cost in domain.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, get_args

import yaml
from pydantic import BaseModel
from rich.progress import track

from marketpilot.analytics.reviews.corpora import Lang
from marketpilot.config import get_settings

PLAN_DIR = Path(__file__).with_name("data")
PER_REQUEST = 8

_BULLET = re.compile(r"^[-*•0-9.、）)\s]+")
# A numbered list run together on one line ("1. Too quiet. 2. The buttons…") is several reviews.
_INLINE_NUMBER = re.compile(r"\s+(?=\d{1,2}[.、)）]\s*\D)")
# Headers ("优点：", "Positive reviews:") and the model talking about its task ("好的，我来写一条差评",
# "Here are 8 reviews") are not reviews.
_META = {
    "zh": re.compile(r"[：:]$|写一条|写几条|以下是"),
    "en": re.compile(
        r"[：:]$|^(sure|certainly|of course)\b|^here (are|is)\b|\breviews?\b.*\b(below|follow)", re.I
    ),
}
# The 1.5B model sometimes slips a word of the other language into a sentence ("很 boring"; a CJK
# character in English); real Chinese reviews mix in short tokens (XP, USB), not lower-case words.
_GLITCH = {"zh": re.compile(r"[a-z]{5,}"), "en": re.compile(r"[\u3000-\u9fff\uff00-\uffef]")}
_LENGTH = {"zh": (3, 200), "en": (8, 400)}
_MAX_TOKENS = {"zh": 400, "en": 520}  # eight reviews; an English word is about 1.3 tokens


class SynthesisPlan(BaseModel):
    categories: list[str]
    focus: list[str]
    kind: dict[int, str]
    styles: dict[int, list[str]]


class Draw(NamedTuple):
    category: str
    label: int
    focus: str
    style: str


def load_plan(lang: Lang = "zh") -> SynthesisPlan:
    path = PLAN_DIR / f"synthesis_plan.{lang}.yaml"
    return SynthesisPlan.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def draws(plan: SynthesisPlan, seed: int) -> Iterator[Draw]:
    """An endless, seeded sequence of what to ask for."""
    rnd = random.Random(seed)
    while True:
        category, label, focus = rnd.choice(plan.categories), rnd.randint(0, 1), rnd.choice(plan.focus)
        yield Draw(category, label, focus, rnd.choice(plan.styles[label]))


def parse_reviews(text: str, lang: Lang = "zh", cut_off: bool = False) -> list[str]:
    """One review per line of the model's answer, without bullets, quotes, headers or glitches; an
    answer `cut_off` at max_tokens ends in half a review, so its last line is dropped."""
    shortest, longest = _LENGTH[lang]
    lines = text.splitlines()
    out = []
    for whole in lines[:-1] if cut_off else lines:
        for raw in _INLINE_NUMBER.split(whole) if _BULLET.match(whole) else [whole]:
            line = _BULLET.sub("", raw.strip()).strip().strip('“”"')
            fits = shortest <= len(line) <= longest
            if fits and not _META[lang].search(line) and not _GLITCH[lang].search(line):
                out.append(line)
    return out


def synthesize(out: Path, requests: int, seed: int, home: Path | None = None, lang: Lang = "zh") -> int:
    """Append-as-you-go to `<out>.partial`, renamed to `out` when every request is done; rows written."""
    from marketpilot.llm import get_client, load_prompt

    plan, prompt = load_plan(lang), load_prompt("review_synthesize", lang)
    partial = out.with_name(out.name + ".partial")
    written = 0
    with get_client(get_settings(home)) as client, partial.open("w", encoding="utf-8") as sink:
        asked = zip(range(requests), draws(plan, seed), strict=False)
        for i, draw in track(asked, total=requests, description="synthetic reviews", transient=True):
            messages = prompt.render(
                n=PER_REQUEST,
                category=draw.category,
                kind=plan.kind[draw.label],
                focus=draw.focus,
                style=draw.style,
            )
            reply = client.complete(
                messages,
                temperature=0.9,
                max_tokens=_MAX_TOKENS[lang],
                seed=seed * 100_000 + i,
                frequency_penalty=0.3,
                prompt=prompt.ref,
            )
            for text in parse_reviews(reply.text, lang, cut_off=reply.finish_reason == "length"):
                row = {"text": text, "label": draw.label, "category": draw.category, "focus": draw.focus}
                sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
            sink.flush()  # a long run that stops keeps every finished request in the partial file
    partial.replace(out)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=get_args(Lang), default="zh")
    parser.add_argument("--out", type=Path, required=True, help="JSON lines: text, label, category, focus")
    parser.add_argument("--requests", type=int, default=300, help=f"{PER_REQUEST} reviews asked per request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--home", type=Path, default=None)
    args = parser.parse_args(argv)
    written = synthesize(args.out, args.requests, args.seed, args.home, args.lang)
    print(f"wrote {written} reviews to {args.out}")


if __name__ == "__main__":
    main()
