"""Decision support timings: `decide uplift` on the Hillstrom test (64,000 customers) and on it
replicated to 640,000, the budget split on 50 channels × 52 weeks (with carry-over), and matching
10,000 competitor titles to a 10,000-product catalogue.

    .venv/bin/python bench/decide_bench.py [--copies 10]

Each case runs in this process after a warm-up import; peak RSS is the process's (`ru_maxrss`).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from marketpilot.analytics.budget import HistoryFile, plan_budget
from marketpilot.analytics.matching import match_titles
from marketpilot.analytics.uplift import Experiment, fit_experiment
from marketpilot.config import get_settings

DATA = Path(__file__).resolve().parents[1] / "data" / "hillstrom" / "hillstrom.csv.gz"
RETAIL = Path(__file__).resolve().parents[1] / "data" / "samples" / "online_retail.csv.gz"
FEATURES = ["recency", "history_segment", "history", "mens", "womens", "zip_code", "newbie", "channel"]


def _uplift(path: Path, home: Path) -> tuple[float, int]:
    experiment = Experiment(
        path=path, treatment_col="segment", control="No E-Mail", outcome_col="visit", features=FEATURES
    )
    start = time.perf_counter()
    report = fit_experiment(experiment, get_settings(home))
    return time.perf_counter() - start, report.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="Hillstrom copies for the large case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        seconds, rows = _uplift(DATA, root / "home1")
        print(f"uplift, Hillstrom ({rows:,} rows): {seconds:.1f} s (held-out judging, refit, scores, chart)")
        big = pd.concat([pd.read_csv(DATA)] * args.copies, ignore_index=True)
        big.to_parquet(root / "big.parquet", index=False)
        seconds, rows = _uplift(root / "big.parquet", root / "home2")
        rate = rows / seconds
        print(f"uplift, Hillstrom × {args.copies} ({rows:,} rows): {seconds:.1f} s, {rate:,.0f} rows/s")

        rng = np.random.default_rng(0)
        weeks = []
        for channel in range(50):
            a, b = rng.uniform(1e4, 1e5), rng.uniform(1e3, 2e4)
            for _ in range(52):
                spend = b * rng.uniform(0.2, 1.6)
                weeks.append(
                    (f"渠道{channel:02d}", spend, a * (1 - np.exp(-spend / b)) * rng.normal(1, 0.05))
                )
        history = pd.DataFrame(weeks, columns=["channel", "spend", "revenue"])
        history.assign(week=history.groupby("channel").cumcount()).to_csv(root / "h.csv", index=False)
        for period_col in (None, "week"):
            start = time.perf_counter()
            plan = plan_budget(
                HistoryFile(path=root / "h.csv", period_col=period_col),
                300_000.0,
                settings=get_settings(root / "home3"),
            )
            seconds = time.perf_counter() - start
            split = plan.allocation
            print(
                f"budget, 50 channels × 52 weeks{', carry-over fitted' if period_col else ''}: "
                f"{seconds:.2f} s (fit, split, chart); expected {split.expected_outcome:,.0f} vs today's "
                f"split {split.current_split_outcome:,.0f}"
            )
        _matching(rng)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def _matching(rng: np.random.Generator) -> None:
    """The Online Retail product names in three colours (about 11,700 products); 10,000 of them as
    listing titles with a selling word and two words swapped."""
    names = pd.read_csv(RETAIL, usecols=["Description"])["Description"].dropna().unique()
    catalogue = pd.DataFrame(
        {"name": [f"{n} {colour}" for colour in ("RED", "BLUE", "GREEN") for n in names]}
    ).assign(product_id=lambda f: [f"P{i}" for i in range(len(f))])
    titles = []
    for name in catalogue["name"].sample(10_000, random_state=0):
        words = name.lower().split()
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
        titles.append("free delivery " + " ".join(words))
    _time_matching("title matching", pd.Series(titles), catalogue)
    # The same with 300 brands, each title's brand in a column: candidates are limited per brand.
    brands = pd.Series([f"brand{k}" for k in rng.integers(0, 300, len(catalogue))])
    branded = catalogue.assign(brand=brands, name=brands + " " + catalogue["name"])
    sample = branded.sample(10_000, random_state=0)
    titles = "free delivery " + sample["name"].str.lower()
    _time_matching("with a brand column", pd.Series(titles), branded, brands=sample["brand"])


def _time_matching(label: str, titles: pd.Series, catalogue: pd.DataFrame, **kwargs: object) -> None:
    start = time.perf_counter()
    matches = match_titles(titles, catalogue, **kwargs)  # type: ignore[arg-type]
    seconds = time.perf_counter() - start
    matched = (matches["status"] == "matched").mean()
    print(
        f"{label}, {len(titles):,} titles × {len(catalogue):,} products: {seconds:.1f} s "
        f"({len(titles) / seconds:,.0f} titles/s), {matched:.1%} matched"
    )


if __name__ == "__main__":
    main()
