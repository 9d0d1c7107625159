"""Business rules applied after scoring: which products may be shown, and how many per category.

Item rules (stock, price band, category allow/deny, margin floor) become one boolean mask over the
catalogue, so a recommender simply never ranks a forbidden product. Diversity is a re-ranking rule:
the recommender over-fetches candidates and `diversify` keeps at most N per category, in score order.
A product whose attribute a rule needs is unknown (no price, no stock figure) fails that rule: showing
something we cannot vouch for is worse than showing one product fewer.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from marketpilot.errors import UserError


class Rules(BaseModel):
    """Constraints on what may be recommended. Money in minor units (分/cents), like the catalogue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    in_stock_only: bool = False
    min_price_minor: int | None = Field(default=None, ge=0)
    max_price_minor: int | None = Field(default=None, ge=0)
    allow_categories: tuple[str, ...] | None = None
    deny_categories: tuple[str, ...] = ()
    max_per_category: int | None = Field(default=None, ge=1)
    min_margin: float | None = Field(default=None, le=1.0, description="(price - cost) / price")

    @model_validator(mode="after")
    def _band_is_ordered(self) -> Rules:
        if (
            self.min_price_minor is not None
            and self.max_price_minor is not None
            and self.min_price_minor > self.max_price_minor
        ):
            raise ValueError("min_price_minor is above max_price_minor")
        return self

    @property
    def filters_items(self) -> bool:
        return bool(
            self.in_stock_only
            or self.min_price_minor is not None
            or self.max_price_minor is not None
            or self.allow_categories is not None
            or self.deny_categories
            or self.min_margin is not None
        )

    def item_mask(self, catalog: pd.DataFrame | None, n_items: int) -> np.ndarray:
        """True for each catalogue row (aligned with the model's items) that may be recommended."""
        mask = np.ones(n_items, dtype=bool)
        if not self.filters_items:
            return mask
        if catalog is None:
            raise UserError(
                "Business rules need the product catalogue, but the recommender was fitted without one.",
                hint="Pass the products table: fit(interactions, items=products).",
            )

        def column(name: str) -> pd.Series:
            if name not in catalog.columns:
                raise UserError(
                    f"A business rule needs the product column '{name}', which the catalogue lacks."
                )
            return catalog[name]

        if self.in_stock_only:
            mask &= (pd.to_numeric(column("stock"), errors="coerce") > 0).to_numpy()
        if self.min_price_minor is not None or self.max_price_minor is not None:
            price = pd.to_numeric(column("price_minor"), errors="coerce")
            low = self.min_price_minor if self.min_price_minor is not None else -np.inf
            high = self.max_price_minor if self.max_price_minor is not None else np.inf
            mask &= price.between(low, high).to_numpy()
        if self.allow_categories is not None:
            mask &= column("category").isin(self.allow_categories).to_numpy()
        if self.deny_categories:
            mask &= ~column("category").isin(self.deny_categories).to_numpy()
        if self.min_margin is not None:
            price = pd.to_numeric(column("price_minor"), errors="coerce")
            cost = pd.to_numeric(column("cost_minor"), errors="coerce")
            margin = (price - cost) / price.where(price > 0)
            mask &= (margin >= self.min_margin).to_numpy()
        return mask


def diversify(candidates: np.ndarray, categories: np.ndarray, max_per_category: int, k: int) -> np.ndarray:
    """Keep candidates in order, at most `max_per_category` per category, the first `k` per row.

    `candidates` is (n, C) item codes best-first with -1 padding; `categories` maps an item code to a
    category code (-1 = unknown, never capped). Returns (n, k) column positions into `candidates`
    (so the caller can gather items and scores alike), -1 where too few remain."""
    n, width = candidates.shape
    valid = candidates >= 0
    cats = np.where(valid, categories[np.maximum(candidates, 0)], -1)
    flat = pd.DataFrame({"row": np.repeat(np.arange(n), width), "cat": cats.ravel()})
    seen_before = flat.groupby(["row", "cat"], sort=False).cumcount().to_numpy().reshape(n, width)
    keep = valid & ((cats < 0) | (seen_before < max_per_category))
    slot = np.cumsum(keep, axis=1) - 1
    keep &= slot < k
    out = np.full((n, k), -1, dtype=np.int64)
    rows, cols = np.nonzero(keep)
    out[rows, slot[rows, cols]] = cols
    return out
