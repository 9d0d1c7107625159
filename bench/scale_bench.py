"""Ray scale-out: review sentiment (fast mode, each review on its own) over a Parquet file of real
reviews, single process against `marketpilot.scale` on a local Ray with every CPU, end to end (read,
score, write). On one small machine Ray mostly adds overhead; the figure to watch is how it grows
with CPUs and machines (`--address` joins a cluster).

    .venv/bin/python bench/scale_bench.py [--rows 400000] [--address ADDR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from marketpilot.analytics.reviews import corpora, load_model
from marketpilot.scale.runtime import ray_session
from marketpilot.scale.sentiment import score_file_ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--address", default=None, help="a Ray cluster to join instead of a local one")
    args = parser.parse_args()
    zh, en = corpora.load_zh().text.to_numpy(), corpora.load_en().text.to_numpy()
    n_zh = int(args.rows * 0.8)
    texts = np.concatenate([np.resize(zh, n_zh), np.resize(en, args.rows - n_zh)])
    print(f"{args.rows:,} real reviews (80 % Chinese) on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "reviews.parquet"
        pd.DataFrame({"review": texts}).to_parquet(source)

        start = time.perf_counter()
        frame = pd.read_parquet(source)
        scored = load_model().predict(frame["review"].tolist(), adapt=False)
        frame.assign(label=scored.label, probability=scored.probability).to_parquet(Path(tmp) / "one.parquet")
        single = time.perf_counter() - start
        print(f"single process: {args.rows / single:,.0f} reviews/s ({single:.1f} s)")

        start = time.perf_counter()
        with ray_session(args.address) as ray:
            started = time.perf_counter() - start
            cpus = int(ray.available_resources().get("CPU", 0))
            summary = score_file_ray(source, "review", Path(tmp) / "ray", address=args.address)
        total = time.perf_counter() - start
        assert summary.rows == args.rows
        print(
            f"Ray ({cpus} CPUs): {args.rows / total:,.0f} reviews/s end to end ({total:.1f} s, of which "
            f"{started:.1f} s starting Ray); {args.rows / (total - started):,.0f} reviews/s once running"
        )


if __name__ == "__main__":
    main()
