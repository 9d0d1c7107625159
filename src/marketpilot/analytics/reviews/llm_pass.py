"""The LLM's opinion of a review's sentiment, two ways (PII-masked, inside <data> delimiters).

- `refine_with_llm`: a second opinion for the reviews the n-gram model is unsure about. Only reviews
  whose P(positive) lies within `band` of 0.5 are sent, one per request; the rest keep the fast
  model's answer, so the cost scales with uncertainty, not with volume. A failed request keeps the
  model's answer too.
- `llm_positive_proba`: a calibrated P(positive) for every review from the model's probabilities of
  writing "pos" or "neg" first (`Client.label_logprobs`), one prompt evaluation each and no sampling.
  Out of domain this is the best single scorer measured here (docs/review-insight.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

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


def llm_positive_proba(
    texts: Sequence[str], langs: Sequence[str], settings: Settings, *, max_chars: int = 300
) -> np.ndarray:
    """P(positive) per text: sigmoid of log P("pos") − log P("neg") after the review_sentiment prompt,
    with a progress bar on stderr. Texts are taken language by language so the embedded model reuses
    the prompt's cached prefix; the first failed request stops the run (a partial score is no score)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from marketpilot.llm import get_client, load_prompt

    p_pos = np.full(len(texts), 0.5)
    order = sorted(range(len(texts)), key=lambda i: langs[i] != "zh")
    columns = (TextColumn("LLM sentiment"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        get_client(settings) as client,
        Progress(*columns, console=Console(stderr=True), transient=True) as bar,
    ):
        task = bar.add_task("", total=len(order))
        for i in order:
            prompt = load_prompt("review_sentiment", "zh" if langs[i] == "zh" else "en")
            messages = prompt.render(text=mask_pii(texts[i])[:max_chars])
            scores = client.label_logprobs(messages, LABEL_PREFIX, ("pos", "neg"))
            p_pos[i] = 1.0 / (1.0 + np.exp(scores["neg"] - scores["pos"]))
            bar.advance(task)
    return p_pos
