"""Neighbourhood collaborative filtering on sparse matrices.

Item-based (default): score(u, i) = sum over the customer's items j of sim(j, i), with sim the cosine
or BM25-weighted co-occurrence, pruned to each item's `neighbours` most similar items. User-based with
the mean-centred formula (Resnick):
    pred(u, i) = mean_u + sum_v sim(u, v) * (r_vi - mean_v) / (shrink + sum_{v rated i} |sim(u, v)|)
Similarities are computed block by block and pruned with argpartition: no Python loop per customer.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from marketpilot.analytics.recommend.base import Recommender, register, row_block
from marketpilot.analytics.recommend.interactions import Encoded


def _l2_normalise_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix)


def bm25_weight(user_items: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Okapi BM25 over a user × item matrix, items as documents and customers as terms: a customer
    who buys everything (a reseller) says little about any pair of items, and long item columns
    (best-sellers) are length-normalised."""
    matrix = user_items.tocoo()
    n_items = user_items.shape[1]
    breadth = np.bincount(matrix.row, minlength=user_items.shape[0])  # items per customer
    idf = np.log(n_items / (1.0 + breadth)) + 1.0
    length = np.bincount(matrix.col, weights=matrix.data, minlength=n_items)
    norm = k1 * (1.0 - b + b * length / max(length.mean(), 1e-12))
    data = matrix.data * (k1 + 1.0) / (matrix.data + norm[matrix.col]) * idf[matrix.row]
    return sp.csr_matrix((data.astype(np.float32), (matrix.row, matrix.col)), shape=user_items.shape)


def top_neighbours(vectors: sp.csr_matrix, neighbours: int) -> sp.csr_matrix:
    """Rows of `vectors` compared with each other (dot product), keeping each row's `neighbours`
    largest positive similarities, self excluded. Returns an (n × n) CSR with at most that many
    entries per row."""
    n = vectors.shape[0]
    keep = min(neighbours, max(n - 1, 1))
    rows, cols, vals = [], [], []
    transposed = vectors.T.tocsc()
    for start in range(0, n, row_block(n)):
        block = (vectors[start : start + row_block(n)] @ transposed).toarray()
        idx = np.arange(block.shape[0])
        block[idx, start + idx] = 0.0
        part = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
        values = np.take_along_axis(block, part, axis=1)
        positive = values > 0
        rows.append((start + np.repeat(idx[:, None], keep, axis=1))[positive])
        cols.append(part[positive])
        vals.append(values[positive])
    return sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )


@register("itemknn")
class ItemKNNRecommender(Recommender):
    """Item-item CF: "customers who bought this also bought"."""

    param_grid: ClassVar[dict[str, list[Any]]] = {"similarity": ["cosine", "bm25"], "neighbours": [50, 200]}

    def __init__(
        self, similarity: str = "cosine", neighbours: int = 100, half_life_days: float | None = None
    ) -> None:
        self.similarity = similarity
        self.neighbours = neighbours
        self.half_life_days = half_life_days

    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        if self.similarity not in {"cosine", "bm25"}:
            raise ValueError(f"similarity must be 'cosine' or 'bm25', not {self.similarity!r}")
        history = data.matrix(data.decayed(self.half_life_days))
        history.data = np.log1p(history.data)
        self.history_ = history
        if self.similarity == "bm25":
            item_vectors = bm25_weight(history).T.tocsr()
        else:
            item_vectors = _l2_normalise_rows(history.T.tocsr())
        # Each candidate item is scored from its own nearest neighbours (Deshpande & Karypis 2004):
        # similarity_[j, i] = sim(j, i) for the `neighbours` items j closest to candidate i.
        self.similarity_ = top_neighbours(item_vectors, self.neighbours).T.tocsr()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.history_[users] @ self.similarity_).toarray().astype(np.float32)

    def _item_similarity(self, item: int) -> np.ndarray:
        return self.similarity_[:, item].toarray().ravel()


@register("userknn")
class UserKNNRecommender(Recommender):
    """User-user CF over the `neighbours` most similar customers. With `mean_centered` (for graded
    feedback: ratings, counts) the Resnick formula above; without, the plain similarity-weighted sum,
    which is the right choice for binary feedback, where centring would erase every signal."""

    param_grid: ClassVar[dict[str, list[Any]]] = {"neighbours": [20, 80], "mean_centered": [False, True]}

    def __init__(self, neighbours: int = 50, mean_centered: bool = False, shrink: float = 1.0) -> None:
        self.neighbours = neighbours
        self.mean_centered = mean_centered
        self.shrink = shrink

    def _fit(self, data: Encoded, frame: pd.DataFrame) -> None:
        ratings = data.matrix()
        ratings.data = np.log1p(ratings.data)
        counts = np.diff(ratings.indptr)
        self.means_ = np.divide(
            np.asarray(ratings.sum(axis=1)).ravel(), counts, out=np.zeros(len(counts)), where=counts > 0
        ).astype(np.float32)
        centred = ratings.copy()
        if self.mean_centered:
            centred.data -= np.repeat(self.means_, counts)
        self.centred_ = centred
        self.rated_ = ratings.sign()
        # Customers whose history is all one value have an all-zero centred row: compare them on the
        # raw ratings instead so they still get neighbours.
        basis = ratings.copy()
        if self.mean_centered:
            flat = np.asarray(abs(centred).sum(axis=1)).ravel() == 0
            basis = sp.csr_matrix(
                sp.diags((~flat).astype(np.float32)) @ centred + sp.diags(flat.astype(np.float32)) @ ratings
            )
        self.neighbours_ = top_neighbours(_l2_normalise_rows(basis), self.neighbours)

    def _score(self, users: np.ndarray) -> np.ndarray:
        weights = self.neighbours_[users]
        numerator = (weights @ self.centred_).toarray()
        if not self.mean_centered:
            return numerator.astype(np.float32)
        denominator = (abs(weights) @ self.rated_).toarray() + self.shrink
        return (self.means_[users, None] + numerator / denominator).astype(np.float32)
