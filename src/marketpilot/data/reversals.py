"""Which sale a reversal document takes back: the one matching rule the analytics' purchases
(analytics/purchases.py) and the overview's revenue (data/queries.py) both read, so that a refund of
an order already left out is taken off neither of them a second time.

Exports rarely say which sale a return reverses. A document with a negative value is a **return**,
whatever its status, and so is one worth 0 whose every line has a negative quantity (a free gift, 赠品,
sent back: a refund of 0); an order whose status says cancelled/returned without one is a **void** (it
never stood as a sale); everything else is a **purchase**. A return is matched to its customer's latest
sale (purchase or void) in its currency at or before it (at the same time a sale comes first). When the
return has lines, its amount is spread over its returned products (its lines of negative value, and those
worth 0 of negative quantity: `returned_line`) by their value, so a gift worth 0 gets none of it but its
units still go back, and each product's share is matched to the latest such sale holding that product,
falling back to the latest sale; a return whose returned lines are all worth 0 is matched whole, as a
bare refund is, its products each with a share of 0. A share matched to a void is that void's refund: the
sale it takes back was never counted (WooCommerce marks a refunded order 'refunded' *and* exports the
refund as its own negative document; Taobao closes an order, 交易关闭, after refunding it in full), so it is
**absorbed**.
"""

from __future__ import annotations

from marketpilot.data.consistency import REVERSED


def returned_line(value: str, quantity: str) -> str:
    """SQL: whether a return's line of `value` and `quantity` gives a product back: one of negative
    value, or one worth 0 of negative quantity (a free gift, 赠品, sent back with the goods)."""
    return f"({value} < 0 OR ({value} = 0 AND {quantity} < 0))"


def matching_ctes(documents: str, lines: str | None, where: str = "") -> str:
    """CTE definitions (to follow `WITH` or a comma) over relation `documents` `(order_id,
    customer_id, ordered_at, status, value, currency, …)` rows passing `where` (a `WHERE …` clause or
    ""), with their lines in relation `lines` `(order_id, product_id, quantity, value)` when given:
    `kinds` (documents with their `kind`: purchase, void, return; and `cur`, the blank currency ''),
    `classified` (with `seq`, each customer's documents per currency in order, and for returns their
    latest sale `target` and `target_void` when it is a void) and `parts` (each return's amount by the
    sale it reverses: `return_id`, `target`, `amount`, `itemised` when spread over its lines,
    `by_product` where a purchase holding the returned product took it, `absorbed` where the sale is a
    void, `product_id` the returned product, `units` the return's units of it: its lines' negative
    quantities, 0 for a line of negative value without one; a product's `amount` is 0 when its lines
    are worth 0, a gift's). With lines, also `return_products` (each return's products) and `holding`
    (per sale, purchase or void, and product a customer returned: `units`, what the sale holds of it).
    Amounts keep `value`'s unit; lines' values only weigh the products of one return, in any unit.
    Currencies are never matched against each other: the partition is (customer, currency), a blank
    currency its own."""
    whole = (
        "SELECT order_id AS return_id, target, value AS amount, false AS itemised, false AS by_product, "
        "target_void AS absorbed, NULL::VARCHAR AS product_id, NULL::BIGINT AS units"
    )
    if lines is None:
        matched = ""
        parts = f"{whole} FROM classified WHERE kind = 'return'"
    else:
        matched = f""", return_products AS (
            -- a return's amount spread over its returned products by their lines' value: its total
            -- (with shipping, rounding) is what is matched, in full
            SELECT c.order_id AS return_id, c.customer_id, c.cur, c.seq, c.target, c.target_void,
                   l.product_id,
                   -- a line worth 0 (a free gift, 赠品) gets 0; a return whose returned lines are all
                   -- worth 0 has nothing to spread by: its amount is matched whole (`whole`, below)
                   coalesce(c.value * sum(l.value)
                            / nullif(sum(sum(l.value)) OVER (PARTITION BY c.order_id), 0), 0) AS amount,
                   CAST(-sum(least(l.quantity, 0)) AS BIGINT) AS units
            FROM classified c JOIN {lines} l USING (order_id)
            WHERE c.kind = 'return' AND {returned_line("l.value", "l.quantity")}
            GROUP BY c.order_id, c.customer_id, c.cur, c.seq, c.target, c.target_void, c.value,
                     l.product_id
        ), holding AS (  -- the sales (purchases and voids) holding a product that their customer returned
            SELECT c.customer_id, c.cur, c.seq, c.order_id, c.kind = 'void' AS void, l.product_id,
                   CAST(sum(l.quantity) AS BIGINT) AS units
            FROM classified c JOIN {lines} l USING (order_id)
            WHERE c.kind IN ('purchase', 'void') AND l.quantity > 0
                  AND (c.customer_id, l.product_id) IN (SELECT customer_id, product_id FROM return_products)
            GROUP BY ALL
        )"""
        parts = f"""
            WITH latest AS (
                -- each returned product's latest earlier sale holding it: an as-of match written as a
                -- window, as DuckDB's ASOF JOIN falls back to a nested loop when it misjudges its
                -- inputs as small (seconds on 300k orders)
                SELECT *, last_value(sold IGNORE NULLS) OVER w AS sale_id,
                       last_value(sold_void IGNORE NULLS) OVER w AS sale_void
                FROM (SELECT customer_id, cur, product_id, seq, return_id, target, target_void, amount,
                             units, NULL::VARCHAR AS sold, NULL::BOOLEAN AS sold_void
                      FROM return_products
                      UNION ALL
                      SELECT customer_id, cur, product_id, seq, NULL, NULL, NULL, NULL, NULL, order_id, void
                      FROM holding)
                WINDOW w AS (PARTITION BY customer_id, cur, product_id ORDER BY seq
                             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            )
            SELECT return_id, coalesce(sale_id, target) AS target, amount, true AS itemised,
                   sale_id IS NOT NULL AND NOT sale_void AS by_product,
                   CASE WHEN sale_id IS NOT NULL THEN sale_void ELSE target_void END AS absorbed,
                   product_id, units
            FROM latest WHERE return_id IS NOT NULL
            UNION ALL
            {whole} FROM classified
            WHERE kind = 'return' AND value <> 0 AND order_id NOT IN (
                SELECT return_id FROM return_products GROUP BY return_id HAVING sum(amount) <> 0)"""
    if lines is None:
        kinds = f"""kinds AS (
            SELECT *, CASE WHEN value < 0 THEN 'return' WHEN {REVERSED} THEN 'void' ELSE 'purchase' END
                      AS kind,
                   coalesce(upper(trim(currency)), '') AS cur
            FROM {documents} {where}
        )"""
    else:
        kinds = f"""documents_read AS (SELECT * FROM {documents} {where}), returned_only AS (
            -- a document worth 0 whose every line has a negative quantity gives back free gifts (赠品):
            -- a return, not a purchase worth 0
            SELECT order_id FROM {lines}
            WHERE order_id IN (SELECT order_id FROM documents_read WHERE value = 0)
            GROUP BY order_id HAVING max(quantity) < 0
        ), kinds AS (
            SELECT *, CASE WHEN value < 0 OR (value = 0 AND order_id IN (SELECT order_id FROM returned_only))
                           THEN 'return' WHEN {REVERSED} THEN 'void' ELSE 'purchase' END AS kind,
                   coalesce(upper(trim(currency)), '') AS cur
            FROM documents_read
        )"""
    return f"""
        {kinds}, classified AS (
            -- each customer's documents per currency in order; at the same time a sale comes before a
            -- return
            SELECT *, row_number() OVER w AS seq,
                   CASE WHEN kind = 'return' THEN last_value(
                       CASE WHEN kind <> 'return' THEN order_id END IGNORE NULLS) OVER w END AS target,
                   CASE WHEN kind = 'return' THEN last_value(
                       CASE WHEN kind <> 'return' THEN kind = 'void' END IGNORE NULLS) OVER w END
                       AS target_void
            FROM kinds
            WINDOW w AS (PARTITION BY customer_id, cur ORDER BY ordered_at, kind = 'return', order_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ){matched}, parts AS ({parts}
        )"""
