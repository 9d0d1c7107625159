"""The fast mode adapted to the batch it scores (`adapt.adapt_fast`): what it gains, where it loses.

    .venv/bin/python bench/reviews_fast_adapt.py

Per protocol, the fast-mode recipe (NB-weighted n-gram LR, C chosen on the protocol's `valid` rows)
fitted on the protocol's training rows scores every test row as one batch; then the batch's own
n-gram model (self-training on its most confident rows, out-of-fold) is averaged in:
- `shipped`: `adapt_fast` as it runs (2 folds, no class weights), Chinese only in the product;
- `balanced`: the same with class-balanced weights (what the accurate mode's batch model uses);
- `5 folds`: the same with five folds;
- `n=1000`, `n=2000`: the mean gain over four random batches of that size.
Protocols: those of bench/reviews_ngram_variants.py (four Chinese cross-source ones and in domain) and,
for English, two more whose test batches pass `adapt.MIN_ROWS`: Amazon 2018 reviews → the UCI
sentences and the reverse (97 % positive). About 5 minutes on 2 cores; nothing is embedded.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy import sparse

from marketpilot.analytics.reviews import adapt, corpora
from marketpilot.analytics.reviews.sentiment import NgramSentiment, make_vectorizer
from marketpilot.analytics.reviews.train import choose_c
from reviews_ngram_variants import protocols  # bench/ is on the path when this script runs


def fit_recipe(lang: corpora.Lang, train: pd.DataFrame, valid: pd.DataFrame) -> NgramSentiment:
    c, _ = choose_c(lang, train.text, train.label.to_numpy(), valid.text, valid.label.to_numpy())
    return NgramSentiment(lang, C=c).fit(train.text, train.label)


def variant(
    features: sparse.csr_matrix, p_base: np.ndarray, lang: corpora.Lang, folds: int, class_weight: str | None
) -> np.ndarray:
    """`adapt_fast`'s recipe with its knobs exposed (and no language or size gate)."""
    chosen = adapt.pseudo_labelled(p_base)
    labels = (p_base >= 0.5).astype(np.int64)
    fold = np.arange(len(p_base)) % folds
    p_batch = p_base.copy()
    for k in range(folds):
        fit = chosen[fold[chosen] != k]
        scored = np.flatnonzero(fold == k)
        batch = NgramSentiment(lang, class_weight=class_weight).fit_features(features[fit], labels[fit])
        p_batch[scored] = batch.positive_features(features[scored])
    return (p_base + p_batch) / 2


def print_row(row: dict[str, object], start: float) -> None:
    """One protocol's figures on a line, as they come (the table follows at the end)."""
    print(
        " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
        f"({time.perf_counter() - start:.0f} s)",
        flush=True,
    )


def english_protocols(df: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    uci = df.source.str.startswith("uci")
    out = {}
    for name, fit, test in [("amazon->uci", ~uci, uci), ("uci->amazon", uci, ~uci)]:
        rest = df[fit]
        out[name] = (rest[rest.split == "train"], rest[rest.split == "valid"], df[test])
    return out


def main() -> None:
    rows = []
    for lang in ("zh", "en"):
        df = corpora.load(lang)
        cases = protocols(df, lang) | (english_protocols(df) if lang == "en" else {})
        vectorizer = make_vectorizer(lang, 2**20)
        for name, (train, valid, test) in cases.items():
            start = time.perf_counter()
            recipe = fit_recipe(lang, train, valid)
            features = vectorizer.transform(test.text.tolist())
            p = recipe.positive_features(features)
            gold = test.label.to_numpy() == 1

            def acc(q: np.ndarray, at: np.ndarray | slice = slice(None)) -> float:
                return float(np.mean((q >= 0.5) == gold[at]))  # noqa: B023

            row = {"lang": lang, "protocol": name, "rows": len(test), "positive": gold.mean(), "fast": acc(p)}
            row["shipped"] = acc(variant(features, p, lang, adapt.FAST_FOLDS, None))
            row["balanced"] = acc(variant(features, p, lang, adapt.FAST_FOLDS, "balanced"))
            row["5 folds"] = acc(variant(features, p, lang, 5, None))
            for n in (1000, 2000):
                gains = []
                for seed in range(4):
                    at = np.random.default_rng(seed).choice(len(test), min(n, len(test)), replace=False)
                    adapted = variant(features[at], p[at], lang, adapt.FAST_FOLDS, None)
                    gains.append(acc(adapted, at) - acc(p[at], at))
                row[f"gain n={n}"] = float(np.mean(gains))
            rows.append(row)
            print_row(row, start)
    print("\n" + pd.DataFrame(rows).round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()
