"""Review sentiment throughput: the shipped n-gram model on 100k real reviews (alone and adapted to
the batch, as the fast mode runs by default), accurate mode (e5), adapting accurate-mode scores to a
batch, the LLM pass and the llm mode's label scoring with the configured (by default embedded) model,
and aspect extraction.

    .venv/bin/python bench/reviews_bench.py [--rows 100000] [--llm-sample 8] [--embed-sample 200]
        [--adapt-rows 2000]
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import aspect_mentions, corpora, load_model
from marketpilot.analytics.reviews.adapt import adapt_to_batch
from marketpilot.analytics.reviews.llm_pass import llm_positive_proba, refine_with_llm
from marketpilot.analytics.reviews.sentiment import embed_for_sentiment
from marketpilot.config import get_settings


def _real_reviews(rows: int) -> list[str]:
    """`rows` real reviews (80% Chinese, 20% English), cycling the bundled corpora."""
    zh = corpora.load_zh().text.to_numpy()
    en = corpora.load_en().text.to_numpy()
    n_zh = int(rows * 0.8)
    return np.concatenate([np.resize(zh, n_zh), np.resize(en, rows - n_zh)]).tolist()


def _peak_rss() -> str:
    return f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} reviews/s ({n:,} in {seconds:.2f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--llm-sample", type=int, default=8)
    parser.add_argument("--embed-sample", type=int, default=200)
    parser.add_argument("--adapt-rows", type=int, default=2000, help="Chinese reviews to adapt to (0: skip)")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}")
    texts = _real_reviews(args.rows)
    model = load_model()
    model.predict(texts[:1000])  # warm-up: imports, first allocation
    start = time.perf_counter()
    out = model.predict(texts, adapt=False)
    print(
        "sentiment fast (n-gram classifier alone, --no-adapt):",
        _rate(len(texts), time.perf_counter() - start),
        f"pos share {np.mean(out.label == 'pos'):.2f},",
        _peak_rss(),
    )
    start = time.perf_counter()
    adapted = model.predict(texts)
    print(
        "sentiment fast, adapted to the batch (the default; Chinese rows self-train, 2 folds):",
        _rate(len(texts), time.perf_counter() - start),
        f"{np.mean(adapted.label != out.label):.1%} of labels changed,",
        _peak_rss(),
    )

    if args.embed_sample:
        sample = texts[: args.embed_sample]
        start = time.perf_counter()
        model.predict(sample, mode="accurate")
        print(
            "sentiment accurate (0.2 n-gram + 0.8 e5, embedding cache on):",
            _rate(len(sample), time.perf_counter() - start),
        )

    if args.adapt_rows:
        # Every text is embedded first (cached on disk after the first run); only the adaptation is timed.
        batch = texts[: args.adapt_rows]
        p_base, _ = model.positive_proba(batch, lang="zh", mode="accurate", adapt=False)
        embeddings = embed_for_sentiment(batch)
        start = time.perf_counter()
        adapted = adapt_to_batch(batch, embeddings, p_base, "zh")
        print(
            "adapting accurate mode to the batch (self-training, 5 folds):",
            _rate(len(batch), time.perf_counter() - start),
            f"{np.mean((adapted >= 0.5) != (p_base >= 0.5)):.1%} of labels changed",
        )

    frame = pd.DataFrame({"review_id": [str(i) for i in range(20_000)], "text": texts[:20_000]})
    start = time.perf_counter()
    mentions = aspect_mentions(frame)
    print("aspects (lexicon):", _rate(len(frame), time.perf_counter() - start), f"{len(mentions):,} mentions")

    if args.llm_sample:
        settings = get_settings()
        p_pos, langs = model.positive_proba(texts[:5000])
        unsure = np.flatnonzero(np.abs(p_pos - 0.5) < 0.15)[: args.llm_sample]
        start = time.perf_counter()
        _, decided = refine_with_llm([texts[i] for i in unsure], p_pos[unsure], langs[unsure], settings)
        elapsed = time.perf_counter() - start
        print(f"LLM pass ({settings.llm_provider}):", _rate(len(unsure), elapsed), f"{len(decided)} decided")
        print(f"uncertain share (|p-0.5|<0.15) on these reviews: {np.mean(np.abs(p_pos - 0.5) < 0.15):.1%}")
        # Reviews from the middle of the Chinese part: the same kind of text the llm mode sees.
        picked = texts[5000 : 5000 + args.llm_sample]
        start = time.perf_counter()
        llm_positive_proba(picked, ["zh"] * len(picked), settings)
        print(
            f"llm mode label scoring ({settings.llm_provider}):",
            _rate(len(picked), time.perf_counter() - start),
        )


if __name__ == "__main__":
    main()
