"""The LLM's opinion of a review's sentiment, two ways (PII-masked, inside <data> delimiters).

- `refine_with_llm`: a second opinion for the reviews the n-gram model is unsure about. Only reviews
  whose P(positive) lies within `band` of 0.5 are sent, one per request; the rest keep the fast
  model's answer, so the cost scales with uncertainty, not with volume. A failed request keeps the
  model's answer too.
- `llm_positive_proba`: a calibrated P(positive) for every review from the model's probabilities of
  writing the positive or the negative label first (`Client.label_logprobs`), one prompt evaluation
  per way of asking (`ASKINGS`) and no sampling. Out of domain this is the best scorer measured here
  (docs/review-insight.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from pydantic import BaseModel

from marketpilot.config import Settings
from marketpilot.privacy.pii import mask_pii


class Verdict(BaseModel):
    label: Literal["pos", "neg"]


def uncertain_rows(p_pos: np.ndarray, band: float) -> np.ndarray:
    return np.flatnonzero(np.abs(p_pos - 0.5) < band)


def refine_with_llm(
    texts: Sequence[str],
    p_pos: np.ndarray,
    langs: Sequence[str],
    settings: Settings,
    *,
    band: float = 0.15,
    max_chars: int = 300,
) -> tuple[np.ndarray, np.ndarray]:
    """(new P(positive), indices the LLM decided): decided rows become 0.9 / 0.1."""
    from marketpilot.llm import LLMRequest, get_client, load_prompt

    rows = uncertain_rows(p_pos, band)
    requests = []
    for i in rows:
        prompt = load_prompt("review_sentiment", "zh" if langs[i] == "zh" else "en")
        messages = prompt.render(text=mask_pii(texts[i])[:max_chars])
        requests.append(
            LLMRequest(
                messages=messages, schema=Verdict, temperature=0.0, max_tokens=20, seed=0, prompt=prompt.ref
            )
        )
    results = get_client(settings).complete_many(requests)
    refined = np.asarray(p_pos, dtype=np.float64).copy()
    decided = []
    for i, result in zip(rows, results, strict=True):
        parsed = getattr(result, "parsed", None)
        if isinstance(parsed, Verdict):
            refined[i] = 0.9 if parsed.label == "pos" else 0.1
            decided.append(i)
    return refined, np.asarray(decided, dtype=np.int64)


LABEL_PREFIX = '{"label": "'  # how a Verdict reply starts: the next token is the label


class Asking(NamedTuple):
    """One way to ask for a review's sentiment: a prompt, how the reply opens, (positive, negative)."""

    prompt: str
    prefix: str
    labels: tuple[str, str]


# Per language; their label log-odds are averaged. The two Chinese phrasings beat the first alone on
# every cross-source sample measured (+0.6 to +2 points, six samples of 150–300 rows;
# docs/review-insight.md). English keeps one: a second phrasing was never measured there.
ASKINGS: dict[str, tuple[Asking, ...]] = {
    "zh": (
        Asking("review_sentiment", LABEL_PREFIX, ("pos", "neg")),
        Asking("review_verdict", "", ("好评", "差评")),
    ),
    "en": (Asking("review_sentiment", LABEL_PREFIX, ("pos", "neg")),),
}


def llm_label_logits(
    texts: Sequence[str], langs: Sequence[str], settings: Settings, *, max_chars: int = 300
) -> np.ndarray:
    """log P(positive label) − log P(negative label), one column per asking of the text's language
    (NaN past a language's last), with a progress bar on stderr. Texts are taken asking by asking so
    the embedded model reuses each prompt's cached prefix; the first failed request stops the run (a
    partial score is no score)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from marketpilot.llm import get_client, load_prompt

    codes = ["zh" if lang == "zh" else "en" for lang in langs]
    logits = np.full((len(texts), max(len(a) for a in ASKINGS.values())), np.nan)
    jobs = [(code, k) for code in ("zh", "en") if code in codes for k in range(len(ASKINGS[code]))]
    columns = (TextColumn("LLM sentiment"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        get_client(settings) as client,
        Progress(*columns, console=Console(stderr=True), transient=True) as bar,
    ):
        task = bar.add_task("", total=sum(codes.count(code) for code, _ in jobs))
        for code, k in jobs:
            asking = ASKINGS[code][k]
            prompt = load_prompt(asking.prompt, code)
            for i in (i for i, c in enumerate(codes) if c == code):
                messages = prompt.render(text=mask_pii(texts[i])[:max_chars])
                scores = client.label_logprobs(messages, asking.prefix, asking.labels)
                logits[i, k] = scores[asking.labels[0]] - scores[asking.labels[1]]
                bar.advance(task)
    return logits


def llm_positive_proba(
    texts: Sequence[str], langs: Sequence[str], settings: Settings, *, max_chars: int = 300
) -> np.ndarray:
    """P(positive) per text from `llm_label_logits`, combined by `positive_from_logits`."""
    return positive_from_logits(llm_label_logits(texts, langs, settings, max_chars=max_chars))


def positive_from_logits(logits: np.ndarray) -> np.ndarray:
    """The sigmoid of each row's mean label log-odds over its language's askings (NaN columns skipped)."""
    return 1.0 / (1.0 + np.exp(-np.nanmean(logits, axis=1)))
