"""Does ALS rank as well with fewer sweeps and CG steps? Recall/NDCG@K for each setting on the three
evaluation data sets (the protocols of tests/analytics/recommend/test_recommend_evaluate.py):
Online Retail and the generated event-typed shop with a 30-day time split (K=20, repeats count),
MovieLens-100k with a random 80/20 split (K=10, unseen items only).

    .venv/bin/python bench/als_settings.py

It justifies the library defaults (10 iterations, 2 CG steps), which the 1M-customer speed bench uses.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from marketpilot.analytics.recommend.base import get_recommender
from marketpilot.analytics.recommend.holdout import Holdout
from marketpilot.analytics.recommend.interactions import read_interactions
from marketpilot.analytics.recommend.split import random_split, time_split
from marketpilot.data.sample import generate_shop

DATA = Path(__file__).resolve().parents[1] / "data"
# (factors, regularization): both points of the tuning grid that win somewhere, and the default.
MODELS = [(32, 1.0), (128, 0.05), (64, 0.05)]
SOLVERS = [(15, 3), (15, 2), (10, 2), (8, 2)]  # (iterations, cg_steps); 15 × 3 is implicit's default


def data_sets() -> dict[str, tuple[pd.DataFrame, pd.DataFrame, bool, int]]:
    retail = read_interactions(
        DATA / "samples" / "online_retail.csv.gz",
        user_col="CustomerID",
        item_col="StockCode",
        time_col="InvoiceDate",
        quantity_col="Quantity",
        item_pattern="[0-9]{2}",
    )
    events = pd.read_parquet(generate_shop(Path(tempfile.mkdtemp()), customers=2000, seed=1)["events"])
    shop = events[["customer_id", "product_id", "occurred_at", "event_type"]].assign(
        weight=events["event_type"].map({"view": 1.0, "cart": 3.0, "purchase": 5.0})
    )
    raw = pd.read_csv(DATA / "ml100k" / "ml-100k.inter", sep="\t")
    raw.columns = [c.split(":")[0] for c in raw.columns]
    movielens = pd.DataFrame(
        {
            "customer_id": raw["user_id"].astype(str),
            "product_id": raw["item_id"].astype(str),
            "occurred_at": pd.to_datetime(raw["timestamp"], unit="s"),
        }
    )
    return {
        "online_retail": (*time_split(retail, test_days=30), False, 20),
        "shop_events": (*time_split(shop, test_days=30), False, 20),
        "movielens_100k": (*random_split(movielens, test_fraction=0.2, seed=0), True, 10),
    }


def main() -> None:
    print("| data | factors | reg | iterations | cg_steps | Recall@K | NDCG@K |")
    print("|---|---|---|---|---|---|---|")
    for name, (train, test, exclude_seen, k) in data_sets().items():
        holdout = Holdout(train, test, k=k, exclude_seen=exclude_seen)
        for factors, reg in MODELS:
            for iterations, cg_steps in SOLVERS:
                model = get_recommender(
                    "als", factors=factors, regularization=reg, iterations=iterations, cg_steps=cg_steps
                )
                got = holdout.evaluate(model.fit(train))
                print(
                    f"| {name} | {factors} | {reg} | {iterations} | {cg_steps} | "
                    f"{got['recall']:.4f} | {got['ndcg']:.4f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
