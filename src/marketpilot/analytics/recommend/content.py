"""Content-based: products described alike are alike, in Chinese or English.

Each product's text (name, category, brand, description…) is embedded with the bundled multilingual
model (`marketpilot.embed`); a customer's profile is the weighted, recency-decayed mean of the
embeddings of what they interacted with, and products are ranked by cosine to it. This is the only
model that can place a product nobody has bought yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from marketpilot.analytics.recommend.base import Recommender, register
from marketpilot.analytics.recommend.interactions import Encoded
from marketpilot.config import Settings
from marketpilot.errors import UserError

TEXT_COLUMNS = ("name", "category", "subcategory", "brand", "description")


def product_texts(catalog: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """One text per catalogue row: the non-empty values of `columns`, joined."""
    present = [c for c in columns if c in catalog.columns]
    if not present:
        raise UserError(
            f"The content model needs product text; the catalogue has none of: {', '.join(columns)}.",
            hint="Pass a products table with a name or description column.",
        )
    parts = catalog[present].astype("string").fillna("")
    texts = parts.agg(" ".join, axis=1).str.strip()
    return [t if t else str(i) for t, i in zip(texts, catalog.index, strict=True)]


@register("content")
class ContentRecommender(Recommender):
    def __init__(
        self,
        text_columns: Sequence[str] = TEXT_COLUMNS,
        half_life_days: float | None = 60.0,
        settings: Settings | None = None,
    ) -> None:
        self.text_columns = text_columns
        self.half_life_days = half_life_days
        self.settings = settings

    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        from marketpilot.embed import embed

        if self.catalog_ is None:
            raise UserError(
                "The content model needs the product catalogue: fit(interactions, items=products)."
            )
        self.item_vectors_ = embed(
            product_texts(self.catalog_, self.text_columns), kind="passage", settings=self.settings
        )
        history = data.matrix(data.decayed(self.half_life_days))
        history.data = np.log1p(history.data)
        profiles = np.asarray(history @ self.item_vectors_, dtype=np.float32)
        norms = np.linalg.norm(profiles, axis=1, keepdims=True)
        self.user_vectors_ = profiles / np.where(norms == 0, 1.0, norms)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_vectors_[users] @ self.item_vectors_.T

    def _item_similarity(self, item: int) -> np.ndarray:
        return self.item_vectors_ @ self.item_vectors_[item]
