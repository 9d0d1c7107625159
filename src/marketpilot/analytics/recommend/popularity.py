"""Popularity: global, per segment, optionally recency-decayed. The baseline every model must beat,
and the cold-start answer for customers with no history."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from marketpilot.analytics.recommend.base import Recommender, register
from marketpilot.analytics.recommend.interactions import USER, Encoded, to_csr


@register("popularity")
class PopularityRecommender(Recommender):
    """Items ranked by how many customers took them (log-damped per customer, so one bulk buyer does
    not make a product "popular"). With `segment_col`, each segment gets its own ranking, shrunk
    towards the global one by `shrinkage` pseudo-customers so small segments stay sensible."""

    param_grid: ClassVar[dict[str, list[Any]]] = {"half_life_days": [None, 30.0, 120.0]}

    def __init__(
        self, half_life_days: float | None = None, segment_col: str | None = None, shrinkage: float = 20.0
    ) -> None:
        self.half_life_days = half_life_days
        self.segment_col = segment_col
        self.shrinkage = shrinkage

    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        per_customer = data.matrix(data.decayed(self.half_life_days))
        per_customer.data = np.log1p(per_customer.data)
        totals = np.asarray(per_customer.sum(axis=0)).ravel()
        self.scores_ = (totals / max(data.n_users, 1)).astype(np.float32)
        self.segment_index_ = pd.Index([])
        if self.segment_col is None:
            return
        if self.segment_col not in frame.columns:
            raise ValueError(f"segment column '{self.segment_col}' is not in the interactions")
        # A customer's segment is the one on their latest interaction.
        latest = (
            frame.sort_values("occurred_at")
            .drop_duplicates(USER, keep="last")
            .set_index(USER)[self.segment_col]
        )
        seg_codes, self.segment_index_ = pd.factorize(latest.reindex(self.user_index_).astype(str))
        self.user_segment_ = seg_codes.astype(np.int64)
        membership = to_csr(
            seg_codes,
            np.arange(data.n_users),
            np.ones(data.n_users),
            (len(self.segment_index_), data.n_users),
        )
        seg_totals = np.asarray((membership @ per_customer).todense())
        seg_sizes = np.asarray(membership.sum(axis=1))
        # Shrunk mean: (segment total + m * global rate) / (segment size + m)
        m = self.shrinkage
        self.segment_scores_ = ((seg_totals + m * self.scores_) / (seg_sizes + m)).astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        if len(self.segment_index_):
            return self.segment_scores_[self.user_segment_[users]]
        return np.broadcast_to(self.scores_, (len(users), len(self.scores_))).copy()

    def _cold_scores(self, segments: np.ndarray | None) -> np.ndarray:
        if segments is None or not len(self.segment_index_):
            return self.scores_[None, :].copy()
        codes = self.segment_index_.get_indexer(pd.Index(segments).astype(str))
        table = np.vstack([self.segment_scores_, self.scores_[None, :]])
        return table[np.where(codes >= 0, codes, len(self.segment_index_))]
