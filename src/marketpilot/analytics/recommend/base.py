"""The one interface every recommender implements, and the registry that lists them.

scikit-learn's contract: `__init__` stores parameters only, `fit` validates and learns, learned state
ends in `_`. A subclass implements `_fit` (learn from integer-coded interactions) and `_score` (dense
scores for a batch of known customers); the base class does the rest — id mapping, cold-start
customers, excluding what was bought, business rules and top-K — the same way for every model.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from marketpilot.analytics.recommend.interactions import ITEM, USER, Encoded, encode, validate_interactions
from marketpilot.analytics.recommend.rules import Rules, diversify
from marketpilot.errors import NotFittedError, NotFoundError, UserError

# Dense score blocks are computed this many cells at a time (64 MB of float32): memory stays flat
# however many customers are scored.
_BLOCK_CELLS = 1 << 24
# Over-fetch factor when a diversity rule may discard candidates.
_DIVERSITY_FETCH = 5

RECOMMENDERS: dict[str, type[Recommender]] = {}


def register(name: str) -> Callable[[type[Recommender]], type[Recommender]]:
    """Class decorator: make a recommender available by name to the hybrid, evaluation and the CLI."""

    def add(cls: type[Recommender]) -> type[Recommender]:
        cls.name = name
        RECOMMENDERS[name] = cls
        return cls

    return add


def get_recommender(name: str, **params: Any) -> Recommender:
    try:
        cls = RECOMMENDERS[name]
    except KeyError:
        raise UserError(
            f"Unknown recommender '{name}'.", hint=f"Available: {', '.join(RECOMMENDERS)}"
        ) from None
    return cls(**params)


def top_k_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best-first top-k per row of a dense score block; -1 where fewer than k finite scores."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    values = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1).astype(np.int64)
    values = np.take_along_axis(values, order, axis=1)
    items[~np.isfinite(values)] = -1
    return items, values


def row_block(n_items: int) -> int:
    return max(1, _BLOCK_CELLS // max(n_items, 1))


class Recommender(ABC):
    """Base class. Subclasses are registered with `@register("name")`."""

    name: ClassVar[str] = ""
    # Searched on an inner time split of the training window (see tuning.py); keep grids small.
    param_grid: ClassVar[dict[str, list[Any]]] = {}

    # ---- scikit-learn style parameters -------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p for p in signature.parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        for name, value in params.items():
            if name not in self._param_names():
                raise UserError(f"{type(self).__name__} has no parameter '{name}'.")
            setattr(self, name, value)
        return self

    def clone(self, **params: Any) -> Self:
        return type(self)(**{**self.get_params(), **params})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---- fitting -----------------------------------------------------------------------------
    def fit(self, interactions: pd.DataFrame, items: pd.DataFrame | None = None) -> Self:
        """Learn from interactions (customer_id, product_id, occurred_at[, weight]) and, optionally,
        the product catalogue (product_id plus name/category/price_minor/... for content and rules)."""
        frame = validate_interactions(interactions)
        catalog = _validate_catalog(items) if items is not None else None
        # One hashing pass per id column gives both the index (order of first appearance) and the codes.
        user_codes, user_ids = pd.factorize(frame[USER])
        item_codes, item_ids = pd.factorize(frame[ITEM])
        self.user_index_ = pd.Index(user_ids, name=USER)
        if catalog is not None:  # catalogue products nobody interacted with go after the others
            unseen = catalog[ITEM][~catalog[ITEM].isin(item_ids)]
            item_ids = item_ids.append(pd.Index(pd.unique(unseen)))
        self.item_index_ = pd.Index(item_ids, name=ITEM)
        self.catalog_ = catalog.set_index(ITEM).reindex(self.item_index_) if catalog is not None else None
        encoded = encode(frame, user_codes, item_codes, len(self.user_index_), len(self.item_index_))
        self.seen_ = encoded.matrix(np.ones_like(encoded.weights))
        self.seen_.data[:] = 1.0
        self.popularity_ = np.asarray(self.seen_.sum(axis=0)).ravel().astype(np.float32)
        self._fit(encoded, frame)
        return self

    @abstractmethod
    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        """Learn from integer-coded interactions; `frame` gives access to optional columns."""

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray:
        """Dense (len(users), n_items) float32 scores for known customer codes; higher is better."""

    def _cold_scores(self, segments: np.ndarray | None) -> np.ndarray:
        """Scores for customers with no history (one row each): global popularity by default."""
        n = 1 if segments is None else len(segments)
        return np.broadcast_to(np.log1p(self.popularity_), (n, len(self.popularity_))).copy()

    def _check_fitted(self) -> None:
        if not hasattr(self, "user_index_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit() first.")

    # ---- ranking -----------------------------------------------------------------------------
    def _top_k_known(
        self, users: np.ndarray, k: int, *, exclude_seen: bool, banned: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k for known customers, in blocks. Subclasses with a faster ranker override this."""
        items = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), -np.inf, dtype=np.float32)
        step = row_block(len(self.item_index_))
        for start in range(0, len(users), step):
            block = users[start : start + step]
            dense = np.asarray(self._score(block), dtype=np.float32)
            _mask_block(dense, self.seen_[block] if exclude_seen else None, banned)
            got_items, got_scores = top_k_rows(dense, k)
            items[start : start + step, : got_items.shape[1]] = got_items
            scores[start : start + step, : got_scores.shape[1]] = got_scores
        return items, scores

    def top_k(
        self,
        user_codes: np.ndarray,
        k: int,
        *,
        exclude_seen: bool = True,
        rules: Rules | None = None,
        cold_segments: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(n, k) item codes (-1 = none) and scores for customer codes; code -1 = unknown customer."""
        self._check_fitted()
        n_items = len(self.item_index_)
        banned = None
        if rules is not None and rules.filters_items:
            banned = np.flatnonzero(~rules.item_mask(self.catalog_, n_items))
        if rules is None or rules.max_per_category is None:
            return self._candidates(user_codes, min(n_items, k), exclude_seen, banned, cold_segments)
        categories = self._category_codes()
        items = np.full((len(user_codes), k), -1, dtype=np.int64)
        scores = np.full((len(user_codes), k), -np.inf, dtype=np.float32)
        todo = np.arange(len(user_codes))
        fetch = min(n_items, k * _DIVERSITY_FETCH)
        while len(todo):
            # Over-fetch, cap per category; customers still short of k get a deeper fetch.
            segs = None if cold_segments is None else cold_segments[todo]
            cand, cand_scores = self._candidates(user_codes[todo], fetch, exclude_seen, banned, segs)
            pos = diversify(cand, categories, rules.max_per_category, k)
            picked = np.maximum(pos, 0)
            items[todo] = np.where(pos >= 0, np.take_along_axis(cand, picked, axis=1), -1)
            scores[todo] = np.where(pos >= 0, np.take_along_axis(cand_scores, picked, axis=1), -np.inf)
            short = (pos[:, -1] < 0) & (cand[:, -1] >= 0)
            if fetch >= n_items:
                break
            todo, fetch = todo[short], min(n_items, fetch * 4)
        return items, scores

    def _candidates(
        self,
        user_codes: np.ndarray,
        fetch: int,
        exclude_seen: bool,
        banned: np.ndarray | None,
        cold_segments: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        items = np.full((len(user_codes), fetch), -1, dtype=np.int64)
        scores = np.full((len(user_codes), fetch), -np.inf, dtype=np.float32)
        warm = np.flatnonzero(user_codes >= 0)
        if len(warm):
            got_items, got_scores = self._top_k_known(
                user_codes[warm].astype(np.int64), fetch, exclude_seen=exclude_seen, banned=banned
            )
            items[warm], scores[warm] = got_items, got_scores
        cold = np.flatnonzero(user_codes < 0)
        if len(cold):
            segs = None if cold_segments is None else cold_segments[cold]
            dense = self._cold_scores(segs).astype(np.float32)
            _mask_block(dense, None, banned)
            got_items, got_scores = top_k_rows(dense, fetch)
            items[cold], scores[cold] = got_items, got_scores  # broadcasts when one shared row
        return items, scores

    def _category_codes(self) -> np.ndarray:
        if self.catalog_ is None or "category" not in self.catalog_.columns:
            raise UserError(
                "The diversity rule needs product categories: fit with a catalogue that has 'category'."
            )
        codes, _ = pd.factorize(self.catalog_["category"], use_na_sentinel=True)
        return codes.astype(np.int64)

    def recommend(
        self,
        customers: Iterable[str],
        k: int = 20,
        *,
        exclude_purchased: bool = True,
        filters: Rules | None = None,
        segments: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Top-k products per customer: columns customer_id, rank (1 = best), product_id, score.
        Customers never seen get the cold-start ranking (their segment's, when `segments` names it)."""
        self._check_fitted()
        ids = pd.Index([str(c) for c in customers])
        codes = self.user_index_.get_indexer(ids)
        cold_segments = None
        if segments is not None:
            cold_segments = np.array([segments.get(c) for c in ids], dtype=object)
        items, scores = self.top_k(
            codes, k, exclude_seen=exclude_purchased, rules=filters, cold_segments=cold_segments
        )
        return self._long_frame(ids, items, scores)

    def _long_frame(self, ids: pd.Index, items: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
        rows, cols = np.nonzero(items >= 0)
        return pd.DataFrame(
            {
                USER: ids.to_numpy()[rows],
                "rank": (cols + 1).astype(np.int32),
                ITEM: self.item_index_.to_numpy()[items[rows, cols]],
                "score": scores[rows, cols].astype(np.float64),
            }
        )

    # ---- item-to-item ------------------------------------------------------------------------
    def _item_similarity(self, item: int) -> np.ndarray:
        """Similarity of every item to `item`: cosine of co-purchase columns unless overridden."""
        cols = self.seen_.tocsc()
        target = cols[:, item]
        overlap = np.asarray((cols.T @ target).todense()).ravel()
        norms = np.sqrt(self.popularity_ * self.popularity_[item])
        return np.divide(overlap, norms, out=np.zeros_like(overlap, dtype=np.float64), where=norms > 0)

    def similar_items(self, item: str, k: int = 10) -> pd.DataFrame:
        """Products most similar to `item` (columns product_id, score), the item itself excluded;
        only products with a positive similarity are returned."""
        self._check_fitted()
        code = self.item_index_.get_indexer([str(item)])[0]
        if code < 0:
            raise NotFoundError(f"Unknown product '{item}'.", hint="Fit with a catalogue that lists it.")
        sims = np.asarray(self._item_similarity(int(code)), dtype=np.float64)
        sims[code] = -np.inf
        order = np.argsort(-sims, kind="stable")[:k]
        order = order[sims[order] > 0]
        return pd.DataFrame({ITEM: self.item_index_.to_numpy()[order], "score": sims[order]})


def _mask_block(dense: np.ndarray, seen: sp.csr_matrix | None, banned: np.ndarray | None) -> None:
    if seen is not None and seen.nnz:
        rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
        dense[rows, seen.indices] = -np.inf
    if banned is not None and len(banned):
        dense[:, banned] = -np.inf


def _validate_catalog(items: pd.DataFrame) -> pd.DataFrame:
    if ITEM not in items.columns:
        raise UserError(f"The product catalogue needs a '{ITEM}' column.")
    catalog = items.copy()
    catalog[ITEM] = catalog[ITEM].astype(str)
    duplicated = catalog[ITEM].duplicated()
    if duplicated.any():
        catalog = catalog[~duplicated]
    return catalog


def minmax_rows(scores: np.ndarray) -> np.ndarray:
    """Scale each row to [0, 1] so that scores of different models can be blended."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)
