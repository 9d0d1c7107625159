"""What the LLM-written reviews (data/reviews_zh/synthetic_llm.jsonl.gz) do for the fast mode.

    .venv/bin/python bench/reviews_synthetic.py

Per Chinese protocol of bench/reviews_ngram_variants.py (C chosen on the protocol's `valid` rows
without them), the fast-mode recipe fitted on the protocol's training rows, then on those plus the
synthetic reviews (`corpora.with_synthetic`), each scored alone and adapted to the test rows
(`adapt.adapt_fast`'s recipe). Ablations: the synthetic rows repeated three times; without the
categories any protocol tests (图书, 笔记本电脑, 平板电脑), so that what is left shows what a category no
synthetic row names gains. About 8 minutes on 2 cores; nothing is embedded.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import adapt, corpora
from marketpilot.analytics.reviews.sentiment import NgramSentiment, make_vectorizer
from marketpilot.analytics.reviews.train import choose_c
from reviews_fast_adapt import print_row, variant  # bench/ is on the path when this script runs
from reviews_ngram_variants import protocols

TEST_CATEGORIES = ("图书", "笔记本电脑", "平板电脑")


def main() -> None:
    df = corpora.load("zh")
    synthetic = corpora.load_synthetic("zh")
    synthetic = synthetic[~synthetic.text.isin(df.text)]
    print(f"{len(synthetic)} synthetic reviews, {synthetic.label.mean():.1%} positive")
    vectorizer = make_vectorizer("zh", 2**20)
    extras = {
        "corpora only": synthetic.iloc[:0],
        "+ synthetic": synthetic,
        "+ synthetic x3": pd.concat([synthetic] * 3),
        "+ synthetic, test categories left out": synthetic[~synthetic.category.isin(TEST_CATEGORIES)],
    }
    rows = []
    for name, (train, valid, test) in protocols(df, "zh").items():
        start = time.perf_counter()
        c, _ = choose_c("zh", train.text, train.label.to_numpy(), valid.text, valid.label.to_numpy())
        features = vectorizer.transform(test.text.tolist())
        gold = test.label.to_numpy() == 1
        row: dict[str, object] = {"protocol": name, "rows": len(test)}
        for label, extra in extras.items():
            fit = pd.concat([train, extra])
            p = NgramSentiment("zh", C=c).fit(fit.text, fit.label).positive_features(features)
            adapted = variant(features, p, "zh", adapt.FAST_FOLDS, None)
            row[label] = float(np.mean((p >= 0.5) == gold))
            row[f"{label}, adapted"] = float(np.mean((adapted >= 0.5) == gold))
        rows.append(row)
        print_row(row, start)
    print("\n" + pd.DataFrame(rows).round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()
