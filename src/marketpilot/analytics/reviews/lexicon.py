"""Opinion words from jieba's dictionary, labelled by an e5 head, as one-word training rows for the
fast mode's Chinese n-grams.

The n-grams know only the words of their training corpora; a shop selling clothes or phones uses
opinion words ("掉色", "起球", "卡顿") that waimai and hotel reviews never contain. jieba's dictionary
(MIT, installed with jieba) lists 349k words with part-of-speech tags; its adjectives, verbs,
idioms and adverbs of 2–4 characters seen at least 20 times (20,817 words) are embedded once
(cached), the e5 head trained on reviews gives each a P(positive), and the `PER_CLASS` most positive
and most negative words join the training rows. A rank per class rather than a probability band:
the head calls most single words negative (a band of 0.3 keeps 81–93 % negatives), and the
unbalanced lists gained nothing. Measured by `bench/reviews_fast_lexicon.py` (docs/review-insight.md):
with the batch adaptation +0.4 to +2.7 points on four cross-source protocols and +0.1 in domain;
without it (batches under 1,000 reviews) −0.5 to +0.5.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OPINION_TAGS = frozenset({"a", "ad", "an", "v", "vn", "vd", "i", "l", "z", "d"})
MIN_FREQ = 20
PER_CLASS = 1000
SOURCE = "e5_lexicon"


def opinion_vocabulary(min_freq: int = MIN_FREQ) -> list[str]:
    """jieba's dictionary words of 2–4 characters with an opinion-bearing tag, in dictionary order."""
    import jieba

    words = []
    for line in (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8").splitlines():
        word, freq, tag = line.split(" ")
        if tag in OPINION_TAGS and 2 <= len(word) <= 4 and int(freq) >= min_freq:
            words.append(word)
    return words


def lexicon_rows(coef: np.ndarray, intercept: float, per_class: int = PER_CLASS) -> pd.DataFrame:
    """text, label, source: the `per_class` words the head (coef, intercept on e5 embeddings) rates
    most positive and most negative; ties break by dictionary order, so the same head gives the same rows."""
    from marketpilot.analytics.reviews.sentiment import embed_for_sentiment

    words = opinion_vocabulary()
    score = embed_for_sentiment(words) @ coef + intercept
    order = np.argsort(score, kind="stable")
    picked = np.concatenate([order[:per_class], order[-per_class:]])
    return pd.DataFrame(
        {
            "text": np.asarray(words)[picked],
            "label": (np.arange(len(picked)) >= per_class).astype(int),
            "source": SOURCE,
        }
    )
