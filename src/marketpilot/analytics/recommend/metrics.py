"""Top-K ranking metrics, computed for all customers at once.

Conventions (as in RecBole / most papers): Recall@K = hits / |relevant|; Precision@K = hits / K;
NDCG@K with binary gain, ideal DCG over min(|relevant|, K); MAP@K normalised by min(|relevant|, K);
HitRate@K = share of customers with at least one hit. Coverage = distinct recommended items /
catalogue size; novelty = mean self-information -log2(share of training customers who took the item).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METRICS = ("recall", "precision", "ndcg", "map", "hit_rate", "coverage", "novelty")


def ranking_metrics(
    recommended: np.ndarray,
    truth: sp.csr_matrix,
    n_relevant: np.ndarray,
    k: int,
    item_share: np.ndarray,
) -> dict[str, float]:
    """`recommended`: (n, k) item codes best-first, -1 = empty slot. `truth`: (n, n_items) binary,
    the relevant items the model could know. `n_relevant`: (n,) all relevant items per customer,
    including items the model never saw (they count against recall). `item_share`: (n_items,)."""
    n, width = recommended.shape
    n_items = truth.shape[1]
    coo = truth.tocoo()
    truth_codes = np.sort(coo.row.astype(np.int64) * n_items + coo.col)
    valid = recommended >= 0
    rec_codes = np.arange(n, dtype=np.int64)[:, None] * n_items + np.maximum(recommended, 0)
    hits = valid & np.isin(rec_codes, truth_codes)
    n_hits = hits.sum(axis=1)
    relevant = np.maximum(n_relevant, 1)
    discounts = 1.0 / np.log2(np.arange(2, width + 2))
    dcg = (hits * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(relevant, width) - 1]
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, width + 1)
    average_precision = (precision_at * hits).sum(axis=1) / np.minimum(relevant, width)
    shown = recommended[valid]
    share = np.clip(item_share[shown], 1e-12, 1.0)
    return {
        "recall": float(np.mean(n_hits / relevant)),
        "precision": float(np.mean(n_hits / k)),
        "ndcg": float(np.mean(dcg / ideal)),
        "map": float(np.mean(average_precision)),
        "hit_rate": float(np.mean(n_hits > 0)),
        "coverage": float(len(np.unique(shown)) / max(n_items, 1)),
        "novelty": float(np.mean(-np.log2(share))) if len(shown) else 0.0,
    }
