"""The purchases every customer-intelligence computation starts from, as DuckDB views over the store.

Completed orders of identified customers only: cancellations, returns and guest checkouts would
otherwise count as customers' behaviour. Money is converted to major units (元, £) once, here.
"""

from __future__ import annotations

import datetime as dt

import duckdb

from marketpilot.errors import UserError

ORDERS_VIEW = "_purchases"
LINES_VIEW = "_purchase_lines"


def register_purchases(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> None:
    """Views `_purchases(order_id, customer_id, ordered_at, day, value, discount)` and
    `_purchase_lines(order_id, customer_id, day, product_id, category, quantity, value)`, limited to
    orders placed before `before` (exclusive) when given."""
    cutoff = f"AND o.ordered_at < DATE '{before.isoformat()}'" if before else ""
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {ORDERS_VIEW} AS
        SELECT o.order_id, o.customer_id, o.ordered_at, CAST(o.ordered_at AS DATE) AS day,
               o.total_minor / 100.0 AS value, coalesce(o.discount_minor, 0) / 100.0 AS discount
        FROM orders o LEFT JOIN customers c USING (customer_id)
        WHERE coalesce(o.status, 'completed') NOT IN ('cancelled', 'returned')
          AND coalesce(o.total_minor, 0) > 0 AND NOT coalesce(c.is_guest, false) {cutoff}"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {LINES_VIEW} AS
        SELECT p.order_id, p.customer_id, p.day, i.product_id,
               coalesce(nullif(pr.category, ''), '(none)') AS category, i.quantity,
               i.quantity * i.unit_price_minor / 100.0 AS value
        FROM {ORDERS_VIEW} p JOIN order_items i USING (order_id)
        LEFT JOIN products pr USING (product_id)
        WHERE i.quantity > 0"""
    )


def last_purchase_day(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    return con.execute(f"SELECT max(day) FROM {ORDERS_VIEW}").fetchall()[0][0]


def registered_purchases(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> dt.date:
    """`register_purchases`, then the last purchase day; a UserError naming the fix when the store has
    no completed orders."""
    register_purchases(con, before=before)
    last = last_purchase_day(con)
    if last is None:
        raise UserError("No completed orders in the store.", hint="Load orders first: marketpilot load …")
    return last
