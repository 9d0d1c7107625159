"""The purchases every customer-intelligence computation starts from, and the one rule that makes them.

RFM, CLV, propensity, segments and promotions all read orders through `purchases_sql`, so that they
agree on what a purchase is and what it was worth. Each order of an identified customer (guest
checkouts are not customers' behaviour), or each row of a transaction file, is a *document* whose
value is its total, or the sum of its lines (quantity × unit price − line discount) when it has no
total, or unknown when it has neither. Then:

- a document with a negative value is a **return** (a credit note such as Online Retail's 'C'
  invoices, or a refund exported as its own row), whatever its status: not a purchase, but its
  amount is netted against the customer's latest purchase at or before it, because a return
  reverses an earlier sale and exports rarely say which. Spend is thus net revenue, as the
  Gamma-Gamma model's "average transaction value" means. A return with no earlier purchase (the
  sale predates the data) or against a purchase of unknown value cannot be netted and is counted;
- a purchase whose returns bring it to zero or below was **wholly returned**: it is not a purchase
  (BG/NBD counts repeat purchases, and a sale that was undone is not one); what the returns exceed
  it by is counted as not netted;
- a **cancelled or returned** order without a negative value (a closed Taobao order, a refunded
  order exported with its original total) never stood as a sale: left out;
- everything else is a purchase: a value of 0 (gifts, fully discounted orders, CDNOW's free CDs) is
  a purchase worth 0, and an order of unknown value is a purchase for frequency and recency that
  adds nothing to spend (the sums and means of spend skip it).

Negative lines inside a sale are already in its total (or its lines' sum). Money is converted to
major units (元, £) once, here.
"""

from __future__ import annotations

import datetime as dt

import duckdb
from pydantic import BaseModel

from marketpilot.data.consistency import REVERSED
from marketpilot.data.money import scale_sql
from marketpilot.errors import UserError

DOCUMENTS_VIEW = "_documents"
ORDERS_VIEW = "_purchases"
LINES_VIEW = "_purchase_lines"


class PurchaseRules(BaseModel):
    """How many orders (or transaction rows) and lines each part of the rule affected."""

    documents: int  # orders of identified customers (or rows) before the cutoff
    purchases: int  # counted as purchases in the end
    voided: int  # cancelled/returned without a negative value: left out
    valued_from_lines: int  # purchases without a total, valued by their lines
    without_value: int  # purchases with neither: frequency and recency only
    zero_value: int  # purchases worth 0
    returns: int  # documents with a negative value
    returns_amount: float  # their amount, positive, in major units
    partly_returned: int  # purchases reduced by returns, still purchases
    wholly_returned: int  # purchases the returns cancel: not purchases
    returns_not_netted: int  # returns with no earlier purchase of known value
    amount_not_netted: float  # those returns plus what returns exceed their purchase by
    return_lines: int = 0  # negative-quantity lines inside purchases (in their order's value)

    def describe(self) -> str:
        """One line for a report: the counts the rule changed (zeros left out)."""
        parts = [f"{self.purchases:,} purchases from {self.documents:,} orders"]
        for n, text in (
            (self.voided, "cancelled/refunded orders left out"),
            (self.valued_from_lines, "without a total valued by their lines"),
            (self.without_value, "without a total or lines counted without spend"),
            (self.zero_value, "worth 0 counted"),
            (self.return_lines, "return lines netted inside their order"),
        ):
            if n:
                parts.append(f"{n:,} {text}")
        if self.returns:
            parts.append(
                f"{self.returns:,} returns ({self.returns_amount:,.2f}) netted against earlier purchases: "
                f"{self.partly_returned:,} purchases reduced, {self.wholly_returned:,} wholly returned "
                "(not counted)"
            )
        if self.amount_not_netted:
            parts.append(
                f"{self.amount_not_netted:,.2f} of returns not netted ({self.returns_not_netted:,} returns "
                "without an earlier purchase of known value, and what returns exceed their purchase by)"
            )
        return "; ".join(parts)


def store_documents_sql() -> str:
    """The store's orders of identified customers as documents
    `(order_id, customer_id, ordered_at, status, value, discount, from_lines)`."""
    return f"""
        WITH lines AS (  -- only the orders that need them: most orders carry a total
            SELECT order_id, sum(quantity * unit_price_minor - coalesce(discount_minor, 0)) AS minor
            FROM order_items WHERE order_id IN (SELECT order_id FROM orders WHERE total_minor IS NULL)
            GROUP BY order_id)
        SELECT o.order_id, o.customer_id, o.ordered_at, o.status,
               coalesce(o.total_minor, l.minor) / {scale_sql("o.currency")} AS value,
               coalesce(o.discount_minor, 0) / {scale_sql("o.currency")} AS discount,
               o.total_minor IS NULL AND l.minor IS NOT NULL AS from_lines
        FROM orders o LEFT JOIN customers c USING (customer_id) LEFT JOIN lines l USING (order_id)
        WHERE NOT coalesce(c.is_guest, false)"""


def _netting_ctes(documents: str, before: dt.date | None) -> str:
    """CTEs `classified` (documents with their kind and, for returns, the purchase they net against)
    and `netted` (purchases with their returns' total `credit` and `net` value)."""
    cutoff = f"WHERE ordered_at < TIMESTAMP '{before.isoformat()}'" if before else ""
    return f"""
        WITH kinds AS (
            SELECT *, CASE WHEN value < 0 THEN 'return' WHEN {REVERSED} THEN 'void' ELSE 'purchase' END
                      AS kind
            FROM {documents} {cutoff}
        ), classified AS (
            -- the latest purchase at or before each return; at the same time a purchase comes first
            SELECT *, CASE WHEN kind = 'return' THEN last_value(
                          CASE WHEN kind = 'purchase' THEN order_id END IGNORE NULLS) OVER (
                          PARTITION BY customer_id ORDER BY ordered_at, kind = 'return', order_id
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) END AS target
            FROM kinds
        ), credited AS (
            SELECT target AS order_id, sum(value) AS credit, count(*) AS n_returns
            FROM classified WHERE kind = 'return' AND target IS NOT NULL GROUP BY target
        ), netted AS (
            SELECT p.order_id, p.customer_id, p.ordered_at, p.value, p.discount, p.from_lines,
                   c.credit, coalesce(c.n_returns, 0) AS n_returns, p.value + coalesce(c.credit, 0) AS net,
                   coalesce(c.credit IS NOT NULL AND p.value + c.credit <= 0, false) AS wholly_returned
            FROM classified p LEFT JOIN credited c USING (order_id) WHERE p.kind = 'purchase'
        )"""


def purchases_sql(documents: str, *, before: dt.date | None = None) -> str:
    """A query of the purchases `(order_id, customer_id, ordered_at, day, value, discount, gross)` that
    the rule makes of `documents` placed before `before` (exclusive): value net of returns, gross the
    order's own value (the basket at checkout, which coupon thresholds apply to)."""
    return f"""{_netting_ctes(documents, before)}
        SELECT order_id, customer_id, ordered_at, CAST(ordered_at AS DATE) AS day, net AS value, discount,
               value AS gross
        FROM netted WHERE NOT wholly_returned"""


def purchase_rules(
    con: duckdb.DuckDBPyConnection, documents: str = DOCUMENTS_VIEW, *, before: dt.date | None = None
) -> PurchaseRules:
    """The counts behind `purchases_sql` for the same documents and cutoff."""
    names = [n for n in PurchaseRules.model_fields if n != "return_lines"]
    row = con.execute(
        f"""{_netting_ctes(documents, before)}
        SELECT (SELECT count(*) FROM classified),
               count(*) FILTER (WHERE NOT wholly_returned),
               (SELECT count(*) FROM classified WHERE kind = 'void'),
               count(*) FILTER (WHERE from_lines),
               count(*) FILTER (WHERE value IS NULL),
               count(*) FILTER (WHERE value = 0),
               (SELECT count(*) FROM classified WHERE kind = 'return'),
               round(coalesce((SELECT -sum(value) FROM classified WHERE kind = 'return'), 0), 2),
               count(*) FILTER (WHERE credit IS NOT NULL AND value IS NOT NULL AND NOT wholly_returned),
               count(*) FILTER (WHERE wholly_returned),
               (SELECT count(*) FROM classified WHERE kind = 'return' AND target IS NULL)
                   + coalesce(sum(n_returns) FILTER (WHERE value IS NULL), 0),
               round(coalesce((SELECT -sum(value) FROM classified
                               WHERE kind = 'return' AND target IS NULL), 0)
                   - coalesce(sum(credit) FILTER (WHERE value IS NULL), 0)
                   - coalesce(sum(net) FILTER (WHERE net < 0), 0), 2)
        FROM netted"""  # amounts rounded to the cent: float sums in any order then agree
    ).fetchall()[0]
    return PurchaseRules(**dict(zip(names, row, strict=True)))


def register_purchases(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> None:
    """Views `_documents` (the store's orders as documents), `_purchases(order_id, customer_id,
    ordered_at, day, value, discount, gross)` and `_purchase_lines(order_id, customer_id, day, product_id,
    category, quantity, value)`, limited to orders placed before `before` (exclusive) when given.
    The lines are what was bought (positive quantities of the purchases): products, categories and
    units; returns reduce the orders' values, not the lines."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {DOCUMENTS_VIEW} AS {store_documents_sql()}")
    # Materialised: every feature query reads it, and the netting windows run over all documents.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {ORDERS_VIEW} AS {purchases_sql(DOCUMENTS_VIEW, before=before)}"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {LINES_VIEW} AS
        SELECT p.order_id, p.customer_id, p.day, i.product_id,
               coalesce(nullif(pr.category, ''), '(none)') AS category, i.quantity,
               i.quantity * i.unit_price_minor / {scale_sql("i.currency")} AS value
        FROM {ORDERS_VIEW} p JOIN order_items i USING (order_id)
        LEFT JOIN products pr USING (product_id)
        WHERE i.quantity > 0"""
    )


def store_purchase_rules(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> PurchaseRules:
    """`purchase_rules` over the store, with the return lines inside purchases counted."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {DOCUMENTS_VIEW} AS {store_documents_sql()}")
    rules = purchase_rules(con, before=before)
    rules.return_lines = int(
        con.execute(
            f"""SELECT count(*) FROM ({purchases_sql(DOCUMENTS_VIEW, before=before)}) p
                JOIN order_items i USING (order_id) WHERE i.quantity < 0"""
        ).fetchall()[0][0]
    )
    return rules


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
