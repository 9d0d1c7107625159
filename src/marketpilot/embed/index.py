"""Exact cosine search over L2-normalised vectors with numpy (fine to ~1M x 384 on one machine).

`VectorSearch` is the interface; an approximate index (FAISS, pgvector, ...) can implement it later
without touching callers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from marketpilot.errors import UserError


class SearchResult(NamedTuple):
    """Row i holds query i's hits, best first: `ids` (str) and cosine `scores`."""

    ids: np.ndarray
    scores: np.ndarray


class VectorSearch(Protocol):
    def add(self, ids: list[str], vectors: np.ndarray) -> None: ...

    def search(self, queries: np.ndarray, k: int = 10) -> SearchResult: ...

    def __len__(self) -> int: ...


def _as_matrix(vectors: np.ndarray, dim: int | None) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or (dim is not None and matrix.shape[1] != dim):
        raise UserError(f"Expected vectors of shape (n, {dim}), got {np.shape(vectors)}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class VectorIndex:
    """Exact cosine index. Vectors are re-normalised on the way in, so any embedding works."""

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self._ids = np.empty(0, dtype=object)
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._positions: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> list[str]:
        return self._ids.tolist()

    def add(self, ids: list[str], vectors: np.ndarray) -> None:
        """Add items; an id already present is replaced (re-embedding a changed product)."""
        matrix = _as_matrix(vectors, self.dim)
        ids = [str(i) for i in ids]
        if len(ids) != len(matrix):
            raise UserError(f"VectorIndex.add: {len(ids)} ids for {len(matrix)} vectors")
        if len(set(ids)) != len(ids):
            raise UserError("VectorIndex.add: duplicate ids in one call")
        existing = [i for i in ids if i in self._positions]
        if existing:
            keep = np.ones(len(self._ids), dtype=bool)
            keep[[self._positions[i] for i in existing]] = False
            self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        self._ids = np.concatenate([self._ids, np.array(ids, dtype=object)])
        self._vectors = np.vstack([self._vectors, matrix])
        self._positions = {i: n for n, i in enumerate(self._ids)}

    def search(self, queries: np.ndarray, k: int = 10) -> SearchResult:
        """Top-k by cosine for each query vector (one (d,) vector or an (m, d) matrix)."""
        matrix = _as_matrix(queries, self.dim)
        k = min(k, len(self))
        if k == 0:
            empty = np.empty((len(matrix), 0))
            return SearchResult(empty.astype(object), empty.astype(np.float32))
        scores = matrix @ self._vectors.T
        # argpartition finds the k best in O(n); only those k are sorted.
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        best = np.take_along_axis(top, order, axis=1)
        return SearchResult(self._ids[best], np.take_along_axis(top_scores, order, axis=1))

    def save(self, path: Path | str) -> Path:
        """Write an .npz atomically (temp file in the same directory, then rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, ids=self._ids.astype(str), vectors=self._vectors, dim=np.array(self.dim))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: Path | str) -> VectorIndex:
        try:
            with np.load(path, allow_pickle=False) as data:
                index = cls(int(data["dim"]))
                index.add(data["ids"].tolist(), data["vectors"])
        except (OSError, KeyError, ValueError) as exc:
            raise UserError(f"{path}: not a VectorIndex file ({exc})") from exc
        return index
