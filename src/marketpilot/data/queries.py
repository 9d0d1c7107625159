"""Typed read queries over the canonical tables that more than one caller needs (the demo, reports),
so their SQL lives in one place."""

from __future__ import annotations

import pandas as pd

from marketpilot.data.store import Store


def monthly_sales(store: Store) -> pd.DataFrame:
    """Per month: customers, completed orders, revenue, cancelled value (major units) and currency."""
    return store.query(
        """
        SELECT strftime(date_trunc('month', ordered_at), '%Y-%m') AS month,
               count(DISTINCT customer_id) FILTER (WHERE status = 'completed') AS customers,
               count(*) FILTER (WHERE status = 'completed') AS orders,
               sum(total_minor) FILTER (WHERE status = 'completed') / 100.0 AS revenue,
               -coalesce(sum(total_minor) FILTER (WHERE status = 'cancelled'), 0) / 100.0 AS cancelled,
               any_value(currency) AS currency
        FROM orders GROUP BY ALL ORDER BY month
        """
    )


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
