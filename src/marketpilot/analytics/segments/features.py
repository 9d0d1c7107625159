"""Segmentation features: behaviour from `customer_features`, plus an optional text signal (what the
customer bought, as the mean embedding of purchased product names)."""

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


def text_matrix(con: duckdb.DuckDBPyConnection, customers: pd.Index, *, dims: int = 8) -> pd.DataFrame:
    """Mean embedding of the names of the products each customer bought, reduced to `dims` principal
    components. Products are embedded once each; the per-customer mean is one sparse product."""
    from sklearn.decomposition import TruncatedSVD

    from marketpilot.embed import embed

    lines = con.execute(
        f"""SELECT l.customer_id, coalesce(p.name, l.product_id) AS name, sum(l.quantity) AS n
            FROM {LINES_VIEW} l LEFT JOIN products p USING (product_id) GROUP BY ALL"""
    ).df()
    names = pd.Index(lines["name"].unique())
    vectors = embed(names.tolist(), kind="passage")
    rows = customers.get_indexer(lines["customer_id"])
    keep = rows >= 0
    counts = sparse.csr_matrix(
        (lines["n"].to_numpy(float)[keep], (rows[keep], names.get_indexer(lines["name"])[keep])),
        shape=(len(customers), len(names)),
    )
    totals = np.asarray(counts.sum(axis=1)).ravel()
    mean = sparse.diags(1 / np.maximum(totals, 1)) @ counts @ vectors
    reduced = TruncatedSVD(n_components=min(dims, mean.shape[1] - 1), random_state=0).fit_transform(mean)
    return pd.DataFrame(reduced, index=customers, columns=[f"text_{i}" for i in range(reduced.shape[1])])
