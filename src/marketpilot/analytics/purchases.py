"""The purchases every customer-intelligence computation starts from, and the one rule that makes them.

RFM, CLV, propensity, segments and promotions all read orders through `purchases_sql`, so that they
agree on what a purchase is and what it was worth. Each order of an identified customer (guest
checkouts are not customers' behaviour), or each row of a transaction file, is a *document* whose
value is its total, or the sum of its lines (quantity × unit price − line discount) when it has no
total, or unknown when it has neither. Then:

- a document with a negative value is a **return** (a credit note such as Online Retail's 'C'
  invoices, or a refund exported as its own row), whatever its status, and so is a document worth 0 whose
  every line has a negative quantity (a free gift, 赠品, sent back): not a purchase, but its amount is
  netted against the purchase it reverses. Spend is thus net revenue, as the Gamma-Gamma model's
  "average transaction value" means. Exports rarely say which sale a return reverses, so when the return
  has lines its amount is spread over its returned products (lines of negative value, and lines worth 0
  of negative quantity, a gift's, which get none of it; by their value) and each product's share is
  netted against the customer's latest sale in the return's currency at or before the return that holds
  that product; a share whose product no earlier sale holds, and a return without such lines (a bare
  refund, a transaction file's row), is netted against the latest sale in its currency at or before it
  (the matching is `data/reversals.py`'s, which the overview's revenue shares). A sale whose status
  already says it was cancelled or returned (below) is left out whole: a return matched to it is that
  sale's refund, already accounted for, and nets against nothing (WooCommerce marks a refunded order
  'refunded' *and* exports the refund as its own negative document; Taobao closes an order, 交易关闭, after
  refunding it in full). A bare refund after an unpaid closed order is taken for that order's too:
  without lines, nothing tells the two apart. What a purchase's returns of a product exceed the
  product's worth in it by (the purchase's value times the product's share of its lines' value) reaches
  the customer's earlier purchases in its currency holding the product, latest first, each giving up at
  most the product's worth in it less its own returns of the product; what reaches past the earliest was
  bought before the data. A return with no earlier sale (the sale predates the data), that remainder, or
  a return against a purchase of unknown value cannot be netted and is counted;
- a purchase whose returns bring it to zero or below was **wholly returned**: it is not a purchase
  (BG/NBD counts repeat purchases, and a sale that was undone is not one); what bare refunds and
  shares of products it does not hold exceed it by is counted as not netted;
- a **cancelled or returned** order without a negative value (a closed Taobao order, a refunded
  order exported with its original total) never stood as a sale: left out;
- everything else is a purchase: a value of 0 (gifts, fully discounted orders, CDNOW's free CDs) is
  a purchase worth 0, and an order of unknown value is a purchase for frequency and recency that
  adds nothing to spend (the sums and means of spend skip it).

Negative lines inside a sale are already in its total (or its lines' sum). Money is converted to
major units (元, £) once, here, and money figures are in one currency, never amounts of two added
together: the shop's currency (`settings.currency`, which `Store` records on its connection) when
any purchase is in it, else the currency of most purchases (a shop whose orders are all in yen keeps
its money); an order that names no currency (a transaction file's rows) is taken to be in it. A
purchase in another currency counts for frequency and recency like one of unknown value, and the
counts say how many there were and their value per currency.

What was bought, product by product (`_purchase_lines`, which the campaign audiences' `bought` and
the customer features read), is the purchases' positive lines less the units that returns naming
the product took back: a return's share of a product netted against a purchase holding it takes its
units (its lines of negative quantity) from that purchase, and from the customer's earlier purchases
of the product, latest first, as its value does. An order of shoes and socks whose shoes came back
bought socks; a free gift (a line worth 0) sent back is taken back by its units alone, the order's
value unchanged. A bare refund, and a returned product no earlier purchase holds, is netted by value
only (the fallback above): no line of the purchase changes.

A documents relation `X` has lines when a relation `X_lines(order_id, product_id, quantity, value)` is
registered next to it: the store's orders do (`order_items`), a transaction file's rows do not. Each
computation nets its documents once (`net`, a temp table) and reads its purchases, their counts and
their date range from that one table.
"""

from __future__ import annotations

import datetime as dt

import duckdb
from pydantic import BaseModel, Field

from marketpilot.data.money import SHOP_CURRENCY_SQL, minor_digits, scale_sql
from marketpilot.data.reversals import matching_ctes
from marketpilot.errors import UserError
from marketpilot.wording import counted

DOCUMENTS_VIEW = "_documents"
ORDERS_VIEW = "_purchases"
LINES_VIEW = "_purchase_lines"
REGISTERED = f"{DOCUMENTS_VIEW}_netted"  # the netting `register_purchases` registers


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
    returns_by_product: int  # returns with returned lines, netted product by product
    amount_by_product: float  # the part of returns netted against a purchase holding the product
    partly_returned: int  # purchases reduced by returns, still purchases
    wholly_returned: int  # purchases the returns cancel: not purchases
    returns_not_netted: int  # returns with no earlier purchase of known value
    # those returns, what returns exceed their purchases by and what reaches past the earliest
    amount_not_netted: float
    # returns matched to an order left out as cancelled/returned: its refund, already not counted
    returns_of_voided: int = 0
    amount_of_voided: float = 0.0
    return_lines: int = 0  # negative-quantity lines inside purchases (in their order's value)
    # Money figures are in one currency (`_money_currency`); purchases in others count for frequency
    # and recency only: how many, and their net value per currency (major units).
    money_currency: str | None = None
    other_currency: int = 0
    other_currency_amounts: dict[str, float] = Field(default_factory=dict)

    def describe(self) -> str:
        """One line for a report: the counts the rule changed (zeros left out)."""
        parts = [f"{counted(self.purchases, 'purchase')} from {counted(self.documents, 'order')}"]
        for n, one, many in (
            (self.voided, "cancelled/refunded order left out", "cancelled/refunded orders left out"),
            (
                self.valued_from_lines,
                "order without a total valued by its lines",
                "orders without a total valued by their lines",
            ),
            (
                self.without_value,
                "order without a total or lines counted without spend",
                "orders without a total or lines counted without spend",
            ),
            (self.zero_value, "order worth 0 counted", "orders worth 0 counted"),
            (
                self.return_lines,
                "return line netted inside its order",
                "return lines netted inside their orders",
            ),
        ):
            if n:
                parts.append(counted(n, one, many))
        if self.returns:
            parts.append(
                # some may belong to orders already left out (below): the counts that follow say what
                f"{counted(self.returns, 'return')} ({self.returns_amount:,.2f}): "
                f"{counted(self.partly_returned, 'purchase')} reduced, "
                f"{self.wholly_returned:,} wholly returned (not counted)"
            )
        if self.returns_of_voided:
            parts.append(
                f"{counted(self.returns_of_voided, 'return')} ({self.amount_of_voided:,.2f}) of orders "
                "already left out as cancelled/refunded (not netted again)"
            )
        if self.returns_by_product:
            parts.append(
                f"{counted(self.returns_by_product, 'return')} netted product by product, "
                f"{self.amount_by_product:,.2f} against a purchase holding the product"
            )
        if self.amount_not_netted:
            parts.append(
                f"{self.amount_not_netted:,.2f} of returns not netted "
                f"({counted(self.returns_not_netted, 'return')} "
                "without an earlier purchase of known value, and what returns exceed their purchases by)"
            )
        if self.other_currency:
            amounts = ", ".join(
                f"{cur} {amount:,.{minor_digits(cur)}f}"
                for cur, amount in self.other_currency_amounts.items()
            )
            other = "another currency" if len(self.other_currency_amounts) == 1 else "other currencies"
            parts.append(
                f"money in {self.money_currency}: {counted(self.other_currency, 'purchase')} in {other} "
                f"({amounts}) counted for recency and frequency only"
            )
        return "; ".join(parts)


def lines_view(documents: str) -> str:
    """The relation holding the lines of `documents`, when they have lines."""
    return f"{documents}_lines"


def registered_lines(con: duckdb.DuckDBPyConnection, documents: str) -> str | None:
    """`lines_view(documents)` when it is registered on `con`, else None (documents without lines)."""
    name = lines_view(documents)
    found = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = $n UNION ALL "
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = $n",
        {"n": name},
    ).fetchall()
    return name if any(n for (n,) in found) else None


def store_documents_sql() -> str:
    """The store's orders of identified customers as documents
    `(order_id, customer_id, ordered_at, status, value, discount, from_lines, currency)`."""
    return f"""
        WITH lines AS (  -- only the orders that need them: most orders carry a total
            SELECT order_id, sum(quantity * unit_price_minor - coalesce(discount_minor, 0)) AS minor
            FROM order_items WHERE order_id IN (SELECT order_id FROM orders WHERE total_minor IS NULL)
            GROUP BY order_id)
        SELECT o.order_id, o.customer_id, o.ordered_at, o.status,
               coalesce(o.total_minor, l.minor) / {scale_sql("o.currency")} AS value,
               coalesce(o.discount_minor, 0) / {scale_sql("o.currency")} AS discount,
               o.total_minor IS NULL AND l.minor IS NOT NULL AS from_lines, o.currency
        FROM orders o LEFT JOIN customers c USING (customer_id) LEFT JOIN lines l USING (order_id)
        WHERE NOT coalesce(c.is_guest, false)"""


def store_lines_sql() -> str:
    """The store's order lines as document lines `(order_id, product_id, quantity, value)`."""
    return f"""
        SELECT order_id, product_id, quantity,
               (quantity * unit_price_minor - coalesce(discount_minor, 0)) / {scale_sql("currency")} AS value
        FROM order_items"""


def _register_store_documents(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE OR REPLACE TEMP VIEW {DOCUMENTS_VIEW} AS {store_documents_sql()}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {lines_view(DOCUMENTS_VIEW)} AS {store_lines_sql()}")


def _netting_ctes(documents: str, before: dt.date | None, lines: str | None) -> str:
    """The matching CTEs of `matching_ctes` (`kinds`, `classified`, `parts`: which sale each return
    reverses, and whether that sale is a void) over `documents` before `before`; `spilled` (what each
    by-product part's return exceeded its purchase by, carried to the customer's earlier purchases of
    the product: `reached` per purchase, `unreached` per return and product what none took), `credited`
    (per purchase, its returns' total `credit` and their number) and `units_back` (per purchase, the
    units of each product that returns naming it took back)."""
    cutoff = f"WHERE ordered_at < TIMESTAMP '{before.isoformat()}'" if before else ""
    return f"""
        WITH {matching_ctes(documents, lines, cutoff)}, {_spill_ctes(lines)}, {_units_ctes(lines)},
        credited AS (
            SELECT order_id, sum(credit) AS credit, count(DISTINCT return_id) AS n_returns
            -- a part worth 0 (a free gift sent back) takes units back, no value
            FROM (SELECT target AS order_id, amount AS credit, return_id FROM parts
                  WHERE target IS NOT NULL AND NOT absorbed AND amount <> 0
                  UNION ALL  -- what was carried on leaves the purchase it was matched to
                  SELECT target, -amount, NULL FROM spilled
                  UNION ALL
                  SELECT order_id, credit, NULL FROM reached)
            GROUP BY order_id
        )"""


def _worth(lines: str, orders: str) -> str:
    """What each product is worth in the purchases `orders` selects (a condition on `c`): the purchase's
    value times the product's share of its lines' value (the value filter after the join: computed on
    every line of the store, it cost more than the join); NULL for a purchase of unknown value."""
    return f"""SELECT c.order_id, c.customer_id, c.cur, c.seq, l.product_id,
                   c.value * coalesce(sum(l.value) FILTER (WHERE l.value > 0) / nullif(sum(
                       sum(l.value) FILTER (WHERE l.value > 0)) OVER (PARTITION BY c.order_id), 0), 0)
                       AS worth
            FROM classified c JOIN {lines} l USING (order_id)
            WHERE c.kind = 'purchase' AND l.quantity > 0 AND {orders}
            GROUP BY c.order_id, c.customer_id, c.cur, c.seq, c.value, l.product_id"""


def _spill_ctes(lines: str | None) -> str:
    """CTEs `spilled(return_id, product_id, target, amount)`, `reached(order_id, credit)` and
    `unreached(return_id, product_id, amount)` (amounts negative, like returns'): what a purchase's
    by-product returns of a product exceed the product's worth in it by (its value times the product's
    share of its lines' value) is carried, shared by those returns in proportion to their amounts, to
    the customer's earlier purchases in the currency holding the product, latest first. Each gives up
    to the product's worth in it less its own returns of the product; what reaches past the earliest
    (bought before the data) is `unreached`. Bare refunds and returned products a purchase does not
    hold are never carried: what they exceed it by is not netted. The latest-first taking is a stack
    per (customer, currency, product) (`_stack_ctes`): purchases push what they can give, carried
    returns pop it."""
    if lines is None:  # without lines, no part is by product: nothing to carry
        return """spilled AS (SELECT NULL::VARCHAR AS return_id, NULL::VARCHAR AS product_id,
                                 NULL::VARCHAR AS target, NULL::DOUBLE AS amount WHERE false),
            reached AS (SELECT NULL::VARCHAR AS order_id, NULL::DOUBLE AS credit WHERE false),
            unreached AS (SELECT NULL::VARCHAR AS return_id, NULL::VARCHAR AS product_id,
                              NULL::DOUBLE AS amount WHERE false)"""
    chain = "PARTITION BY customer_id, cur, product_id ORDER BY seq, pop, return_id"
    spilling = "SELECT customer_id, cur FROM spilled"

    return f"""returned AS (  -- each purchase's by-product returns, per product
            SELECT p.target AS order_id, c.customer_id, c.cur, p.product_id, sum(p.amount) AS amount
            FROM parts p JOIN classified c ON c.order_id = p.target
            WHERE p.by_product GROUP BY ALL
        ), excess AS (  -- what a purchase's returns of a product exceed the product's worth in it by
            SELECT order_id, product_id, r.amount AS returned, r.amount + h.worth AS amount
            FROM returned r JOIN ({_worth(lines, "c.order_id IN (SELECT order_id FROM returned)")}) h
                USING (order_id, product_id)
            WHERE round(r.amount + h.worth, 6) < 0
        ), spilled AS (  -- that excess, shared by the returns of the product matched to the purchase
            SELECT p.return_id, p.product_id, p.target, c.customer_id, c.cur, c.seq,
                   p.amount * e.amount / e.returned AS amount
            FROM parts p JOIN excess e ON e.order_id = p.target AND e.product_id = p.product_id
            JOIN classified c ON c.order_id = p.target
            WHERE p.by_product
        ), held AS (  -- the spilled products' worth in their customers' purchases
            SELECT * FROM ({_worth(lines, f"(c.customer_id, c.cur) IN ({spilling})")})
            WHERE (customer_id, cur, product_id) IN (SELECT customer_id, cur, product_id FROM spilled)
        ), stack AS (  -- each purchase can give a product's worth in it less its own returns of it
            SELECT h.customer_id, h.cur, h.product_id, h.seq, false AS pop, h.order_id,
                   NULL::VARCHAR AS return_id,
                   greatest(round(coalesce(h.worth, 0) + coalesce(r.amount, 0), 6), 0) AS x
            FROM held h LEFT JOIN returned r USING (order_id, product_id)
            UNION ALL  -- at its purchase's place: only purchases before it can take it
            SELECT customer_id, cur, product_id, seq, true, NULL, return_id, amount FROM spilled
        ), {_stack_ctes("popped", "stack", chain)}, reached AS (
            SELECT order_id, -sum(taken) AS credit FROM popped WHERE NOT pop GROUP BY order_id
            HAVING round(sum(taken), 6) > 0
        ), unreached AS (
            SELECT return_id, product_id, sum(unmet) AS amount FROM popped WHERE pop
            GROUP BY return_id, product_id
        )"""


def _stack_ctes(name: str, stack: str, chain: str) -> str:
    """CTEs ending in `name`: the rows of `stack` (pushes of `x` ≥ 0 and pops of `x` ≤ 0, `pop` telling
    which) with `unmet` (what a pop found no push for, ≤ 0) and `taken` (what of a push later pops
    took), each chain (`chain`, a window's partition and order) a stack: pops take the latest pushes
    first. In closed form: with `s` the running sum of pushes and pops and `m` its running minimum
    floored at 0, the stack holds `s − m`; a pop leaves unmet what `m` falls by, and a push keeps what
    lies below the lowest height the stack later falls to."""
    return f"""{name}_walked AS (
            SELECT *, sum(x) OVER (w ROWS UNBOUNDED PRECEDING) AS s FROM {stack} WINDOW w AS ({chain})
        ), {name}_floored AS (
            SELECT *, least(min(s) OVER (w ROWS UNBOUNDED PRECEDING), 0) AS m FROM {name}_walked
            WINDOW w AS ({chain})
        ), {name}_lowest AS (
            SELECT *, m - coalesce(lag(m) OVER w, 0) AS unmet,
                   min(s - m) OVER (w ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS lowest
            FROM {name}_floored WINDOW w AS ({chain})
        ), {name} AS (
            SELECT *, x - least(x, greatest(lowest - (s - m - x), 0)) AS taken FROM {name}_lowest
        )"""


def _units_ctes(lines: str | None) -> str:
    """CTE `units_back(order_id, returned_units)`: per purchase, the units of each product that returns
    naming it took back (a map product → units), for `_purchase_lines`, and `units_kept(order_id, product_id,
    kept)`, per purchase the share of its returns' units of a product that purchases took, which `net`
    reads for a gift's return (a share worth 0). A return's units of a product are the negative
    quantities of its returned lines (`parts.units`: of negative value, or worth 0). Where its share of
    the product was netted by product, against the latest earlier purchase holding it (`by_product`),
    that purchase gives the units, up to those it holds (`holding`); units beyond them reach the
    customer's earlier purchases of the product in the currency, latest first, each giving at most
    the units it holds less those its own returns took, as the value does (`_spill_ctes`); what
    reaches past the earliest was bought before the data. A bare refund and a returned product no
    earlier purchase holds take no units: the fallback nets their value against the latest
    purchase's value only (a refund of a void nets nothing)."""
    if lines is None:
        return """units_back AS (
            SELECT NULL::VARCHAR AS order_id, NULL::MAP(VARCHAR, BIGINT) AS returned_units WHERE false),
            units_kept AS (SELECT NULL::VARCHAR AS order_id, NULL::VARCHAR AS product_id,
                                  NULL::DOUBLE AS kept WHERE false)"""
    chain = "PARTITION BY customer_id, cur, product_id ORDER BY seq, pop"
    return f"""unit_returns AS (  -- per purchase matched to and product, the units returned
            SELECT target AS order_id, product_id, sum(units) AS units FROM parts
            WHERE by_product AND units > 0 GROUP BY ALL
        ), unit_direct AS (  -- what the purchase gives, and what it lacks
            SELECT r.order_id, r.product_id, h.customer_id, h.cur, h.seq,
                   least(r.units, h.units) AS taken, r.units - h.units AS excess
            FROM unit_returns r JOIN holding h USING (order_id, product_id)
        ), unit_stack AS (
            -- only the chains a purchase lacked units in: stack windows over every returned product
            -- cost as much as the rest of the units netting on Online Retail
            SELECT h.customer_id, h.cur, h.product_id, h.seq, false AS pop, h.order_id,
                   h.units - coalesce(d.taken, 0) AS x
            FROM holding h LEFT JOIN unit_direct d USING (order_id, product_id)
            WHERE NOT h.void AND (h.customer_id, h.cur, h.product_id) IN (
                SELECT customer_id, cur, product_id FROM unit_direct WHERE excess > 0)
            UNION ALL  -- at the purchase's place: only purchases before it can give
            SELECT customer_id, cur, product_id, seq, true, order_id, -excess FROM unit_direct
            WHERE excess > 0
        ), {_stack_ctes("units_taken", "unit_stack", chain)},
        units_kept AS (  -- per purchase and product, the share of its returns' units that purchases took
            SELECT r.order_id, r.product_id, (r.units + coalesce(t.unmet, 0)) / r.units AS kept
            FROM unit_returns r LEFT JOIN (
                SELECT order_id, product_id, sum(unmet) AS unmet FROM units_taken WHERE pop GROUP BY ALL
            ) t USING (order_id, product_id)
        ),
        units_back AS (
            SELECT order_id, map_from_entries(list((product_id, taken))) AS returned_units
            FROM (SELECT order_id, product_id, sum(taken) AS taken
                  FROM (SELECT order_id, product_id, taken FROM unit_direct
                        UNION ALL
                        SELECT order_id, product_id, taken FROM units_taken WHERE NOT pop)
                  GROUP BY ALL HAVING sum(taken) > 0)
            GROUP BY order_id
        )"""


class Netting(BaseModel):
    """A netting materialised on a connection: temp table `table` holds one row per document before
    the cutoff with what the rule made of it; purchases, their counts and date range all read it."""

    table: str
    before: dt.date | None = None
    # the currency of the money figures (spend, monetary value); None when no purchase names one
    money_currency: str | None


def net(
    con: duckdb.DuckDBPyConnection,
    documents: str,
    *,
    table: str,
    before: dt.date | None = None,
) -> Netting:
    """Run the rule once over `documents` placed before `before` (exclusive), their returns netted
    product by product when their lines are registered (`lines_view`), into temp table `table`: per
    document its `kind` (purchase, void, return), `cur`rency and value; for purchases their returns'
    `credit`, `net` value and `wholly_returned`; for returns whether they found no sale (`unmatched`)
    and what their parts did (`itemised`, `by_product`, `absorbed`, `left_amount` what reached past the
    customer's earliest purchase of its product, and `by_products`: each returned product netted
    against purchases holding it, mapped to the part of it they took, by value, or by units for a
    product returned worth 0 (a gift), which net_sales.py reads); for purchases `returned_units`, each
    product mapped to the units returns naming it took back from them (NULL when none), which
    `_purchase_lines` reads."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
        {_netting_ctes(documents, before, registered_lines(con, documents))}, return_parts AS (
            SELECT return_id, bool_or(itemised) AS itemised,
                   sum(kept) FILTER (WHERE by_product) AS by_product,
                   -- a part worth 0 (a free gift) by the share of its units that purchases took
                   map_from_entries(list((product_id,
                                          CASE WHEN amount = 0 THEN units_kept ELSE kept / amount END))
                                    FILTER (WHERE by_product AND (round(kept, 6) < 0
                                                                  OR (amount = 0 AND units_kept > 0))))
                       AS by_products,
                   count(*) FILTER (WHERE absorbed) > 0 AS absorbed,
                   sum(amount) FILTER (WHERE absorbed) AS absorbed_amount,
                   sum(amount - kept) AS left_amount
            FROM (SELECT p.*, p.amount - coalesce(l.amount, 0) AS kept, k.kept AS units_kept
                  FROM parts p LEFT JOIN unreached l USING (return_id, product_id)
                  LEFT JOIN units_kept k ON p.by_product AND k.order_id = p.target
                                            AND k.product_id = p.product_id)
            GROUP BY return_id
        )
        -- net rounded far below any currency's minor unit: a return spread over its lines leaves float
        -- noise that, summed in any order, would make a wholly returned purchase worth 1e-14
        SELECT c.order_id, c.customer_id, c.ordered_at, c.kind, c.cur, c.value, c.discount, c.from_lines,
               c.kind = 'return' AND c.target IS NULL AS unmatched,
               r.credit, coalesce(r.n_returns, 0) AS n_returns,
               round(c.value + coalesce(r.credit, 0), 6) AS net,
               coalesce(r.credit IS NOT NULL AND round(c.value + r.credit, 6) <= 0, false) AS wholly_returned,
               coalesce(p.itemised, false) AS itemised, p.by_product, p.by_products,
               coalesce(p.absorbed, false) AS absorbed, p.absorbed_amount, p.left_amount,
               u.returned_units
        FROM classified c LEFT JOIN credited r USING (order_id)
        LEFT JOIN return_parts p ON p.return_id = c.order_id
        LEFT JOIN units_back u ON u.order_id = c.order_id"""
    )
    return Netting(table=table, before=before, money_currency=_money_currency(con, table))


def _money_currency(con: duckdb.DuckDBPyConnection, table: str) -> str | None:
    """The shop's currency (`shop_currency`) when a purchase is in it, else the currency of most
    purchases; None when no purchase names a currency (a transaction file)."""
    found = con.execute(
        f"""SELECT cur FROM {table} WHERE kind = 'purchase' AND NOT wholly_returned AND cur <> ''
            GROUP BY cur ORDER BY cur = {SHOP_CURRENCY_SQL} DESC NULLS LAST, count(*) DESC, cur LIMIT 1"""
    ).fetchall()
    return found[0][0] if found else None


def _money_sql(netting: Netting) -> str:
    """SQL: whether a row of the netting is in the money currency (a blank currency is taken to be it)."""
    code = (netting.money_currency or "").replace("'", "''")
    return f"cur IN ('', '{code}')"


def purchases_sql(netting: Netting) -> str:
    """A query of the purchases `(order_id, customer_id, ordered_at, day, value, discount, gross,
    currency, money)` of a netting: value net of returns, gross the order's own value (the basket at
    checkout, which coupon thresholds apply to). The money figures (value, discount, gross) are NULL,
    like an unknown value, for purchases outside the money currency (`money` false): they count for
    frequency and recency, and are never added to amounts in another currency."""
    money = _money_sql(netting)
    return f"""SELECT order_id, customer_id, ordered_at, CAST(ordered_at AS DATE) AS day,
               CASE WHEN {money} THEN net END AS value, CASE WHEN {money} THEN discount END AS discount,
               CASE WHEN {money} THEN value END AS gross, nullif(cur, '') AS currency, {money} AS money
        FROM {netting.table} WHERE kind = 'purchase' AND NOT wholly_returned"""


def purchase_rules(
    con: duckdb.DuckDBPyConnection, documents: str = DOCUMENTS_VIEW, *, before: dt.date | None = None
) -> PurchaseRules:
    """The counts of the rule over `documents` (with their lines, when registered) before `before`."""
    return netting_rules(con, net(con, documents, before=before, table=f"{documents}_counted"))


def netting_rules(con: duckdb.DuckDBPyConnection, netting: Netting) -> PurchaseRules:
    """What the rule did in a netting, counted (amounts rounded to the cent: float sums in any order
    then agree)."""
    row = con.execute(
        f"""SELECT count(*),
               count(*) FILTER (WHERE kind = 'purchase' AND NOT wholly_returned),
               count(*) FILTER (WHERE kind = 'void'),
               count(*) FILTER (WHERE kind = 'purchase' AND from_lines),
               count(*) FILTER (WHERE kind = 'purchase' AND value IS NULL),
               count(*) FILTER (WHERE kind = 'purchase' AND value = 0),
               count(*) FILTER (WHERE kind = 'return'),
               round(coalesce(-sum(value) FILTER (WHERE kind = 'return'), 0), 2),
               count(*) FILTER (WHERE kind = 'return' AND itemised),
               round(coalesce(-sum(by_product), 0), 2),
               count(*) FILTER (WHERE kind = 'purchase' AND credit IS NOT NULL AND value IS NOT NULL
                                AND NOT wholly_returned),
               count(*) FILTER (WHERE kind = 'purchase' AND wholly_returned),
               count(*) FILTER (WHERE unmatched)
                   + coalesce(sum(n_returns) FILTER (WHERE kind = 'purchase' AND value IS NULL), 0),
               round(coalesce(-sum(value) FILTER (WHERE unmatched), 0)
                   - coalesce(sum(credit) FILTER (WHERE kind = 'purchase' AND value IS NULL), 0)
                   - coalesce(sum(net) FILTER (WHERE kind = 'purchase' AND net < 0), 0)
                   - coalesce(sum(left_amount), 0), 2),
               count(*) FILTER (WHERE absorbed),
               round(coalesce(-sum(absorbed_amount), 0), 2)
        FROM {netting.table}"""
    ).fetchall()[0]
    names = [n for n in PurchaseRules.model_fields if n not in _NOT_COUNTED_HERE]
    rules = PurchaseRules(**dict(zip(names, row, strict=True)), money_currency=netting.money_currency)
    others = con.execute(
        # to the smallest minor unit (KWD's 1/1000)
        f"""SELECT cur, count(*), round(coalesce(sum(net), 0), 3) FROM {netting.table}
            WHERE kind = 'purchase' AND NOT wholly_returned AND NOT ({_money_sql(netting)})
            GROUP BY cur ORDER BY count(*) DESC, cur"""
    ).fetchall()
    rules.other_currency = sum(n for _, n, _ in others)
    rules.other_currency_amounts = {cur: amount for cur, _, amount in others}
    return rules


# filled by `netting_rules` from other queries, or by `store_rules`
_NOT_COUNTED_HERE = {"return_lines", "money_currency", "other_currency", "other_currency_amounts"}


def register_purchases(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> Netting:
    """Views `_documents` (the store's orders as documents) and `_documents_lines`, their netting (temp
    table `_documents_netted`), `_purchases(order_id, customer_id, ordered_at, day, value, discount,
    gross, currency, money)` and `_purchase_lines(order_id, customer_id, day, product_id, category,
    quantity, value)`, limited to orders placed before `before` (exclusive) when given. The lines are
    what was bought and kept: the positive lines of the purchases, less the units that returns naming
    the product took back from them (`returned_units`, one row per purchase and product then, its
    value in proportion to the units kept; a product wholly taken back has no row), so a customer who
    sent back the shoes of an order of shoes and socks bought socks only. A return that names no
    product, or one no earlier purchase of the customer holds, reduces the orders' values only (by
    value, as `net` nets it): the lines stay. Money (values) only in the money currency."""
    _register_store_documents(con)
    # Materialised once: every feature query and the counts read it, and the netting windows run over
    # all documents.
    netting = net(con, DOCUMENTS_VIEW, before=before, table=REGISTERED)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {ORDERS_VIEW} AS {purchases_sql(netting)}")
    value = f"i.quantity * i.unit_price_minor / {scale_sql('i.currency')}"
    line = f"""p.order_id, p.customer_id, CAST(p.ordered_at AS DATE) AS day, {_money_sql(netting)} AS money,
               i.product_id, i.quantity, {value} AS value"""
    bought = "p.kind = 'purchase' AND NOT p.wholly_returned AND i.quantity > 0"
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {LINES_VIEW} AS
        WITH touched AS (  -- the lines of the purchases returns took units from
            SELECT {line}, p.returned_units[i.product_id] AS back
            FROM {netting.table} p JOIN order_items i USING (order_id)
            WHERE {bought} AND p.returned_units IS NOT NULL
        ), kept AS (
            -- the other purchases' lines as they are, apart: carrying the map through their join made
            -- the view about 2.5 times slower on Online Retail
            SELECT {line} FROM {netting.table} p JOIN order_items i USING (order_id)
            WHERE {bought} AND p.returned_units IS NULL
            UNION ALL
            SELECT order_id, customer_id, day, money, product_id, quantity, value FROM touched
            WHERE back IS NULL
            UNION ALL  -- a product returns took units of: its lines in one, less those units
            SELECT order_id, customer_id, day, money, product_id, CAST(sum(quantity) - back AS INTEGER),
                   sum(value) * (sum(quantity) - back) / sum(quantity)
            FROM touched WHERE back IS NOT NULL
            GROUP BY order_id, customer_id, day, money, product_id, back HAVING sum(quantity) > back
        )
        SELECT k.order_id, k.customer_id, k.day, k.product_id,
               coalesce(nullif(pr.category, ''), '(none)') AS category, k.quantity,
               CASE WHEN k.money THEN k.value END AS value
        FROM kept k LEFT JOIN products pr USING (product_id)"""
    )
    return netting


def store_rules(con: duckdb.DuckDBPyConnection, netting: Netting) -> PurchaseRules:
    """`netting_rules` of a netting of the store's orders, with the return lines inside purchases
    counted."""
    rules = netting_rules(con, netting)
    rules.return_lines = int(
        con.execute(
            f"""SELECT count(*) FROM {netting.table} p JOIN order_items i USING (order_id)
                WHERE p.kind = 'purchase' AND NOT p.wholly_returned AND i.quantity < 0"""
        ).fetchall()[0][0]
    )
    return rules


def registered_rules(con: duckdb.DuckDBPyConnection) -> PurchaseRules:
    """The counts behind the purchases `register_purchases` registered last on `con`."""
    return store_rules(con, Netting(table=REGISTERED, money_currency=registered_money_currency(con)))


def registered_money_currency(con: duckdb.DuckDBPyConnection) -> str | None:
    """The money currency of the purchases `register_purchases` registered last on `con`."""
    return _money_currency(con, REGISTERED)


def store_purchase_rules(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> PurchaseRules:
    """`store_rules` over the store's orders before `before`, in a netting of their own: the registered
    purchases stay as they were."""
    _register_store_documents(con)
    return store_rules(con, net(con, DOCUMENTS_VIEW, before=before, table=f"{DOCUMENTS_VIEW}_counted"))


def same_netting(con: duckdb.DuckDBPyConnection, netting: Netting, before: dt.date) -> bool:
    """Whether `netting` is also the netting of its documents before `before`: the same documents,
    as none of them lies on or after `before`."""
    if netting.before is not None and netting.before < before:
        return False
    later = con.execute(
        f"SELECT count(*) FROM {netting.table} WHERE ordered_at >= $b", {"b": before}
    ).fetchall()[0][0]
    return not later


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
