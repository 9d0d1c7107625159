"""Segmentation features: behaviour from `customer_features`, plus an optional text signal: what the
customer bought (the mean embedding of purchased product names) and wrote (the mean embedding of
their own reviews, personal data masked)."""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd
from scipy import sparse

from marketpilot.analytics.customer_features import customer_features
from marketpilot.analytics.purchases import LINES_VIEW

# Behaviour that separates customers for marketing: value, rhythm, recency, deal-seeking, breadth.
BEHAVIOUR_COLUMNS = [
    "recency_days",
    "frequency",
    "monetary",
    "aov",
    "tenure_days",
    "orders_90d",
    "discount_rate",
    "distinct_categories",
]
# Heavy-tailed counts and amounts are log-scaled before standardising, so a few whales do not
# become clusters of their own.
LOG_COLUMNS = {
    "recency_days",
    "frequency",
    "monetary",
    "aov",
    "tenure_days",
    "orders_90d",
    "distinct_categories",
}


def segmentation_frame(
    con: duckdb.DuckDBPyConnection, cutoff: dt.date, *, n_categories: int = 6
) -> pd.DataFrame:
    """All customer features (for stats) at `cutoff`; clustering uses `behaviour_matrix` of it."""
    return customer_features(con, cutoff, n_categories=n_categories)


def behaviour_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """The clustering inputs: behaviour columns (log-scaled where heavy-tailed) + category shares."""
    cats = [c for c in frame.columns if c.startswith("cat_")]
    X = frame[BEHAVIOUR_COLUMNS + cats].copy()
    for col in LOG_COLUMNS:
        X[col] = np.log1p(X[col].clip(lower=0))
    return X


_CLAUSE_BREAK = r"[，。！？!?；;,.\n~～]+"
# Texts a platform fills in when the customer wrote nothing (淘宝: 此用户未填写评价内容, 系统默认好评).
_PLACEHOLDER_REVIEW = "text LIKE '%未填写评价%' OR text LIKE '%默认好评%'"


def review_texts(con: duckdb.DuckDBPyConnection, before: dt.date | None = None) -> pd.DataFrame:
    """(customer_id, text) of the reviews customers wrote before `before`, personal data masked
    ([电话], [邮箱] …) so that no phone number or address is embedded."""
    from marketpilot.privacy.pii import mask_pii

    if not con.execute("SELECT EXISTS (SELECT 1 FROM reviews)").fetchall()[0][0]:
        return pd.DataFrame({"customer_id": pd.Series(dtype=str), "text": pd.Series(dtype=str)})
    reviews = con.execute(
        f"""SELECT customer_id, trim(text) AS text FROM reviews
            WHERE customer_id IS NOT NULL AND trim(coalesce(text, '')) <> '' AND NOT ({_PLACEHOLDER_REVIEW})
              AND ($before IS NULL OR created_at < $before)""",
        {"before": before},
    ).df()
    reviews["text"] = [mask_pii(t) for t in reviews["text"]]  # one regex pass per review text
    return reviews


def review_clauses(reviews: pd.DataFrame) -> pd.DataFrame:
    """One row per clause of each review. Reviews repeat their clauses (质量很好, 物流很快) far more
    than whole texts, so embedding distinct clauses costs a fraction of embedding every review."""
    clauses = reviews.assign(text=reviews["text"].str.split(_CLAUSE_BREAK)).explode("text")
    clauses["text"] = clauses["text"].str.strip()
    return clauses[clauses["text"].str.len() > 0].reset_index(drop=True)


def _mean_embedding(customers: pd.Index, owner: pd.Series, text: pd.Series, weight: np.ndarray) -> np.ndarray:
    """Per customer, the weighted mean embedding of their texts (zeros for a customer without any).
    Each distinct text is embedded once; the per-customer mean is one sparse product."""
    from marketpilot.embed import embed

    texts = pd.Index(text.unique())
    vectors = embed(texts.tolist(), kind="passage")
    rows = customers.get_indexer(owner)
    keep = rows >= 0
    counts = sparse.csr_matrix(
        (weight[keep], (rows[keep], texts.get_indexer(text)[keep])), shape=(len(customers), len(texts))
    )
    totals = np.asarray(counts.sum(axis=1)).ravel()
    return sparse.diags(1 / np.maximum(totals, 1)) @ counts @ vectors


def text_matrix(
    con: duckdb.DuckDBPyConnection,
    customers: pd.Index,
    *,
    dims: int = 8,
    before: dt.date | None = None,
    reviews: bool = True,
) -> pd.DataFrame:
    """What each customer bought (mean embedding of the purchased product names, weighted by
    quantity) and, when the store has reviews, what they wrote (mean embedding of the clauses of
    their reviews before `before`), side by side and reduced to `dims` principal components. A
    customer without reviews has zeros in the review half: they do not write reviews."""
    from sklearn.decomposition import TruncatedSVD

    lines = con.execute(
        f"""SELECT l.customer_id, coalesce(p.name, l.product_id) AS name, sum(l.quantity) AS n
            FROM {LINES_VIEW} l LEFT JOIN products p USING (product_id) GROUP BY ALL"""
    ).df()
    blocks = [_mean_embedding(customers, lines["customer_id"], lines["name"], lines["n"].to_numpy(float))]
    written = review_clauses(review_texts(con, before)) if reviews else None
    if written is not None and len(written):
        ones = np.ones(len(written))
        blocks.append(_mean_embedding(customers, written["customer_id"], written["text"], ones))
    mean = np.hstack(blocks)
    reduced = TruncatedSVD(n_components=min(dims, mean.shape[1] - 1), random_state=0).fit_transform(mean)
    frame = pd.DataFrame(reduced, index=customers, columns=[f"text_{i}" for i in range(reduced.shape[1])])
    frame.attrs["sources"] = ["products", "reviews"][: len(blocks)]
    return frame
