"""Typed read queries over the canonical tables that more than one caller needs (the demo, reports),
so their SQL lives in one place."""

from __future__ import annotations

import pandas as pd

from marketpilot.data.consistency import REVERSED
from marketpilot.data.money import scale_sql
from marketpilot.data.store import Store

# What the analytics count as a sale: any order not cancelled or returned, with or without a status
# (a shop export without a status column, or a status the load named as open).
SALE = f"NOT ({REVERSED})"
# A sale document with a negative total is a refund exported as its own document (WooCommerce, a
# return invoice): it reduces revenue, but it is no order and its customer did not buy that month.
ORDER = f"{SALE} AND coalesce(total_minor, 0) >= 0"


def _major(amount: str) -> str:
    """SQL for `amount` (minor units) in major units of the row's currency: 1000 minor units are
    ¥1,000 in JPY (no minor unit) but ¥10 in CNY (fen)."""
    return f"({amount}) / {scale_sql('currency')}::DOUBLE"


def _currency_or_none(frame: pd.DataFrame) -> pd.DataFrame:
    # DuckDB's NULL arrives as NaN, which JSON cannot carry and which reads as true in `or`
    frame["currency"] = frame["currency"].astype(object).where(frame["currency"].notna(), None)
    return frame


def monthly_sales(store: Store) -> pd.DataFrame:
    """Per month and currency: customers, sales (orders not cancelled or returned), revenue net of
    refunds exported as negative documents, and cancelled value (major units).
    One row per currency a month had: amounts in different currencies are never added together;
    `currency` is None for orders that name none."""
    frame = store.query(
        f"""
        SELECT strftime(date_trunc('month', ordered_at), '%Y-%m') AS month, currency,
               count(DISTINCT customer_id) FILTER (WHERE {ORDER}) AS customers,
               count(*) FILTER (WHERE {ORDER}) AS orders,
               {_major(f"sum(total_minor) FILTER (WHERE {SALE})")} AS revenue,
               -{_major("coalesce(sum(total_minor) FILTER (WHERE status = 'cancelled'), 0)")} AS cancelled
        FROM orders GROUP BY 1, 2 ORDER BY month, currency NULLS LAST
        """
    )
    return _currency_or_none(frame)


def revenue_by_currency(store: Store) -> pd.DataFrame:
    """Sales (orders not cancelled or returned) and their revenue net of refunds exported as negative
    documents (major units) per currency, most first;
    `currency` is None for orders that name none."""
    frame = store.query(
        f"""
        SELECT currency, count(*) FILTER (WHERE {ORDER}) AS orders,
               {_major("coalesce(sum(total_minor), 0)")} AS revenue
        FROM orders WHERE {SALE} GROUP BY currency ORDER BY orders DESC, currency NULLS LAST
        """
    )
    return _currency_or_none(frame)


def customer_counts(store: Store) -> tuple[int, int]:
    """(identified customers, guest checkouts)."""
    row = store.query(
        "SELECT count(*) FILTER (WHERE NOT coalesce(is_guest, false)) AS members, "
        "count(*) FILTER (WHERE is_guest) AS guests FROM customers"
    ).iloc[0]
    return int(row.members), int(row.guests)


def lowest_rated_category(store: Store, min_reviews: int = 20) -> str | None:
    """The product category with the lowest mean star rating among those with enough reviews."""
    worst = store.query(
        "SELECT p.category FROM reviews r JOIN products p USING (product_id) "
        "WHERE r.rating IS NOT NULL GROUP BY p.category HAVING count(*) >= $n "
        "ORDER BY avg(r.rating), p.category LIMIT 1",
        {"n": min_reviews},
    )
    return None if worst.empty else str(worst.category.iloc[0])
