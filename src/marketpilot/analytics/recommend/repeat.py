"""Repeat-aware baseline: what the customer already bought or looked at, topped up with popularity.

In e-commerce customers come back to what they viewed and bought (refills, favourites), so this
baseline is strong; a model is only worth running if it beats it."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd

from marketpilot.analytics.recommend.base import Recommender, register
from marketpilot.analytics.recommend.interactions import Encoded


@register("repeat")
class RepeatRecommender(Recommender):
    """The customer's own items ranked by (recency-decayed, event-weighted) history, then the most
    popular items to fill the remaining slots. History always outranks popularity."""

    param_grid: ClassVar[dict[str, list[Any]]] = {"half_life_days": [None, 14.0, 60.0]}

    def __init__(self, half_life_days: float | None = 60.0) -> None:
        self.half_life_days = half_life_days

    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        self.history_ = data.matrix(data.decayed(self.half_life_days))
        damped = self.history_.copy()
        damped.data = np.log1p(damped.data)
        popularity = np.asarray(damped.sum(axis=0)).ravel()
        # Scaled into [0, 1) so that the weakest history item still beats the most popular item.
        self.fallback_ = (popularity / (popularity.max() * 1.001 + 1e-12)).astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        history = self.history_[users].toarray()
        top = history.max(axis=1, keepdims=True)
        own = np.divide(history, top, out=np.zeros_like(history), where=top > 0)
        return np.where(history > 0, 1.0 + own, self.fallback_[None, :]).astype(np.float32)

    def _cold_scores(self, segments: np.ndarray | None) -> np.ndarray:
        return self.fallback_[None, :].copy()
