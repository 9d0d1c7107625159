"""Optional LLM second opinion for the reviews the n-gram model is unsure about.

Only reviews whose P(positive) lies within `band` of 0.5 are sent (PII-masked, one per request, inside
<data> delimiters); the rest keep the fast model's answer, so the cost scales with uncertainty, not
with volume. A failed request keeps the model's answer too.
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
