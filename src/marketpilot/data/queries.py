"""Typed read queries over the canonical tables that more than one caller needs (the demo, reports),
so their SQL lives in one place."""

from __future__ import annotations

import pandas as pd

from marketpilot.data.consistency import REVERSED
from marketpilot.data.money import minor_digits, scale_sql
from marketpilot.data.reversals import matching_ctes
from marketpilot.data.store import Store

# What the analytics count as a sale: any order not cancelled or returned, with or without a status
# (a shop export without a status column, or a status the load named as open).
SALE = f"NOT ({REVERSED})"
# A sale document with a negative total is a refund exported as its own document (WooCommerce, a
# return invoice): it reduces revenue, but it is no order and its customer did not buy that month.
ORDER = f"{SALE} AND coalesce(total_minor, 0) >= 0"
# A document with a negative total takes back part of a sale, whatever its status: a refund, or a
# cancellation or return exported as its own document (Online Retail's C… invoices, the sample shop's
# C…/R…). An order marked cancelled/returned with its own positive total never was a sale: it takes
# nothing back, and the revenue never counted it.
REVERSAL = "total_minor < 0"
CANCELLATION = f"{REVERSAL} AND status = 'cancelled'"
# Revenue is net: the sales, less what the reversal documents took back.
NET = f"({SALE}) OR {REVERSAL}"
# A void: an order marked cancelled/returned without a negative total, never a sale
VOID = f"{REVERSED} AND NOT coalesce(total_minor < 0, false)"
# Reversals matched as the analytics' purchase rule matches them (data/reversals.py): the part of a
# reversal that takes back a void is that void's refund (WooCommerce marks a refunded order 'refunded'
# and exports the refund too), and the void was never counted, so that part is not taken off again.
# Only a customer's documents in a currency that holds a void can match a reversal to one: the
# matching runs over those alone, so a shop without voids (most) pays next to nothing on each load.
COUNTED_ORDERS = f"""
    WITH documents AS (
        SELECT order_id, customer_id, ordered_at, status, total_minor AS value, currency
        FROM orders
        WHERE (customer_id, coalesce(upper(trim(currency)), '')) IN (
            SELECT customer_id, coalesce(upper(trim(currency)), '') FROM orders WHERE {VOID})
    ), document_lines AS (
        SELECT order_id, product_id, quantity,
               quantity * unit_price_minor - coalesce(discount_minor, 0) AS value
        FROM order_items WHERE order_id IN (SELECT order_id FROM documents)
    ), {matching_ctes("documents", "document_lines")}, absorbed AS (
        -- a part worth 0 (a free gift sent back) takes no money back: the overview counts no units
        SELECT return_id AS order_id, round(sum(amount))::BIGINT AS minor FROM parts
        WHERE absorbed AND amount <> 0 GROUP BY return_id
    ), counted AS (  -- the orders, each reversal less its absorbed part; one wholly absorbed in none
        SELECT o.order_id, o.customer_id, o.ordered_at, o.status, o.currency,
               o.total_minor - coalesce(a.minor, 0) AS total_minor
        FROM orders o LEFT JOIN absorbed a USING (order_id)
        WHERE a.minor IS NULL OR o.total_minor - a.minor < 0
    )"""


def _major(amount: str) -> str:
    """SQL for `amount` (minor units) in major units of the row's currency: 1000 minor units are
    ¥1,000 in JPY (no minor unit) but ¥10 in CNY (fen)."""
    return f"({amount}) / {scale_sql('currency')}::DOUBLE"


def _currency_or_none(frame: pd.DataFrame) -> pd.DataFrame:
    # DuckDB's NULL arrives as NaN, which JSON cannot carry and which reads as true in `or`
    frame["currency"] = frame["currency"].astype(object).where(frame["currency"].notna(), None)
    return frame


def _money_columns() -> str:
    """SQL select items (major units) of a group of orders: `gross` (its sales), `returned` and
    `cancelled` (what its reversal documents took back, as positive amounts) and `revenue`, the net:
    gross − returned − cancelled. A reversal counts in the month it was issued, less the part that
    takes back a void (`COUNTED_ORDERS`)."""
    return f"""
        {_major(f"coalesce(sum(total_minor) FILTER (WHERE {ORDER}), 0)")} AS gross,
        -{_major(f"coalesce(sum(total_minor) FILTER (WHERE {REVERSAL} AND NOT ({CANCELLATION})), 0)")}
            AS returned,
        -{_major(f"coalesce(sum(total_minor) FILTER (WHERE {CANCELLATION}), 0)")} AS cancelled,
        {_major(f"coalesce(sum(total_minor) FILTER (WHERE {NET}), 0)")} AS revenue"""


def monthly_sales(store: Store) -> pd.DataFrame:
    """Per month and currency: customers and orders (sales: not cancelled or returned, positive
    total) and the money columns of `_money_columns` (major units).
    One row per currency a month had: amounts in different currencies are never added together;
    `currency` is None for orders that name none."""
    frame = store.query(
        f"""{COUNTED_ORDERS}
        SELECT strftime(date_trunc('month', ordered_at), '%Y-%m') AS month, currency,
               count(DISTINCT customer_id) FILTER (WHERE {ORDER}) AS customers,
               count(*) FILTER (WHERE {ORDER}) AS orders, {_money_columns()}
        FROM counted WHERE {NET} GROUP BY 1, 2 ORDER BY month, currency NULLS LAST
        """
    )
    return _currency_or_none(frame)


def currency_totals(monthly: pd.DataFrame) -> pd.DataFrame:
    """Per currency, most orders first: orders and the money columns of `_money_columns` (major
    units), summed over `monthly`, the rows of `monthly_sales`, so that a page showing both runs the
    reversal matching once. Every column is additive (`customers` is not, and is left out); each sum
    is rounded to its currency's minor unit, as `_major` divides the exact sum of minor units, so it
    equals that sum without the float noise of adding months."""
    money = ["gross", "returned", "cancelled", "revenue"]
    totals = (
        monthly.groupby("currency", dropna=False, sort=False)[["orders", *money]]
        .sum()
        .reset_index()
        .sort_values(["orders", "currency"], ascending=[False, True], na_position="last", kind="stable")
        .reset_index(drop=True)
    )
    totals = _currency_or_none(totals)
    scale = 10.0 ** totals["currency"].map(minor_digits).astype(float)
    totals[money] = (totals[money].mul(scale, axis=0)).round().div(scale, axis=0)
    return totals


def revenue_by_currency(store: Store) -> pd.DataFrame:
    """`currency_totals` of the store's `monthly_sales` (`currency` None for orders that name none);
    a caller that shows the months too passes its own rows to `currency_totals`."""
    return currency_totals(monthly_sales(store))


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
