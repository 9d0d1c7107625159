"""VADER's rated words as extra rows for the English fast mode (docs/review-insight.md).

    .venv/bin/python bench/reviews_en_words.py [--valence 0.5,1,2] [--repeat 3]

The English n-grams (words 1–2) know only the words of four small corpora and the LLM-written
reviews. VADER (MIT, data/reviews_en/vader_lexicon.txt) rates 7,520 tokens by ten people each; its
alphabetic words at least a valence threshold from neutral join the training rows as one-word
reviews (`lexicon.vader_rows`). Each English source is held out in turn (trained on the others'
`train` rows plus the synthetic reviews, C chosen on their `valid` rows as train.py chooses it,
scored on all of the held-out source's rows), then the shipped split (`test` rows of every corpus).
amazon2018 is 97 % positive, so it is never the held-out source. About 6 minutes on 2 cores;
nothing is embedded. The shipped rows are the `valence 0.5` variant.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.lexicon import vader_rows
from marketpilot.analytics.reviews.sentiment import NgramSentiment
from marketpilot.analytics.reviews.train import choose_c

HELD_OUT = ("uci_amazon_cells", "uci_yelp", "uci_imdb")


def splits(df: pd.DataFrame, held: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if held == "in domain":
        train, valid = corpora.shipped_training(df)
        return train, valid, df[df.split == "test"]
    rest = df[df.source != held]
    return rest[rest.split == "train"], rest[rest.split == "valid"], df[df.source == held]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--valence", default="0.5,1,2", help="valence thresholds, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="also each row repeated N times (N <= 1: not)")
    args = parser.parse_args()
    start = time.perf_counter()
    df = corpora.load("en")
    variants = {"none": vader_rows().iloc[:0]}
    for threshold in (float(v) for v in args.valence.split(",")):
        variants[f"valence {threshold:g}"] = vader_rows(min_valence=threshold)
        if args.repeat > 1:
            variants[f"valence {threshold:g}, each {args.repeat}x"] = pd.concat(
                [variants[f"valence {threshold:g}"]] * args.repeat
            )
    for held in (*HELD_OUT, "in domain"):
        train, valid, test = splits(df, held)
        train = corpora.with_synthetic(train, df, "en")[["text", "label"]]
        for name, words in variants.items():
            fit = pd.concat([train, words[["text", "label"]]], ignore_index=True)
            y_fit, y_valid = fit.label.to_numpy(), valid.label.to_numpy()
            c, _ = choose_c("en", fit.text, y_fit, valid.text, y_valid)
            model = NgramSentiment("en", C=c).fit(fit.text, y_fit)
            accuracy = float(np.mean(model.predict(test.text) == test.label.to_numpy()))
            print(
                f"[{held}] {name}: {len(words)} word rows, C={c:g}, accuracy {accuracy:.4f} on {len(test)}"
                f" ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
