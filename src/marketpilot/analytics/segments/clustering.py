"""Clustering customers: scaling, k-means with k chosen by silhouette under a minimum segment size
and a test for structure (`k_choice.py`), or HDBSCAN.

k is chosen on a sample (silhouette is O(n²)); the final k-means is fitted on every customer with
mini-batches when there are many, so a million customers cluster in seconds. That fit is held to the
same minimum segment size as the candidates (`_fit_final`): the sample can miss a small cluster.
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

from marketpilot.analytics.segments.k_choice import (
    FinalFit,
    KChoice,
    choose,
    evaluate,
    fit_past_outliers,
    min_segment_size,
)
from marketpilot.errors import NotFittedError, UserError


class SegmentModel(BaseEstimator, ClusterMixin):
    """Learned: scaler_, k_, cluster_centers_, labels_, silhouette_ (per k tried), inertia_ (per k: the
    elbow curve), k_choice_ (why `k="auto"` chose k_, else None). `predict` assigns the nearest centre.

    With `k="auto"`, a k whose smallest segment holds fewer than max(min_segment_share × customers,
    min_segment_customers) customers is not chosen, nor one no clearer than a structureless shop;
    when no k in `k_range` passes, k_ is 1. The fit on every customer keeps that minimum too, so k_
    can end below `k_choice_.k` (`k_choice_.final` says why). A fixed k and HDBSCAN keep their
    segments whatever their sizes; `run_segmentation` names those under the minimum."""

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
        if self.k == "auto":
            low, high = self.k_range
            if not 2 <= low <= high:  # silhouette needs two segments; (5, 3) would quietly try k=3
                raise UserError(f"k_range must be (low, high) with 2 ≤ low ≤ high, got {self.k_range!r}.")
            high = min(high, len(sample) - 1, profiles)
            size = min_segment_size(len(data), self.min_segment_share, self.min_segment_customers)
            candidates, fitted = evaluate(
                sample, range(min(low, high), high + 1), len(data), size, self.random_state
            )
            chosen, rule = choose(candidates)
            self.inertia_ = {k: float(m.inertia_) for k, m in fitted.items()}
            self.silhouette_ = {c.k: c.silhouette for c in candidates}
            self.k_ = chosen
            final = self._fit_final(scaled, size, len(sample))  # may lower k_
            self.k_choice_ = KChoice(
                k=chosen,
                rule=rule,
                min_segment_size=size,
                min_segment_share=self.min_segment_share,
                min_segment_customers=self.min_segment_customers,
                customers=len(data),
                candidates=candidates,
                final=final,
            )
            return self
        self.k_ = int(self.k)
        self.cluster_centers_ = self._final_kmeans(len(scaled)).fit(scaled).cluster_centers_
        self.labels_ = pairwise_distances_argmin(scaled, self.cluster_centers_)
        return self

    def _final_kmeans(self, customers: int) -> KMeans | MiniBatchKMeans:
        if customers > 50_000:
            return MiniBatchKMeans(
                n_clusters=self.k_, batch_size=4096, n_init=3, random_state=self.random_state
            )
        return KMeans(n_clusters=self.k_, n_init=4, random_state=self.random_state)

    def _fit_final(self, scaled: np.ndarray, size: int, sample: int) -> FinalFit:
        """Fit the chosen k on every customer, held to the minimum segment size.

        The candidates' treatment comes first: rare extreme customers (≤ 1%) are left out of the fit
        and join the nearest segment, which keeps k segments like the ones that were chosen (on the
        whole Online Retail shop, a plain fit at the chosen k=3 gave segments of 1, 1,632 and 2,692
        customers with random_state=1). A segment still under the minimum is a real group that the
        sample overstated: its centre is dropped and its customers join the nearest remaining
        centre. That leaves the other segments as they were fitted; a re-fit with fewer centres
        would move all of them, to a k the choice may have ruled out."""
        with_outliers_out, outliers = fit_past_outliers(scaled, self._final_kmeans(len(scaled)), size)
        centres = with_outliers_out.cluster_centers_
        counts = np.bincount(pairwise_distances_argmin(scaled, centres), minlength=len(centres))
        keep = counts >= size
        keep[counts.argmax()] = True  # a shop always has one segment
        # Removing centres only adds customers to the kept ones, so they stay at or above the minimum.
        self.cluster_centers_ = centres[keep]
        self.labels_ = pairwise_distances_argmin(scaled, self.cluster_centers_)
        self.k_ = len(self.cluster_centers_)
        return FinalFit(
            sample=sample,
            k=self.k_,
            smallest_segment=int(np.bincount(self.labels_).min()),
            outliers=outliers,
            merged=int((~keep).sum()),
        )

    def _fit_hdbscan(self, scaled: np.ndarray, sample: np.ndarray) -> SegmentModel:
        """Density clusters on the sample; every customer then joins the nearest cluster centre
        (HDBSCAN itself does not scale to millions, and marketing needs everyone in a segment).

        min_cluster_size is not the minimum segment size: a cluster is a dense core, and its segment
        also gets the noise points nearest to it. On the generated 1,452-buyer shop, cores of 41 and
        66 customers became segments of 1,030 and 422; a min_cluster_size of 73 (5%) found no
        cluster at all (min_samples follows it, and every customer became noise)."""
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
