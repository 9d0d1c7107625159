"""Rated opinion words as one-word training rows for the fast mode's n-grams: for Chinese, jieba's
dictionary words labelled by an e5 head; for English, the VADER lexicon's human-rated words.

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

English has no batch adaptation and no dictionary with opinion tags, but VADER (MIT, copied into
data/reviews_en/) lists 7,520 tokens with the mean valence ten people gave them; its alphabetic words
at least `MIN_VALENCE` from neutral (6,540) are taken as they are. Measured by
`bench/reviews_en_words.py`: +0.3 to +3.6 points on each English source held out of training, +0.3 in
domain.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import corpora

OPINION_TAGS = frozenset({"a", "ad", "an", "v", "vn", "vd", "i", "l", "z", "d"})
MIN_FREQ = 20
PER_CLASS = 1000
SOURCE = "e5_lexicon"
VADER_FILE = "vader_lexicon.txt"
VADER_SOURCE = "vader_lexicon"
MIN_VALENCE = 0.5
SOURCES = (SOURCE, VADER_SOURCE)


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


def vader_rows(root: Path | None = None, min_valence: float = MIN_VALENCE) -> pd.DataFrame:
    """text, label, source: VADER's alphabetic words (emoticons and symbols left out) whose mean rating
    is at least `min_valence` from neutral, labelled by its sign, in file order, each once."""
    path = corpora.data_root(root) / "reviews_en" / VADER_FILE
    table = pd.read_csv(
        path,
        sep="\t",
        header=None,
        usecols=[0, 1],
        names=["text", "valence"],
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
    ).drop_duplicates("text")  # a few tokens are listed twice, with the same rating
    words = table[table.text.str.fullmatch(r"[a-z][a-z'\-]+") & (table.valence.abs() >= min_valence)]
    return pd.DataFrame(
        {"text": words.text, "label": (words.valence > 0).astype(int), "source": VADER_SOURCE}
    ).reset_index(drop=True)


def word_rows(
    lang: corpora.Lang, head: tuple[np.ndarray, float] | None, root: Path | None = None
) -> pd.DataFrame | None:
    """The rated words `lang`'s fast-mode n-grams learn from: Chinese, jieba's words rated by `head`
    (coef, intercept of an e5 head; None without one); English, VADER's."""
    if lang == "en":
        return vader_rows(root)
    return lexicon_rows(*head) if head is not None else None
