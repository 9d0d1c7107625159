"""The Chinese e5 head with and without English training rows (train.HEAD_EXTRA_LANGS), out of domain
and in domain. For each cross-source protocol, two 800-row slices of its test permutation; the head
learns from 1,000 or 2,000 of the protocol's training rows per corpus, alone or with 1,000 English rows
per English corpus (the `train` split; a different English sample per slice). In domain: the shipped
recipe (2,000 per corpus) on up to 1,000 `test` rows per corpus. About 10 minutes on 2 cores with an
empty embedding cache, seconds with a warm one.

    .venv/bin/python bench/reviews_cross_lingual.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.sentiment import embed_for_sentiment
from marketpilot.analytics.reviews.train import EXTRA_ROWS_PER_SOURCE, per_source_sample

SLICE = 800


def accuracy(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, gold: np.ndarray) -> float:
    head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(x, y)
    return float(np.mean(head.predict(x_test) == gold))


def with_and_without(
    fit: pd.DataFrame, english: pd.DataFrame, x_test: np.ndarray, gold: np.ndarray
) -> tuple[float, float]:
    x_fit, x_en = embed_for_sentiment(fit.text.tolist()), embed_for_sentiment(english.text.tolist())
    alone = accuracy(x_fit, fit.label.to_numpy(), x_test, gold)
    both = accuracy(
        np.vstack([x_fit, x_en]), np.concatenate([fit.label, english.label]).astype(int), x_test, gold
    )
    return alone, both


def main() -> None:
    zh, en = corpora.load("zh"), corpora.load("en")
    en_train = en[en.split == "train"]
    for seed in (0, 1):
        english = per_source_sample(en_train, EXTRA_ROWS_PER_SOURCE, seed)
        for protocol in corpora.PROTOCOLS:
            train, _, test = corpora.protocol_split(zh, "zh", protocol)
            batch = test.sample(frac=1.0, random_state=0).iloc[seed * SLICE : (seed + 1) * SLICE]
            x_test, gold = embed_for_sentiment(batch.text.tolist()), batch.label.to_numpy()
            figures = []
            for per in (1000, 2000):
                alone, both = with_and_without(per_source_sample(train, per, seed), english, x_test, gold)
                figures.append(f"{per}/corpus: {alone:.3f} -> {both:.3f} ({100 * (both - alone):+.1f})")
            print(f"[{protocol}, rows {seed * SLICE}-{(seed + 1) * SLICE}] " + "; ".join(figures), flush=True)
    train, _ = corpora.shipped_training(zh)
    held = per_source_sample(zh[zh.split == "test"], 1000)
    x_held = embed_for_sentiment(held.text.tolist())
    alone, both = with_and_without(
        per_source_sample(train, 2000),
        per_source_sample(en_train, EXTRA_ROWS_PER_SOURCE),
        x_held,
        held.label.to_numpy(),
    )
    print(f"[in domain, {len(held)} test rows] {alone:.4f} -> {both:.4f}")


if __name__ == "__main__":
    main()
