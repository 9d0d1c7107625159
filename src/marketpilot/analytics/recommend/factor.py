"""Matrix factorisation via the `implicit` library (CPU): ALS (Hu, Koren & Volinsky 2008) and BPR.

implicit wants a user × item CSR of confidences. Its own multi-threaded top-K (`implicit.cpu.topk`)
ranks customers in batches, which is what makes 1M customers × 100k products fast; BLAS is pinned
to one thread while implicit runs its own threads, as implicit recommends (implicit is imported at
module level so that its BLAS library is loaded before the limit is applied).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import implicit.cpu.als
import implicit.cpu.bpr
import implicit.cpu.topk
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from marketpilot.analytics.recommend.base import Recommender, register
from marketpilot.analytics.recommend.interactions import Encoded


def default_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _FactorModel(Recommender):
    """Shared by ALS and BPR: factors learned by implicit, scoring and ranking by dot product."""

    half_life_days: float | None
    num_threads: int | None

    def _threads(self) -> int:
        return self.num_threads or default_threads()

    def _make(self) -> Any:
        raise NotImplementedError

    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        confidence = data.matrix(data.decayed(self.half_life_days))
        confidence.data = np.log1p(confidence.data)  # damp bulk purchases / repeated views
        with threadpool_limits(1, "blas"):
            model = self._make()
            model.fit(confidence, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors_[users] @ self.item_factors_.T

    def _top_k_known(
        self, users: np.ndarray, k: int, *, exclude_seen: bool, banned: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        with threadpool_limits(1, "blas"):
            ids, scores = implicit.cpu.topk.topk(
                self.item_factors_,
                self.user_factors_[users],
                k,
                filter_query_items=self.seen_[users] if exclude_seen else None,
                filter_items=None if banned is None else banned.astype(np.int32),
                num_threads=self._threads(),
            )
        ids = ids.astype(np.int64)
        scores = scores.astype(np.float32)
        ids[~np.isfinite(scores) | (ids < 0)] = -1
        return ids, scores

    def _item_similarity(self, item: int) -> np.ndarray:
        norms = np.linalg.norm(self.item_factors_, axis=1)
        dots = self.item_factors_ @ self.item_factors_[item]
        denominator = norms * norms[item]
        return np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)


@register("als")
class ALSRecommender(_FactorModel):
    """Implicit-feedback ALS; confidence = 1 + alpha * log(1 + weight)."""

    param_grid: ClassVar[dict[str, list[Any]]] = {"factors": [32, 128], "regularization": [0.05, 1.0]}

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.05,
        alpha: float = 2.0,
        iterations: int = 15,
        half_life_days: float | None = None,
        random_state: int = 42,
        num_threads: int | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.half_life_days = half_life_days
        self.random_state = random_state
        self.num_threads = num_threads

    def _make(self) -> Any:
        return implicit.cpu.als.AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=self._threads(),
        )


@register("bpr")
class BPRRecommender(_FactorModel):
    """Bayesian Personalised Ranking (pairwise loss) by SGD."""

    param_grid: ClassVar[dict[str, list[Any]]] = {"factors": [64], "learning_rate": [0.01, 0.05]}

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 100,
        half_life_days: float | None = None,
        random_state: int = 42,
        num_threads: int | None = None,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.half_life_days = half_life_days
        self.random_state = random_state
        self.num_threads = num_threads

    def _make(self) -> Any:
        return implicit.cpu.bpr.BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=self._threads(),
        )
