"""Checks across rows and tables that a load reports as warnings with counts and examples.

Real shops export tables separately and in any order (orders before customers, lines before orders),
so a reference to a row not loaded (yet) is not an error; but what the analytics will do with such
rows is said, with counts, rather than left to surprise later. Each check is one SQL query over the
staged tables and the store (attached as the connection's default database, inside the load's
transaction, so this load's own writes are visible).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from marketpilot.data.mapping import STATUSES
from marketpilot.data.money import iso_4217_codes
from marketpilot.data.schema import TABLES
from marketpilot.data.validate import ROW, ident

EXAMPLES = 3  # ids named per warning
# An order that never stood as a sale (analytics/purchases.py reads statuses through this)
REVERSED = "coalesce(status, 'completed') IN ('cancelled', 'returned')"


def plausible_times() -> tuple[dt.date, dt.date]:
    """(earliest, latest) date of a plausible shop record: before 1990 is a placeholder or a zero
    Unix time (1970-01-01), after tomorrow a typo (a day of slack for time zones)."""
    return dt.date(1990, 1, 1), dt.date.today() + dt.timedelta(days=1)


def _examples(values: list[object]) -> str:
    return ", ".join(repr(str(v)) for v in values[:EXAMPLES])


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {ident(table)}").fetchall()]


def status_warnings(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    """Order statuses left as written (neither a canonical status nor a known export word)."""
    allowed = ", ".join(f"'{s}'" for s in STATUSES)
    rows = con.execute(
        f"SELECT status, count(*) AS n FROM {ident(stage)} WHERE status NOT IN ({allowed}) "
        "GROUP BY status ORDER BY n DESC, status"
    ).fetchall()
    if not rows:
        return []
    listed = ", ".join(f"{s!r} ({n} order{'s' if n != 1 else ''})" for s, n in rows[:8])
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    return [
        f"orders: status value(s) not recognised, kept as written: {listed}{more}; rfm, clv and "
        "recommend count such orders as completed sales. Map them with "
        "`status: {from: <column>, values: {<value>: completed|cancelled|returned}}` in a --mapping file"
    ]


def currency_warnings(con: duckdb.DuckDBPyConnection, name: str, stage: str) -> list[str]:
    """Currency values that are no ISO 4217 code after the load's reading (data/money.py): '¥' is the
    yuan's sign and the yen's, 'XYZ' a typo or an invented code; amounts in them are scaled as cents."""
    rows = con.execute(
        f"SELECT currency, count(*) AS n FROM {ident(stage)} "
        "WHERE currency IS NOT NULL AND NOT list_contains($codes, currency) "
        "GROUP BY currency ORDER BY n DESC, currency",
        {"codes": sorted(iso_4217_codes())},
    ).fetchall()
    if not rows:
        return []
    listed = ", ".join(f"{c!r} ({n} row{'s' if n != 1 else ''})" for c, n in rows[:8])
    more = f" and {len(rows) - 8} more" if len(rows) > 8 else ""
    first = rows[0][0]
    code = "CNY" if first == "¥" else "<ISO code>"
    return [
        f"{name}: currency value(s) that are no ISO 4217 code, kept as written: {listed}{more}; totals keep "
        "them apart and read their amounts in hundredths. Map them with `currency: {from: <column>, "
        f"values: {{{first!r}: {code}}}}}` in a --mapping file"
    ]


def replaced_warning(con: duckdb.DuckDBPyConnection, name: str, stage: str, target: str) -> list[str]:
    """Rows whose key the store already holds: a re-load (same values) or ids that overlap with an
    earlier file (different values), which the upsert replaces."""
    spec = TABLES[name]
    present = set(_columns(con, stage))
    on = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in spec.key)
    changed = " OR ".join(
        f"t.{ident(c)} IS DISTINCT FROM s.{ident(c)}"
        for c in spec.column_names
        if c in present and c not in spec.key
    )
    key = " || ' / ' || ".join(f"CAST(s.{ident(k)} AS VARCHAR)" for k in spec.key)
    total, n_changed, examples = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {changed or 'false'}), "
        f"(list({key} ORDER BY {key}) FILTER (WHERE {changed or 'false'}))[1:{EXAMPLES}] "
        f"FROM {ident(stage)} s JOIN {target} t ON {on}"
    ).fetchall()[0]
    if not total:
        return []
    what = " + ".join(spec.key)
    if not n_changed:
        return [f"{name}: {total} {what}(s) already in the store with the same values (a re-load): unchanged"]
    return [
        f"{name}: {total} {what}(s) already in the store, {n_changed} with different values "
        f"(e.g. {_examples(examples or [])}): replaced by this file's rows. If the file comes from another "
        "shop or system whose ids overlap, load it into its own --home instead"
    ]


def drop_stale_lines(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    """Delete the stored lines of the file's orders that the file no longer has: a re-exported order
    with fewer lines would otherwise keep its old extra lines and count them twice."""
    staged = ident(stage)
    stale = (
        f"FROM order_items t WHERE t.order_id IN (SELECT order_id FROM {staged}) AND NOT EXISTS "
        f"(SELECT 1 FROM {staged} s WHERE s.order_id = t.order_id AND s.line_no = t.line_no)"
    )
    n, orders, examples = con.execute(
        f"SELECT count(*), count(DISTINCT order_id), "
        f"list(order_id || ' line ' || line_no ORDER BY order_id, line_no)[1:{EXAMPLES}] {stale}"
    ).fetchall()[0]
    if not n:
        return []
    con.execute(f"DELETE {stale}")
    return [
        f"order_items: {n} stored line(s) of {orders} re-loaded order(s) are not in this file "
        f"(e.g. {_examples(examples)}): removed, so each order has the lines of its latest export"
    ]


@dataclass(frozen=True)
class Reference:
    child: str
    column: str
    parent: str
    noun: str  # what a child row is, plural
    effect: str  # what the analytics do with such rows


REFERENCES = (
    Reference("orders", "customer_id", "customers", "orders",
              "rfm and clv count them, but campaigns and recommend serve only loaded customers"),
    Reference("order_items", "order_id", "orders", "lines",
              "rfm, clv, segments and recommend ignore lines without their order"),
    Reference("order_items", "product_id", "products", "lines",
              "they count, in category '(none)' and without a product name"),
    Reference("events", "customer_id", "customers", "events",
              "recommend uses them, but campaigns serve only loaded customers"),
    Reference("events", "product_id", "products", "events",
              "recommend can suggest such products, without a name"),
    Reference("reviews", "product_id", "products", "reviews", "review reports show them without a product"),
    Reference("reviews", "customer_id", "customers", "reviews", "they count in review reports"),
)  # fmt: skip


def reference_warnings(con: duckdb.DuckDBPyConnection, stages: dict[str, str]) -> list[str]:
    """Rows of this load that refer to a customer, order or product the store does not hold."""
    warnings = []
    for ref in REFERENCES:
        stage = stages.get(ref.child)
        if stage is None or ref.column not in _columns(con, stage):
            continue
        col = ident(ref.column)
        rows, ids, examples = con.execute(
            f"SELECT sum(n), count(*), list(id ORDER BY first)[1:{EXAMPLES}] FROM ("
            f"SELECT s.{col} AS id, count(*) AS n, min({_order(con, stage)}) AS first FROM {ident(stage)} s "
            f"WHERE s.{col} IS NOT NULL AND NOT EXISTS "
            f"(SELECT 1 FROM {ref.parent} p WHERE p.{col} = s.{col}) GROUP BY s.{col})"
        ).fetchall()[0]
        if not ids:
            continue
        parent_rows = con.execute(f"SELECT count(*) FROM {ref.parent}").fetchall()[0][0]
        why = f"not loaded ({ref.parent} is empty)" if not parent_rows else f"not in {ref.parent}"
        warnings.append(
            f"{ref.child}: {rows} {ref.noun} refer to {ids} {ref.column}(s) {why} "
            f"(e.g. {_examples(examples)}); {ref.effect}. Load {ref.parent} too (in any order) to link them"
        )
    return warnings


def _order(con: duckdb.DuckDBPyConnection, stage: str) -> str:
    """Rows in file order when the stage keeps it (presets aggregate it away)."""
    return f"s.{ROW}" if ROW in _columns(con, stage) else "0"


def order_warnings(con: duckdb.DuckDBPyConnection, stages: dict[str, str]) -> list[str]:
    """Orders and lines of this load whose figures the analytics will read differently from what a
    reader of the export would expect: totals that disagree with their lines, orders that are not
    plain positive sales (returns, cancellations, zero or missing totals), returned quantities inside
    sales, free lines."""
    warnings = []
    touched = [f"SELECT order_id FROM {ident(stages[t])}" for t in ("orders", "order_items") if t in stages]
    if not touched:
        return warnings
    con.execute(f"CREATE OR REPLACE TEMP TABLE _touched AS {' UNION '.join(touched)}")
    # Unit prices may be rounded (CDNOW's are total / units): up to half a minor unit per unit is rounding.
    mismatched = con.execute(
        f"""WITH l AS (
              SELECT order_id, sum(quantity * unit_price_minor - coalesce(discount_minor, 0)) AS lines,
                     sum(abs(quantity)) AS units
              FROM order_items WHERE order_id IN (SELECT order_id FROM _touched) GROUP BY order_id)
            SELECT count(*), list(o.order_id || ': total ' || o.total_minor || ', lines ' || l.lines
                                  ORDER BY o.order_id)[1:{EXAMPLES}]
            FROM orders o JOIN l USING (order_id)
            WHERE o.total_minor IS NOT NULL AND abs(o.total_minor - l.lines) * 2 > l.units
              AND abs(o.total_minor - (l.lines - coalesce(o.discount_minor, 0))) * 2 > l.units"""
    ).fetchall()[0]
    if mismatched[0]:
        warnings.append(
            f"orders: {mismatched[0]} order total(s) differ from the sum of their lines (minor units; "
            f"e.g. {_examples(mismatched[1])}), e.g. shipping, order-level discounts or missing lines: "
            "kept as written; rfm and clv use the order totals, category and product figures the lines"
        )
    if "orders" in stages:
        warnings += _total_warnings(con, stages["orders"])
    if "order_items" in stages:
        negative, neg_examples, free = con.execute(
            f"SELECT count(*) FILTER (WHERE i.quantity < 0 AND NOT coalesce({REVERSED}, false)), "
            f"(list(i.order_id ORDER BY i.order_id) FILTER "
            f"(WHERE i.quantity < 0 AND NOT coalesce({REVERSED}, false)))[1:{EXAMPLES}], "
            f"count(*) FILTER (WHERE i.unit_price_minor = 0) "
            f"FROM {ident(stages['order_items'])} i LEFT JOIN orders o USING (order_id)"
        ).fetchall()[0]
        if negative:
            warnings.append(
                f"order_items: {negative} line(s) with a negative quantity in orders that are not cancelled "
                f"or returned (e.g. {_examples(neg_examples)}): kept; returns inside a sale, so the order's "
                "value is net of them (its total, or its lines' sum when it has no total)"
            )
        if free:
            warnings.append(f"order_items: {free} line(s) at price 0 (gifts, 赠品): kept, as units sold")
    con.execute("DROP TABLE _touched")
    return warnings


# How the purchase rule (analytics/purchases.py) reads an order's total, per case.
_TOTAL_CASES = {
    "return": "have a negative total or lines' sum (returns, credit notes), or a total of 0 and only lines "
    "of negative quantity (free gifts, 赠品, sent back): not purchases; their amount is netted against "
    "the customer's latest earlier purchase holding each returned product (without lines or such a "
    "purchase, the latest earlier purchase), and their units taken back from it",
    "void": "are cancelled or returned without a negative total: left out, the sale never stood",
    "zero": "have a value of 0 (gifts, fully discounted): counted as purchases worth 0",
    "lines": "have no total: valued by the sum of their lines",
    "none": "have no total and no lines (yet): counted as purchases without spend until their lines load",
}


def _total_warnings(con: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    """This load's orders whose total is not a plain positive sale, by how the analytics read them."""
    staged = set(_columns(con, stage))
    reversed_ = REVERSED if "status" in staged else "false"
    total = "s.total_minor" if "total_minor" in staged else "NULL"
    lines = "sum(i.quantity * i.unit_price_minor - coalesce(i.discount_minor, 0))"
    rows = con.execute(
        f"""SELECT kind, count(*), list(order_id ORDER BY order_id)[1:{EXAMPLES}] FROM (
              SELECT order_id, CASE
                  WHEN coalesce(total, lines) < 0 OR (coalesce(total, lines) = 0 AND top < 0) THEN 'return'
                  WHEN reversed THEN 'void'
                  WHEN coalesce(total, lines) = 0 THEN 'zero'
                  WHEN total IS NOT NULL THEN NULL
                  WHEN lines IS NOT NULL THEN 'lines'
                  ELSE 'none' END AS kind
              FROM (SELECT s.order_id, {total} AS total, {reversed_} AS reversed,
                           (SELECT {lines} FROM order_items i WHERE i.order_id = s.order_id) AS lines,
                           -- the largest quantity: below 0 when every line gives something back
                           (SELECT max(i.quantity) FROM order_items i WHERE i.order_id = s.order_id) AS top
                    FROM {ident(stage)} s))
            WHERE kind IS NOT NULL GROUP BY kind"""
    ).fetchall()
    found = {kind: (n, examples) for kind, n, examples in rows}
    return [
        f"orders: {found[kind][0]} order(s) {text} (e.g. {_examples(found[kind][1])})"
        for kind, text in _TOTAL_CASES.items()
        if kind in found
    ]


def time_warnings(con: duckdb.DuckDBPyConnection, stages: dict[str, str]) -> list[str]:
    """Times outside the plausible range in columns that do not stop a load (order times do: see
    load._stage_problems). Event logs such as Taobao's UserBehavior carry a few stray timestamps
    among millions of rows; refusing the file for them would help no one."""
    earliest, latest = plausible_times()
    warnings = []
    for name, stage in stages.items():
        for col in ("occurred_at", "created_at"):
            if col not in _columns(con, stage):
                continue
            n, first, last = con.execute(
                f"SELECT count(*), min({ident(col)}), max({ident(col)}) FROM {ident(stage)} "
                f"WHERE NOT ({ident(col)} BETWEEN DATE '{earliest}' AND DATE '{latest}')"
            ).fetchall()[0]
            if n:
                effect = "recommend's time split and recency read them" if col == "occurred_at" else "kept"
                warnings.append(
                    f"{name}: {n} {col} value(s) before {earliest} or after {latest} "
                    f"(from {first} to {last}): {effect}; check the file's dates"
                )
    return warnings
