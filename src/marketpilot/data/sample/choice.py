"""Vectorised random choices: a category per row from cumulative preferences, a product per line."""

from __future__ import annotations

import numpy as np

from marketpilot.data.sample.catalogue import Catalogue


def row_choice(rng: np.random.Generator, cumulative: np.ndarray) -> np.ndarray:
    """One column index per row, drawn with the row's cumulative probabilities."""
    u = rng.random(cumulative.shape[0])
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), cumulative.shape[1] - 1)


class ProductChooser:
    """Draws products by category and month from the catalogue's seasonal demand, leaning to the
    cheaper of two candidates for price-sensitive customers."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.cumulative, self.product, self.last = catalogue.choice_table()
        self.price = catalogue.price

    def _draw(self, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
        position = np.searchsorted(self.cumulative, group + rng.random(group.size), side="right")
        return self.product[np.minimum(position, self.last[group])]

    def choose(
        self, rng: np.random.Generator, category: np.ndarray, month: np.ndarray, price_sensitivity: np.ndarray
    ) -> np.ndarray:
        group = category * 12 + month
        first, second = self._draw(rng, group), self._draw(rng, group)
        cheaper = np.where(self.price[first] <= self.price[second], first, second)
        dearer = np.where(self.price[first] <= self.price[second], second, first)
        return np.where(rng.random(group.size) < price_sensitivity, cheaper, dearer)
