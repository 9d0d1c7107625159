"""Hybrid: a weighted blend of per-customer min-max normalised scores of several recommenders.

Weights are chosen on an inner time split of the data `fit` receives (the training window), unless
given. Cold-start customers get the popularity component's ranking (their segment's when known);
new products (in the catalogue, no interactions yet), which collaborative models cannot score, are
scored by the content component alone, scaled by `new_item_weight` (a business knob: how boldly to
show untried products; validation cannot tune it, as it has no history of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from marketpilot.analytics.recommend.base import (
    Recommender,
    get_recommender,
    minmax_rows,
    register,
    row_block,
)
from marketpilot.analytics.recommend.interactions import Encoded
from marketpilot.analytics.recommend.tuning import choose_weights, inner_holdout

DEFAULT_COMPONENTS = ("repeat", "itemknn", "als", "popularity")


@register("hybrid")
class HybridRecommender(Recommender):
    def __init__(
        self,
        components: Sequence[str] = DEFAULT_COMPONENTS,
        component_params: Mapping[str, Mapping[str, Any]] | None = None,
        weights: Mapping[str, float] | None = None,
        k: int = 20,
        exclude_seen: bool = False,
        valid_days: float | None = None,
        valid_fraction: float = 0.2,
        target_events: Sequence[str] | None = None,
        segment_col: str | None = None,
        new_item_weight: float = 0.5,
    ) -> None:
        self.components = components
        self.component_params = component_params
        self.weights = weights
        self.k = k
        self.exclude_seen = exclude_seen
        self.valid_days = valid_days
        self.valid_fraction = valid_fraction
        self.target_events = target_events
        self.segment_col = segment_col
        self.new_item_weight = new_item_weight

    def _specs(self) -> dict[str, dict[str, Any]]:
        names = list(dict.fromkeys([*self.components, "popularity"]))  # popularity serves cold start
        specs = {name: dict((self.component_params or {}).get(name, {})) for name in names}
        if self.segment_col:
            specs["popularity"].setdefault("segment_col", self.segment_col)
        return specs

    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        items = self.catalog_.reset_index() if self.catalog_ is not None else None
        specs = self._specs()
        if self.weights is None:
            inner = inner_holdout(
                frame,
                k=self.k,
                exclude_seen=self.exclude_seen,
                valid_days=self.valid_days,
                valid_fraction=self.valid_fraction,
                target_events=self.target_events,
            )
            trial = {
                name: get_recommender(name, **params).fit(inner.train, items)
                for name, params in specs.items()
            }
            self.weights_ = choose_weights({n: trial[n] for n in self.components}, inner)
        else:
            self.weights_ = {name: float(self.weights.get(name, 0.0)) for name in self.components}
        self.models_ = {
            name: get_recommender(name, **params).fit(frame, items)
            for name, params in specs.items()
            if self.weights_.get(name, 0.0) > 0 or name == "popularity" or name == "content"
        }
        self.new_items_ = np.flatnonzero(self.popularity_ == 0)

    def _active(self) -> dict[str, float]:
        return {name: w for name, w in self.weights_.items() if w > 0}

    def _score(self, users: np.ndarray) -> np.ndarray:
        total = np.zeros((len(users), len(self.item_index_)), dtype=np.float32)
        for name, weight in self._active().items():
            total += weight * minmax_rows(np.asarray(self.models_[name]._score(users), dtype=np.float32))
        if "content" in self.models_ and len(self.new_items_) and self.new_item_weight > 0:
            # Products nobody has interacted with yet score zero in every collaborative model; they
            # compete on description alone, at `new_item_weight` of the full blend's scale.
            content = minmax_rows(np.asarray(self.models_["content"]._score(users), dtype=np.float32))
            scale = self.new_item_weight * sum(self._active().values())
            total[:, self.new_items_] = scale * content[:, self.new_items_]
        return total

    def _cold_scores(self, segments: np.ndarray | None) -> np.ndarray:
        return self.models_["popularity"]._cold_scores(segments)

    def _item_similarity(self, item: int) -> np.ndarray:
        total = np.zeros(len(self.item_index_))
        for name, weight in self._active().items():
            sims = np.asarray(self.models_[name]._item_similarity(item), dtype=np.float64)
            top = sims.max()
            if top > 0:
                total += weight * np.clip(sims, 0, None) / top
        if "content" in self.models_ and not total[np.arange(len(total)) != item].any():
            # A new product has no co-purchases yet: fall back to what its description resembles.
            total = np.asarray(self.models_["content"]._item_similarity(item), dtype=np.float64)
        return total

    def contributions(self, users: np.ndarray, items: np.ndarray) -> pd.DataFrame:
        """For (customer code, item code) pairs: each active component's weighted normalised score,
        used to explain a recommendation ("bought together with …", "popular in your segment").
        Customers are scored in blocks so memory stays bounded however many there are."""
        active = self._active()
        out = {name: np.zeros(len(users), dtype=np.float32) for name in active}
        unique_users, inverse = np.unique(users, return_inverse=True)
        step = row_block(len(self.item_index_))
        for begin in range(0, len(unique_users), step):
            in_block = (inverse >= begin) & (inverse < begin + step)
            rows, cols = inverse[in_block] - begin, items[in_block]
            block_users = unique_users[begin : begin + step]
            for name, weight in active.items():
                scores = minmax_rows(np.asarray(self.models_[name]._score(block_users), dtype=np.float32))
                out[name][in_block] = weight * scores[rows, cols]
        return pd.DataFrame(out)
