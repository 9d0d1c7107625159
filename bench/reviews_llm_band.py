"""How far does the LLM pass carry sentiment on a source never trained on? The embedded model labels
every row of a fixed test sample; the hashed n-gram model (fast-mode recipe, trained on the protocol's
training rows only) hands the LLM its uncertain rows for several widths of the uncertainty band.

    .venv/bin/python bench/reviews_llm_band.py [--protocol unseen_source] [--rows 200]

Prints the LLM's own accuracy and speed, then per band: share of rows sent, n-gram accuracy on the rest,
and the accuracy of the mix.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.llm_pass import refine_with_llm
from marketpilot.analytics.reviews.sentiment import NgramSentiment
from marketpilot.config import get_settings

BANDS = (0.15, 0.25, 0.35, 0.45)


def protocol_sample(description: str) -> tuple[str, pd.DataFrame, list[str], np.ndarray]:
    """(protocol, its training rows, sample texts, sample gold labels) from --protocol / --rows; the
    same fixed sample in every LLM sentiment experiment, so their figures compare row for row."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--protocol", default="unseen_source", choices=corpora.PROTOCOLS)
    parser.add_argument("--rows", type=int, default=200)
    args = parser.parse_args()
    train, _, test = corpora.protocol_split(corpora.load("zh"), "zh", args.protocol)
    sample = test.sample(min(args.rows, len(test)), random_state=1)
    return args.protocol, train, sample.text.tolist(), sample.label.to_numpy() == 1


def main() -> None:
    protocol, train, texts, gold = protocol_sample(__doc__.splitlines()[0])
    p_ngram = NgramSentiment("zh", C=10.0).fit(train.text, train.label).predict_proba(texts)[:, 1]

    settings = get_settings(tempfile.mkdtemp(), llm_provider="llamacpp")
    started = time.perf_counter()
    everything = np.full(len(texts), 0.5)  # band 0.6 around 0.5 sends every row
    p_llm, decided = refine_with_llm(texts, everything, ["zh"] * len(texts), settings, band=0.6)
    seconds = time.perf_counter() - started
    print(
        f"[{protocol}] {len(texts)} rows; LLM decided {len(decided)}, accuracy "
        f"{np.mean((p_llm[decided] > 0.5) == gold[decided]):.4f}, {len(texts) / seconds:.2f} reviews/s; "
        f"n-gram accuracy {np.mean((p_ngram > 0.5) == gold):.4f}"
    )
    for band in BANDS:
        unsure = np.abs(p_ngram - 0.5) < band
        mixed = np.where(unsure, p_llm, p_ngram)
        rest = np.mean((p_ngram > 0.5)[~unsure] == gold[~unsure])
        print(
            f"band {band}: {unsure.mean():.3f} of rows to the LLM, n-gram accuracy on the rest "
            f"{rest:.4f}, mix {np.mean((mixed > 0.5) == gold):.4f}"
        )


if __name__ == "__main__":
    main()
