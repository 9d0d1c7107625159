"""What each product and category sold, net of returns, by the purchase rule of purchases.py.

The lines of every order the rule counts as a purchase count (a wholly returned one too), less the
returned lines (a free gift's worth 0 too) of each return the rule nets against a purchase holding the
returned product: a returned line reduces the product it returns, on the return's day, in its order's
currency, in the part the customer's purchases of the product took (units returned beyond them were
bought before the data: they count nothing). So a product returned by most of its buyers sells little. A
cancelled order, the refund of an order left out as cancelled/refunded, a returned product that no
earlier purchase of the customer holds (bought before the data; a postage refund or manual adjustment)
and a bare refund without lines count nothing for any product: a product's returns reduce only sales of
it that the data holds. The documents are the customer figures' (orders of identified customers), so
category shares agree with their spend. Values are list values (quantity × unit price, before line
discounts and coupons), in major units of each currency; amounts in different currencies are never
added.
"""

from __future__ import annotations

import duckdb

from marketpilot.analytics.purchases import REGISTERED
from marketpilot.data.money import scale_sql
from marketpilot.data.reversals import returned_line

NET_LINES = "_net_lines"


def register_net_lines(con: duckdb.DuckDBPyConnection) -> None:
    """View `_net_lines(order_id, customer_id, day, currency, product_id, category, quantity, value)` of
    the purchases `register_purchases` registered last on `con` (the orders before its cutoff): the
    purchases' lines (positive) and the netted returns' lines (negative). `currency` is the order's ISO
    code, NULL when blank. A view of that netting, as `_purchase_lines` is: the documents are not netted
    a second time nor their lines copied, and it follows the next `register_purchases`."""
    # a purchase's lines count whole; a return's lines of a product, in the part purchases took of it
    kept = "CASE WHEN n.kind = 'purchase' THEN 1.0 ELSE n.by_products[i.product_id] END"
    # a line's value as the matching reads it (`returned_line`): after its discount
    value = "(i.quantity * i.unit_price_minor - coalesce(i.discount_minor, 0))"
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {NET_LINES} AS
        SELECT n.order_id, n.customer_id, CAST(n.ordered_at AS DATE) AS day, nullif(n.cur, '') AS currency,
               i.product_id, coalesce(nullif(pr.category, ''), '(none)') AS category,
               i.quantity * {kept} AS quantity,
               i.quantity * i.unit_price_minor * {kept} / {scale_sql("i.currency")} AS value
        FROM {REGISTERED} n JOIN order_items i USING (order_id)
        -- a purchase (a wholly returned one too: its returns undo it): all its lines, a return line
        -- inside it too; a return: its lines of each product it nets against a purchase holding it
        -- (negative value, or worth 0 for a gift), in the part purchases took (`by_products`: by value,
        -- or by units for a gift worth 0; what reached past the customer's earliest purchase of the
        -- product was bought before the data)
        LEFT JOIN products pr ON pr.product_id = i.product_id
        WHERE n.kind = 'purchase'
           OR (n.kind = 'return' AND n.by_products[i.product_id] IS NOT NULL
               AND {returned_line(value, "i.quantity")})"""
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
