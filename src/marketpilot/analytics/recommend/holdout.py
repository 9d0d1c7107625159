"""A training window and the interactions that followed it: scores any fitted recommender."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from marketpilot.analytics.recommend.base import Recommender
from marketpilot.analytics.recommend.interactions import EVENT, ITEM, USER, WEIGHT
from marketpilot.analytics.recommend.metrics import ranking_metrics


def target_rows(test: pd.DataFrame, target_events: Sequence[str] | None = None) -> pd.DataFrame:
    """What counts as a hit. With event types, by default the strongest signal only (the event type
    with the highest weight, e.g. purchases): predicting views of products is not the goal."""
    if EVENT not in test.columns:
        return test
    if target_events is None:
        strongest = test.groupby(EVENT)[WEIGHT].max()
        target_events = list(strongest.index[strongest == strongest.max()])
    return test[test[EVENT].isin(list(target_events))]


@dataclass
class Holdout:
    """`train` is what models are fitted on; `test` holds the target interactions that followed."""

    train: pd.DataFrame
    test: pd.DataFrame
    k: int
    exclude_seen: bool = False
    max_users: int | None = None
    seed: int = 0
    _pairs: pd.DataFrame = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pairs = self.test[[USER, ITEM]].astype(str).drop_duplicates()
        if self.exclude_seen:
            seen = self.train[[USER, ITEM]].astype(str).drop_duplicates()
            pairs = pairs.merge(seen, how="left", indicator=True)
            pairs = pairs[pairs["_merge"] == "left_only"].drop(columns="_merge")
        self._pairs = pairs

    @property
    def n_test_customers(self) -> int:
        return int(self._pairs[USER].nunique())

    def customers(self, model: Recommender) -> np.ndarray:
        """Codes of the test customers the model knows (customers with training history)."""
        codes = model.user_index_.get_indexer(pd.unique(self._pairs[USER]))
        codes = np.sort(codes[codes >= 0])
        if self.max_users is not None and len(codes) > self.max_users:
            rng = np.random.default_rng(self.seed)
            codes = np.sort(rng.choice(codes, self.max_users, replace=False))
        return codes

    def truth(self, model: Recommender, users: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """(len(users), n_items) binary relevance over items the model knows, and the number of all
        relevant items per customer (unknown new products included: they count as misses)."""
        row_of = pd.Series(np.arange(len(users)), index=model.user_index_[users])
        pairs = self._pairs[self._pairs[USER].isin(row_of.index)]
        rows = row_of.reindex(pairs[USER]).to_numpy()
        n_relevant = np.bincount(rows, minlength=len(users))
        cols = model.item_index_.get_indexer(pairs[ITEM])
        known = cols >= 0
        truth = sp.csr_matrix(
            (np.ones(known.sum(), dtype=np.float32), (rows[known], cols[known])),
            shape=(len(users), len(model.item_index_)),
        )
        return truth, n_relevant

    def item_share(self, model: Recommender) -> np.ndarray:
        return model.popularity_ / max(len(model.user_index_), 1)

    def evaluate(self, model: Recommender) -> dict[str, float]:
        users = self.customers(model)
        if not len(users):
            return {}
        truth, n_relevant = self.truth(model, users)
        items, _ = model.top_k(users, self.k, exclude_seen=self.exclude_seen)
        metrics = ranking_metrics(items, truth, n_relevant, self.k, self.item_share(model))
        metrics["users"] = float(len(users))
        return metrics
