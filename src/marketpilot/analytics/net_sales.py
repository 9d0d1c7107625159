"""What each product and category sold, net of returns, by the purchase rule of purchases.py.

The lines of every order the rule counts as a purchase count (a wholly returned one too), less the
returned lines of each return the rule nets against a purchase holding the returned product: a returned
line reduces the product it returns, on the return's day, in its order's currency. So a product
returned by most of its buyers sells little. A cancelled order, the refund of an order left out as
cancelled/refunded, a returned product that no earlier purchase of the customer holds (bought before
the data; a postage refund or manual adjustment) and a bare refund without lines count nothing for any
product: a product's returns reduce only sales of it that the data holds. The documents are the customer
figures' (orders of identified customers), so category shares agree with their spend. Values are list
values (quantity × unit price, before line discounts and coupons), in major units of each currency;
amounts in different currencies are never added.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from marketpilot.analytics.purchases import counted_sql, lines_view, store_documents_sql, store_lines_sql
from marketpilot.data.money import scale_sql

NET_LINES = "_net_lines"
_DOCUMENTS = "_sales_documents"  # its own name: registering it leaves the customer figures' views alone


def register_net_lines(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> None:
    """Table `_net_lines(order_id, customer_id, day, currency, product_id, category, quantity, value)` of
    the store's orders placed before `before` (exclusive) when given: the purchases' lines (positive)
    and the netted returns' lines (negative). `currency` is the order's ISO code, NULL when blank."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {_DOCUMENTS} AS {store_documents_sql()}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {lines_view(_DOCUMENTS)} AS {store_lines_sql()}")
    counted = counted_sql(_DOCUMENTS, before=before, lines=lines_view(_DOCUMENTS))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {NET_LINES} AS
        WITH counted AS ({counted})
        SELECT d.order_id, d.customer_id, CAST(d.ordered_at AS DATE) AS day,
               nullif(upper(trim(d.currency)), '') AS currency, i.product_id,
               coalesce(nullif(pr.category, ''), '(none)') AS category, i.quantity,
               i.quantity * i.unit_price_minor / {scale_sql("i.currency")} AS value
        FROM counted c JOIN {_DOCUMENTS} d USING (order_id) JOIN order_items i USING (order_id)
        LEFT JOIN products pr ON pr.product_id = i.product_id
        -- a purchase: all its lines (a return line inside it too); a return: its lines of the product it
        -- nets that the rule spread it over (negative value)
        WHERE c.product_id IS NULL
           OR (i.product_id = c.product_id
               AND i.quantity * i.unit_price_minor - coalesce(i.discount_minor, 0) < 0)"""
    )


def top_categories(con: duckdb.DuckDBPyConnection, k: int) -> list[str]:
    """The k categories that sold most in the registered net lines: by their share of each currency's
    net sales, currencies weighted by their orders (a single-currency shop: by net sales)."""
    rows = con.execute(
        f"""WITH sold AS (SELECT currency, category, sum(value) AS value FROM {NET_LINES} GROUP BY ALL),
            markets AS (
                SELECT currency, sum(value) AS value,
                       count(DISTINCT order_id) FILTER (WHERE value > 0) AS orders
                FROM {NET_LINES} GROUP BY currency)
            SELECT s.category FROM sold s JOIN markets m ON s.currency IS NOT DISTINCT FROM m.currency
            GROUP BY s.category
            ORDER BY coalesce(sum(s.value / nullif(m.value, 0) * m.orders), 0) DESC, s.category
            LIMIT {int(k)}"""
    ).fetchall()
    return [r[0] for r in rows]
