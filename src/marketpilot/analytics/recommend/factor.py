"""Matrix factorisation via the `implicit` library (CPU): ALS (Hu, Koren & Volinsky 2008) and BPR.

implicit wants a user × item CSR of confidences. BLAS is pinned to one thread while implicit trains
with its own threads, as implicit recommends (implicit is imported at module level so that its BLAS
library is loaded before the limit is applied). Ranking all customers is exact top-K with norm-based
early termination (see `_top_k_known`), which skips most of a long-tail catalogue; each chunk goes
through implicit's multi-threaded top-k.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import implicit.cpu.als
import implicit.cpu.bpr
import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.topk import topk
from threadpoolctl import threadpool_limits

from marketpilot.analytics.recommend.base import Recommender, register
from marketpilot.analytics.recommend.interactions import Encoded

# Pruned ranking: customers per block are chosen so a first-chunk score block is ~64 MB of float32.
_FIRST_CHUNK = 2048
_PRUNE_CELLS = 1 << 24
# Extra places asked of implicit's top-k per customer, for the seen items dropped after it.
_SPARE = 16


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
        """Exact top-k by dot product with early termination (Cauchy-Schwarz pruning).

        Items are visited in decreasing norm, in chunks. After each chunk a customer whose k-th best
        score already reaches |u| * (largest remaining item norm) cannot gain from the rest and is
        done. Long-tail products have small factor norms (little evidence, heavy regularisation), so
        most customers stop after the first few thousand products instead of scoring all of them.
        """
        norms = np.linalg.norm(self.item_factors_, axis=1)
        order = np.argsort(-norms, kind="stable")
        if banned is not None and len(banned):
            order = order[~np.isin(order, banned)]
        ranked = np.ascontiguousarray(self.item_factors_[order])
        ranked_norms = norms[order]
        seen = self.seen_[:, order].tocsr() if exclude_seen else None
        items = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), -np.inf, dtype=np.float32)
        block = max(1, _PRUNE_CELLS // max(_FIRST_CHUNK, 1))
        for start in range(0, len(users), block):
            rows = users[start : start + block]
            got_items, got_scores = self._pruned_block(rows, k, ranked, ranked_norms, seen)
            items[start : start + len(rows)] = np.where(got_items >= 0, order[np.maximum(got_items, 0)], -1)
            scores[start : start + len(rows)] = got_scores
        return items, scores

    def _pruned_block(
        self,
        rows: np.ndarray,
        k: int,
        ranked: np.ndarray,
        ranked_norms: np.ndarray,
        seen: sp.csr_matrix | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_items = len(ranked)
        vectors = self.user_factors_[rows]
        user_norms = np.linalg.norm(vectors, axis=1)
        best_items = np.full((len(rows), k), -1, dtype=np.int64)
        best_scores = np.full((len(rows), k), -np.inf, dtype=np.float32)
        active = np.arange(len(rows))
        begin, chunk = 0, _FIRST_CHUNK
        while begin < n_items and len(active):
            end = min(n_items, begin + chunk)
            mask = seen[rows[active]][:, begin:end] if seen is not None else None
            got_items, got_scores = self._chunk_top(vectors[active], ranked[begin:end], k, mask)
            if begin == 0:  # nothing to merge with yet
                best_items[active], best_scores[active] = got_items, got_scores
            else:  # the current best k and this chunk's best k: keep the best k of the 2k
                merged = np.hstack([best_scores[active], got_scores])
                top = np.argpartition(-merged, k - 1, axis=1)[:, :k]
                candidates = np.hstack([best_items[active], begin + got_items])
                best_scores[active] = np.take_along_axis(merged, top, axis=1)
                best_items[active] = np.take_along_axis(candidates, top, axis=1)
            begin, chunk = end, chunk * 2
            if begin < n_items:
                bound = user_norms[active] * ranked_norms[begin]
                active = active[best_scores[active].min(axis=1) < bound]
        order = np.argsort(-best_scores, axis=1, kind="stable")
        best_items = np.take_along_axis(best_items, order, axis=1)
        best_scores = np.take_along_axis(best_scores, order, axis=1)
        best_items[~np.isfinite(best_scores)] = -1
        return best_items, best_scores

    def _chunk_top(
        self, vectors: np.ndarray, items: np.ndarray, k: int, mask: sp.csr_matrix | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best k of `items` per vector, masked ones excluded (-inf where fewer than k are left).

        implicit's top-k scores in blocks and selects with a heap in C++ on all cores, about twice as
        fast as a BLAS product plus numpy's single-threaded argpartition. Its own filter slices the mask
        row by row in Python, so instead each customer asks for k + (their masked count) and the masked
        ones are dropped afterwards; customers with many masked items go in a second, wider call."""
        counts = np.diff(mask.indptr) if mask is not None else np.zeros(len(vectors), dtype=np.int64)
        light = counts <= _SPARE
        ids = np.zeros((len(vectors), k), dtype=np.int64)
        scores = np.full((len(vectors), k), -np.inf, dtype=np.float32)
        for group in (np.flatnonzero(light), np.flatnonzero(~light)):
            if not len(group):
                continue
            want = min(len(items), k + int(max(_SPARE, counts[group].max())))
            with threadpool_limits(1, "blas"):
                got_ids, got_scores = topk(items, vectors[group], want, num_threads=self._threads())
            got_ids, got_scores = got_ids.astype(np.int64), got_scores.astype(np.float32, copy=False)
            if mask is not None:
                sub = mask[group].tocoo()
                masked = np.isin(
                    np.arange(len(group))[:, None] * len(items) + got_ids,
                    sub.row.astype(np.int64) * len(items) + sub.col,
                )
                got_scores[masked] = -np.inf
            order = np.argsort(-got_scores, axis=1, kind="stable")[:, :k]
            taken = min(k, want)
            ids[group, :taken] = np.take_along_axis(got_ids, order, axis=1)
            scores[group, :taken] = np.take_along_axis(got_scores, order, axis=1)
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
        # 10 sweeps of 2 CG steps rank as well as implicit's 15 × 3 on Online Retail, the shop and
        # MovieLens (bench/als_settings.py) at under half the fitting time.
        iterations: int = 10,
        cg_steps: int = 2,
        half_life_days: float | None = None,
        random_state: int = 42,
        num_threads: int | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.half_life_days = half_life_days
        self.random_state = random_state
        self.num_threads = num_threads

    def _make(self) -> Any:
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            random_state=self.random_state,
            num_threads=self._threads(),
        )
        model.cg_steps = self.cg_steps  # not a constructor argument in implicit 0.7
        return model


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
