"""Clustering customers: scaling, k-means with k chosen by silhouette under a minimum segment size
and a test for structure (`k_choice.py`), or HDBSCAN.

k is chosen on a sample (silhouette is O(n²)); the final k-means is fitted on every customer with
mini-batches when there are many, so a million customers cluster in seconds.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.metrics import pairwise_distances_argmin
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from marketpilot.analytics.segments.k_choice import KChoice, choose, evaluate, min_segment_size
from marketpilot.errors import NotFittedError, UserError


class SegmentModel(BaseEstimator, ClusterMixin):
    """Learned: scaler_, k_, cluster_centers_, labels_, silhouette_ (per k tried), inertia_ (per k: the
    elbow curve), k_choice_ (why `k="auto"` chose k_, else None). `predict` assigns the nearest centre.

    With `k="auto"`, a k whose smallest segment holds fewer than max(min_segment_share × customers,
    min_segment_customers) customers is not chosen, nor one no clearer than a structureless shop;
    when no k in `k_range` passes, k_ is 1."""

    def __init__(
        self,
        k: int | Literal["auto"] = "auto",
        k_range: tuple[int, int] = (2, 8),
        method: Literal["kmeans", "hdbscan"] = "kmeans",
        sample_size: int = 2500,
        random_state: int = 0,
        min_segment_share: float = 0.05,
        min_segment_customers: int = 10,
    ) -> None:
        self.k = k
        self.k_range = k_range
        self.method = method
        self.sample_size = sample_size
        self.random_state = random_state
        self.min_segment_share = min_segment_share
        self.min_segment_customers = min_segment_customers

    def fit(self, X: pd.DataFrame) -> SegmentModel:
        # k-means and silhouette threads (OpenMP, BLAS) spin-wait for each other: on a busy 2-core
        # machine a 1,500-customer fit took 4 s instead of 0.06 s. One thread is fast and predictable.
        with threadpool_limits(limits=1):
            return self._fit(X)

    def _fit(self, X: pd.DataFrame) -> SegmentModel:
        data = np.asarray(X, dtype=np.float64)
        if len(data) < 10:
            raise UserError(f"Segmentation needs at least 10 customers with purchases; found {len(data)}.")
        self.scaler_ = StandardScaler().fit(data)
        scaled = self.scaler_.transform(data)
        # k-means cannot split identical customers: more centres than distinct profiles leaves some
        # empty (a "k=3" with one segment), and silhouette is undefined on one label (a ValueError).
        if not np.ptp(scaled, axis=0).any():
            raise UserError(
                f"All {len(data)} customers have the same purchase profile (recency, orders, spend, "
                "categories): there are no segments to find.",
                hint="segment again when the customers' behaviour differs",
            )
        sample = scaled
        if len(scaled) > self.sample_size:
            rng = np.random.default_rng(self.random_state)
            sample = scaled[rng.choice(len(scaled), self.sample_size, replace=False)]
        self.k_choice_: KChoice | None = None
        if self.method == "hdbscan":
            return self._fit_hdbscan(scaled, sample)
        self.silhouette_: dict[int, float] = {}
        self.inertia_: dict[int, float] = {}
        profiles = _distinct_rows(sample)
        if self.k != "auto" and int(self.k) > profiles:
            profiles = _distinct_rows(scaled)  # the sample may miss a rare profile
            if int(self.k) > profiles:
                raise UserError(
                    f"--k {self.k} asks for more segments than the {profiles} distinct purchase "
                    f"profiles among {len(data)} customers.",
                    hint=f"use --k {profiles} or less, or --k auto",
                )
        fitted: dict[int, KMeans] = {}
        if self.k == "auto":
            low, high = self.k_range
            high = min(high, len(sample) - 1, profiles)
            size = min_segment_size(len(data), self.min_segment_share, self.min_segment_customers)
            candidates, fitted = evaluate(
                sample, range(min(low, high), high + 1), len(data), size, self.random_state
            )
            self.k_, rule = choose(candidates)
            self.inertia_ = {k: float(m.inertia_) for k, m in fitted.items()}
            self.silhouette_ = {c.k: c.silhouette for c in candidates}
            self.k_choice_ = KChoice(
                k=self.k_,
                rule=rule,
                min_segment_size=size,
                min_segment_share=self.min_segment_share,
                min_segment_customers=self.min_segment_customers,
                customers=len(data),
                candidates=candidates,
            )
        else:
            self.k_ = int(self.k)
        # On the whole shop the candidate's fit is the final one: its segment sizes are those checked.
        model = fitted.get(self.k_) if sample is scaled else None
        model = model or self._final_kmeans(scaled)
        self.cluster_centers_ = model.cluster_centers_
        self.labels_ = model.predict(scaled)
        return self

    def _final_kmeans(self, scaled: np.ndarray) -> KMeans | MiniBatchKMeans:
        if len(scaled) > 50_000:
            return MiniBatchKMeans(
                n_clusters=self.k_, batch_size=4096, n_init=3, random_state=self.random_state
            ).fit(scaled)
        return KMeans(n_clusters=self.k_, n_init=4, random_state=self.random_state).fit(scaled)

    def _fit_hdbscan(self, scaled: np.ndarray, sample: np.ndarray) -> SegmentModel:
        """Density clusters on the sample; every customer then joins the nearest cluster centre
        (HDBSCAN itself does not scale to millions, and marketing needs everyone in a segment)."""
        try:
            from sklearn.cluster import HDBSCAN
        except ImportError as exc:
            raise UserError("HDBSCAN needs scikit-learn >= 1.3.", hint="pip install -U scikit-learn") from exc
        labels = HDBSCAN(min_cluster_size=max(10, len(sample) // 50), copy=True).fit_predict(sample)
        clusters = sorted(set(labels) - {-1})
        if len(clusters) < 2:
            raise UserError("HDBSCAN found fewer than two dense clusters; use --method kmeans.")
        centres = np.stack([sample[labels == c].mean(axis=0) for c in clusters])
        self.k_ = len(clusters)
        self.silhouette_, self.inertia_ = {}, {}
        self.cluster_centers_ = centres
        self.labels_ = pairwise_distances_argmin(scaled, centres)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            raise NotFittedError("SegmentModel is not fitted yet; call fit() first.")
        with threadpool_limits(limits=1):
            scaled = self.scaler_.transform(np.asarray(X, dtype=np.float64))
            return pairwise_distances_argmin(scaled, self.cluster_centers_)


def _distinct_rows(data: np.ndarray) -> int:
    """Distinct customer profiles (rounded: scaling leaves equal rows a few ulps apart)."""
    return len(np.unique(data.round(9), axis=0))
