"""Behavioural features per customer at a cutoff date, shared by propensity models and segmentation.

All features use only what happened before the cutoff (exclusive), so a model trained on one cutoff
and evaluated on a later one never sees the future. Computed in DuckDB; the CLV part reuses the
BG/NBD fit on the same history.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from marketpilot.analytics.clv.bgnbd import BetaGeoModel
from marketpilot.analytics.clv.service import fit_warnings
from marketpilot.analytics.clv.transactions import summarise
from marketpilot.analytics.net_sales import NET_LINES, register_net_lines, top_categories
from marketpilot.analytics.purchases import DOCUMENTS_VIEW, LINES_VIEW, ORDERS_VIEW, register_purchases


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchall()[0][0])


def customer_features(
    con: duckdb.DuckDBPyConnection,
    cutoff: dt.date,
    *,
    categories: list[str] | None = None,
    n_categories: int = 8,
    with_clv: bool = True,
) -> pd.DataFrame:
    """One row per customer with a completed purchase before `cutoff`, indexed by customer_id.

    Columns: recency/frequency/monetary, order rhythm and recent activity, discount sensitivity,
    spend share per top category net of returns (`cat_<i>`, names in `frame.attrs["categories"]`),
    funnel counts from `events` when the store has events, and BG/NBD outputs (P(alive), expected
    purchases). Products, categories and units per order count what was bought and kept
    (`_purchase_lines`: a product that returns naming it took back is not counted).
    `frame.attrs["fit_warnings"]`: the BG/NBD fit's warnings (parameters that ran off to a limit)."""
    money = register_purchases(con, before=cutoff).money_currency
    register_net_lines(con)  # reads the netting just registered
    cats = categories if categories is not None else top_categories(con, n_categories)
    cat_sql = ", ".join(
        f"coalesce(sum(value) FILTER (WHERE category = $c{i}) / nullif(sum(value), 0), 0) AS cat_{i}"
        for i in range(len(cats))
    )
    orders = con.execute(
        f"""
        SELECT customer_id,
            date_diff('day', max(day), $cutoff) AS recency_days,
            date_diff('day', min(day), $cutoff) AS tenure_days,
            count(*) AS frequency,
            sum(value) AS monetary,
            avg(value) AS aov,
            max(value) AS max_order_value,
            CASE WHEN count(*) > 1 THEN date_diff('day', min(day), max(day)) / (count(*) - 1) END
                AS mean_gap_days,
            count(*) FILTER (WHERE day >= $cutoff - INTERVAL 30 DAY) AS orders_30d,
            count(*) FILTER (WHERE day >= $cutoff - INTERVAL 90 DAY) AS orders_90d,
            count(*) FILTER (WHERE day >= $cutoff - INTERVAL 365 DAY) AS orders_365d,
            coalesce(sum(value) FILTER (WHERE day >= $cutoff - INTERVAL 90 DAY), 0) AS spend_90d,
            -- of the orders in the money currency, as the spend figures
            avg(CASE WHEN discount > 0 THEN 1.0 WHEN discount IS NOT NULL THEN 0.0 END)
                AS discounted_order_share,
            sum(discount) / nullif(sum(value + discount), 0) AS discount_rate
        FROM {ORDERS_VIEW} GROUP BY customer_id
        """,
        {"cutoff": cutoff},
    ).df()
    lines = con.execute(
        f"""
        SELECT customer_id, count(DISTINCT product_id) AS distinct_products,
               count(DISTINCT category) AS distinct_categories,
               sum(quantity) / count(DISTINCT order_id) AS units_per_order
        FROM {LINES_VIEW} GROUP BY customer_id
        """
    ).df()
    frame = orders.merge(lines, on="customer_id", how="left")
    if cats:
        # shares of the spend in the money currency, as the spend figures: never of two added together
        in_money = "WHERE coalesce(currency, $money) = $money" if money else ""
        shares = con.execute(
            f"SELECT customer_id, {cat_sql} FROM {NET_LINES} {in_money} GROUP BY customer_id",
            {f"c{i}": c for i, c in enumerate(cats)} | ({"money": money} if money else {}),
        ).df()
        frame = frame.merge(shares, on="customer_id", how="left")
    if _has_rows(con, "events"):
        frame = frame.merge(_event_features(con, cutoff), on="customer_id", how="left")
    notes: list[str] = []
    if with_clv:
        clv, notes = _clv_features(con, cutoff)
        frame = frame.merge(clv, on="customer_id", how="left")
    frame = frame.set_index("customer_id").sort_index()
    frame = frame.astype("float64").fillna({"discount_rate": 0.0}).fillna(0.0)
    frame.attrs["categories"] = cats
    frame.attrs["fit_warnings"] = notes
    return frame


def feature_warnings(*snapshots: tuple[dt.date, pd.DataFrame]) -> list[str]:
    """The BG/NBD fit warnings of `customer_features` frames, each naming the cutoff it was fitted before."""
    return [
        f"BG/NBD features (P(alive), expected purchases) before {cutoff}: {note}"
        for cutoff, frame in snapshots
        for note in frame.attrs.get("fit_warnings", [])
    ]


def _event_features(con: duckdb.DuckDBPyConnection, cutoff: dt.date) -> pd.DataFrame:
    """Funnel counts over the last 30 days: views, carts, favourites and the view→cart rate."""
    return con.execute(
        """
        SELECT customer_id,
            count(*) FILTER (WHERE event_type = 'view') AS views_30d,
            count(*) FILTER (WHERE event_type = 'cart') AS carts_30d,
            count(*) FILTER (WHERE event_type IN ('fav', 'favourite', 'favorite')) AS favs_30d,
            count(*) FILTER (WHERE event_type = 'cart')
                / greatest(count(*) FILTER (WHERE event_type = 'view'), 1) AS view_to_cart
        FROM events
        WHERE occurred_at < $cutoff AND occurred_at >= $cutoff - INTERVAL 30 DAY
        GROUP BY customer_id
        """,
        {"cutoff": cutoff},
    ).df()


def _clv_features(con: duckdb.DuckDBPyConnection, cutoff: dt.date) -> tuple[pd.DataFrame, list[str]]:
    """BG/NBD fitted on the history before the cutoff: P(alive) and expected purchases in 30/90 days,
    with the fit's warnings."""
    summary = summarise(
        con, calibration_end=cutoff - dt.timedelta(days=1), time_unit="D", source=DOCUMENTS_VIEW
    )
    x, tx, t_obs = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    if not (x > 0).any():
        # No repeat buyer before the cutoff: BG/NBD has nothing to estimate, and the features are unknown
        # (LightGBM reads NaN as missing) rather than a refusal of the whole model.
        nan = np.full(len(x), np.nan)
        unknown = pd.DataFrame(
            {
                "customer_id": summary["customer_id"],
                "p_alive": nan,
                "expected_purchases_30d": nan,
                "expected_purchases_90d": nan,
            }
        )
        return unknown, []
    model = BetaGeoModel().fit(x, tx, t_obs)
    features = pd.DataFrame(
        {
            "customer_id": summary["customer_id"],
            "p_alive": model.p_alive(x, tx, t_obs),
            "expected_purchases_30d": model.conditional_expected_purchases(30.0, x, tx, t_obs),
            "expected_purchases_90d": model.conditional_expected_purchases(90.0, x, tx, t_obs),
        }
    )
    return features, fit_warnings(model)


def purchases_between(con: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date) -> pd.Series:
    """Number of purchases per customer in [start, end): the outcome a model predicts (net of the
    returns made by `end`)."""
    register_purchases(con, before=end)
    counts = con.execute(
        f"""SELECT customer_id, count(*) AS n FROM {ORDERS_VIEW}
            WHERE day >= $start AND day < $end GROUP BY customer_id""",
        {"start": start, "end": end},
    ).df()
    return counts.set_index("customer_id")["n"].astype(np.int64)
