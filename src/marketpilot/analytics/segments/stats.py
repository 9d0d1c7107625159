"""Per-segment statistics: the facts a persona may use, and the rows of the segment report.

Values are rounded once here (money to 0.01, shares to 0.0001, the rest to 0.1) so that the model
sees exactly the numbers the checker accepts."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

from marketpilot.analytics.rfm import RFM_CLASSES

_CLASS_NAMES = {key: (zh, en) for key, zh, en in RFM_CLASSES.values()}


class CategoryShare(BaseModel):
    category: str
    share: float


class ClassShare(BaseModel):
    rfm_class: str
    name_zh: str
    name_en: str
    share: float


class SegmentStats(BaseModel):
    segment: int
    customers: int
    customer_share: float
    revenue: float
    revenue_share: float
    aov: float
    orders_per_customer: float
    recency_days: float
    tenure_days: float
    discount_rate: float
    clv_mean: float | None
    churn_risk: float
    top_categories: list[CategoryShare]
    rfm_mix: list[ClassShare]


def relabel_by_revenue(labels: np.ndarray, monetary: np.ndarray) -> np.ndarray:
    """Segment 1 is the one with the most revenue, then 2, …: stable, meaningful numbering."""
    k = int(labels.max()) + 1
    revenue = np.bincount(labels, weights=monetary, minlength=k)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(-revenue, kind="stable")] = np.arange(1, k + 1)
    return rank[labels]


def segment_stats(
    frame: pd.DataFrame,
    segments: np.ndarray,
    rfm_class: pd.Series,
    *,
    clv: pd.Series | None = None,
    top_n: int = 3,
) -> list[SegmentStats]:
    """Aggregate customer rows (indexed by customer_id) per segment. No customer-level data leaves."""
    df = pd.DataFrame(
        {
            "segment": segments,
            "monetary": frame["monetary"].to_numpy(),
            "frequency": frame["frequency"].to_numpy(),
            "recency_days": frame["recency_days"].to_numpy(),
            "tenure_days": frame["tenure_days"].to_numpy(),
            "discount_rate": frame["discount_rate"].to_numpy(),
            "churn_risk": 1 - frame["p_alive"].to_numpy(),
            "rfm_class": rfm_class.reindex(frame.index).fillna("general_winback").to_numpy(),
        }
    )
    if clv is not None:
        df["clv"] = clv.reindex(frame.index).to_numpy()
    cats = frame.attrs.get("categories", [])
    for i in range(len(cats)):
        df[f"spend_cat_{i}"] = frame[f"cat_{i}"].to_numpy() * df["monetary"].to_numpy()
    g = df.groupby("segment")
    agg = g.agg(
        customers=("monetary", "size"),
        revenue=("monetary", "sum"),
        orders=("frequency", "sum"),
        recency_days=("recency_days", "mean"),
        tenure_days=("tenure_days", "mean"),
        discount_rate=("discount_rate", "mean"),
        churn_risk=("churn_risk", "mean"),
    )
    clv_mean = g["clv"].mean() if clv is not None else None
    cat_spend = g[[f"spend_cat_{i}" for i in range(len(cats))]].sum() if cats else None
    mix = pd.crosstab(df["segment"], df["rfm_class"], normalize="index")
    total_customers, total_revenue = len(df), max(float(df["monetary"].sum()), 1e-12)
    out = []
    for seg, row in agg.iterrows():  # one iteration per segment (a handful), not per customer
        top: list[CategoryShare] = []
        if cat_spend is not None:
            shares = cat_spend.loc[seg].to_numpy() / max(row["revenue"], 1e-12)
            top = [
                CategoryShare(category=cats[i], share=round(float(shares[i]), 4))
                for i in np.argsort(-shares)[:top_n]
                if shares[i] > 0
            ]
        classes = mix.loc[seg].sort_values(ascending=False).head(top_n)
        out.append(
            SegmentStats(
                segment=int(seg),
                customers=int(row["customers"]),
                customer_share=round(row["customers"] / total_customers, 4),
                revenue=round(float(row["revenue"]), 2),
                revenue_share=round(float(row["revenue"]) / total_revenue, 4),
                aov=round(float(row["revenue"]) / max(float(row["orders"]), 1.0), 2),
                orders_per_customer=round(float(row["orders"]) / row["customers"], 1),
                recency_days=round(float(row["recency_days"]), 1),
                tenure_days=round(float(row["tenure_days"]), 1),
                discount_rate=round(float(row["discount_rate"]), 4),
                clv_mean=round(float(clv_mean.loc[seg]), 2) if clv_mean is not None else None,
                churn_risk=round(float(row["churn_risk"]), 4),
                top_categories=top,
                rfm_mix=[
                    ClassShare(
                        rfm_class=key,
                        name_zh=_CLASS_NAMES[key][0],
                        name_en=_CLASS_NAMES[key][1],
                        share=round(v, 4),
                    )
                    for key, v in classes.items()
                    if v > 0
                ],
            )
        )
    return out
