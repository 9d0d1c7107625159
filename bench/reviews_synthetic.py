"""What the LLM-written reviews (data/reviews_<lang>/synthetic_llm.jsonl.gz) do for the fast mode.

    .venv/bin/python bench/reviews_synthetic.py [--lang zh|en] [--synthetic FILE.jsonl]

Per protocol of bench/reviews_ngram_variants.py (English: also bench/reviews_fast_adapt.py's Amazon 2018
-> UCI sentences and the reverse; C chosen on the protocol's `valid` rows without them), the fast-mode
recipe fitted on the protocol's training rows, then on those plus the synthetic reviews
(`corpora.with_synthetic`), each scored alone and adapted to the test rows (`adapt.adapt_fast`'s recipe,
which the product runs on Chinese only). Ablations: the synthetic rows repeated three times; without the
categories any protocol tests (books, notebooks, tablets; English: phones, headphones, power banks:
amazon-cells sells them), so that what is left shows what a category no synthetic row names gains.
`--synthetic` measures another file (a new run of synthesize.py) instead of the shipped one. About 8
minutes on 2 cores for Chinese, 2 for English; nothing is embedded.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import adapt, corpora
from marketpilot.analytics.reviews.sentiment import NgramSentiment, make_vectorizer
from marketpilot.analytics.reviews.train import choose_c
from reviews_fast_adapt import english_protocols, print_row, variant  # bench/ is on the path
from reviews_ngram_variants import protocols

TEST_CATEGORIES = {
    "zh": ("图书", "笔记本电脑", "平板电脑"),
    "en": ("mobile phone", "headphones", "power bank"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", choices=("zh", "en"), default="zh")
    parser.add_argument("--synthetic", type=Path, default=None, help="JSON lines from synthesize.py")
    args = parser.parse_args()
    lang = args.lang
    df = corpora.load(lang)
    synthetic = corpora.read_synthetic(args.synthetic) if args.synthetic else corpora.load_synthetic(lang)
    synthetic = synthetic[~synthetic.text.isin(df.text)]
    print(f"{len(synthetic)} synthetic reviews, {synthetic.label.mean():.1%} positive")
    vectorizer = make_vectorizer(lang, 2**20)
    extras = {
        "corpora only": synthetic.iloc[:0],
        "+ synthetic": synthetic,
        "+ synthetic x3": pd.concat([synthetic] * 3),
        "+ synthetic, test categories left out": synthetic[~synthetic.category.isin(TEST_CATEGORIES[lang])],
    }
    cases = protocols(df, lang) | (english_protocols(df) if lang == "en" else {})
    rows = []
    for name, (train, valid, test) in cases.items():
        start = time.perf_counter()
        c, _ = choose_c(lang, train.text, train.label.to_numpy(), valid.text, valid.label.to_numpy())
        features = vectorizer.transform(test.text.tolist())
        gold = test.label.to_numpy() == 1
        row: dict[str, object] = {"protocol": name, "rows": len(test)}
        for label, extra in extras.items():
            fit = pd.concat([train, extra])
            p = NgramSentiment(lang, C=c).fit(fit.text, fit.label).positive_features(features)
            adapted = variant(features, p, lang, adapt.FAST_FOLDS, None)
            row[label] = float(np.mean((p >= 0.5) == gold))
            row[f"{label}, adapted"] = float(np.mean((adapted >= 0.5) == gold))
        rows.append(row)
        print_row(row, start)
    print("\n" + pd.DataFrame(rows).round(4).to_markdown(index=False))


if __name__ == "__main__":
    main()
