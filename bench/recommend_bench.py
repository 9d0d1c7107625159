"""ALS at shop scale: fit on 1M customers × 100k products × 10M interactions, then top-20 for every
customer, through the same library path the CLI uses (string ids in a DataFrame → ALSRecommender).

Interactions are generated here with numpy: product popularity follows a power law (Zipf-like, as in
real catalogues: a few best-sellers, a long tail) and customer activity is heavy-tailed too.

    .venv/bin/python bench/recommend_bench.py [--customers N --products N --interactions N]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np
import pandas as pd

from marketpilot.analytics.recommend import ALSRecommender


def power_law(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return rng.permutation(weights / weights.sum())


def synthetic_interactions(customers: int, products: int, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.choice(customers, size=rows, p=power_law(customers, 0.5, rng)).astype(np.int64)
    items = rng.choice(products, size=rows, p=power_law(products, 0.9, rng)).astype(np.int64)
    user_ids = np.array([f"C{i:07d}" for i in range(customers)], dtype=object)
    item_ids = np.array([f"P{i:06d}" for i in range(products)], dtype=object)
    start = np.datetime64("2024-01-01T00:00:00", "s")
    seconds = rng.integers(0, 365 * 86400, size=rows).astype("timedelta64[s]")
    return pd.DataFrame(
        {
            "customer_id": user_ids[users],
            "product_id": item_ids[items],
            "occurred_at": start + seconds,
            "weight": rng.choice([1.0, 3.0, 5.0], size=rows, p=[0.7, 0.2, 0.1]),
        }
    )


class Clock:
    """Wall and CPU seconds (all threads of this process) per phase: on a shared machine the CPU
    figure is what the work costs, the wall figure what it took with the others running."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self, label: str) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        spent = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        print(f"{label}: wall {spent[0]:.1f} s, CPU {spent[1]:.1f} s")
        return spent


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--interactions", type=int, default=10_000_000)
    defaults = ALSRecommender()  # the library's own settings unless asked otherwise
    parser.add_argument("--factors", type=int, default=defaults.factors)
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument("--cg-steps", type=int, default=defaults.cg_steps)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()

    print(f"machine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores")
    print(f"load average before: {os.getloadavg()[0]:.1f} (other processes compete for the cores)")
    clock = Clock()
    frame = synthetic_interactions(args.customers, args.products, args.interactions)
    clock.lap(f"generate {len(frame):,} interactions")

    model = ALSRecommender(factors=args.factors, iterations=args.iterations, cg_steps=args.cg_steps)
    model.fit(frame)
    seen = model.seen_
    fit_wall, fit_cpu = clock.lap(
        f"fit ALS ({args.factors} factors, {args.iterations} iterations of {args.cg_steps} CG steps) on "
        f"{seen.shape[0]:,} customers × "
        f"{seen.shape[1]:,} products, {seen.nnz:,} distinct pairs"
    )
    items, _ = model.top_k(np.arange(seen.shape[0]), args.k, exclude_seen=True)
    assert (items >= 0).all()
    rank_wall, rank_cpu = clock.lap(f"top-{args.k} for all {seen.shape[0]:,} customers")
    print(f"fit + top-{args.k}: wall {fit_wall + rank_wall:.1f} s, CPU {fit_cpu + rank_cpu:.1f} s")
    print(f"peak RSS: {peak_rss_gib():.2f} GiB; load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
