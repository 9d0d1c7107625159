"""UCI Online Retail (one line per invoice line) → customers, products, orders, order_items.

Decisions, each reported as a warning with its row count:
- invoices 'C…' are cancellations: status 'cancelled', quantities negative (as in the file);
- lines without CustomerID are guest orders: customer 'guest:<InvoiceNo>', is_guest = true;
- invoices 'A…' / negative prices ('Adjust bad debt') are accounting entries, not sales: rejected;
- lines with price 0 and no customer outside cancellations are stock corrections ('damaged',
  'check', 'found', …): rejected;
- postage, fees and manual adjustments (POST, DOT, M, …) stay, as products of category 'fee'.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from marketpilot.data.load import Plan
from marketpilot.data.mapping import integer_sql, money_sql, text_sql
from marketpilot.data.readers import ROW, Source, open_source
from marketpilot.data.validate import Check, ident, raise_if_any, run_checks, sql_literal
from marketpilot.errors import ValidationFailed

COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
# Online Retail II (the 2009–2011 export) names three of them differently.
ALIASES = {"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}
FEE_CODES = ("POST", "DOT", "M", "m", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS", "B")
CURRENCY = "GBP"


class OnlineRetail:
    name = "online-retail"
    tables = ("customers", "products", "orders", "order_items")

    def open(self, con: duckdb.DuckDBPyConnection, path: Path) -> Source:
        return open_source(con, path)

    def stage(self, con: duckdb.DuckDBPyConnection, source: Source) -> Plan:
        named = {c: c if c in source.types else ALIASES.get(c, c) for c in COLUMNS}
        missing = [c for c, name in named.items() if name not in source.types and c != "Description"]
        if missing:
            raise ValidationFailed(
                [f"column '{c}' is missing (expected the columns {', '.join(COLUMNS)})" for c in missing],
                source=str(source.path),
            )
        col = {c: ident(name) for c, name in named.items()}
        desc = col["Description"] if "Description" in source.types else "NULL"
        typ = {c: source.types[name] for c, name in named.items() if name in source.types}
        # The UCI spreadsheet writes dates as 12/1/2010 8:26; CSV conversions write ISO.
        when = (
            f"coalesce(TRY_CAST({text_sql(col['InvoiceDate'])} AS TIMESTAMP), "
            f"try_strptime({text_sql(col['InvoiceDate'])}, '%m/%d/%Y %H:%M'))"
            if typ["InvoiceDate"] == "VARCHAR"
            else f"CAST({col['InvoiceDate']} AS TIMESTAMP)"
        )
        quantity = integer_sql(col["Quantity"], typ["Quantity"])
        price = money_sql(col["UnitPrice"], typ["UnitPrice"], unit="major", digits=2)
        customer = integer_sql(col["CustomerID"], typ["CustomerID"])
        checks = [
            Check(
                named["InvoiceNo"],
                f"{text_sql(col['InvoiceNo'])} IS NULL",
                col["InvoiceNo"],
                "an invoice number",
            ),
            Check("StockCode", f"{text_sql(col['StockCode'])} IS NULL", col["StockCode"], "a stock code"),
            Check("Quantity", f"({quantity}) IS NULL", col["Quantity"], "a whole number"),
            Check(named["UnitPrice"], f"({price}) IS NULL", col["UnitPrice"], "a price in pounds, e.g. 2.55"),
            Check(
                "InvoiceDate",
                f"({when}) IS NULL",
                col["InvoiceDate"],
                "a date/time such as 2010-12-01 08:26:00",
            ),
            Check(
                named["CustomerID"],
                f"{text_sql(col['CustomerID'])} IS NOT NULL AND ({customer}) IS NULL",
                col["CustomerID"],
                "a numeric customer id or an empty cell (guest)",
            ),
        ]
        problems = run_checks(con, source.view, checks)
        raise_if_any(problems, str(source.path), hint="Nothing was written.")
        rows_total = source.count(con)
        if rows_total == 0:
            raise ValidationFailed(["no data rows under the header"], source=str(source.path))

        invoice = text_sql(col["InvoiceNo"])
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE or_lines AS
            SELECT {ROW}, {invoice} AS order_id, {text_sql(col["StockCode"])} AS product_id,
                   {text_sql(desc)} AS description, {quantity} AS quantity, {price} AS unit_price_minor,
                   {when} AS ordered_at, {text_sql(col["Country"])} AS country,
                   ({customer}) IS NULL AS is_guest,
                   coalesce(CAST({customer} AS VARCHAR), 'guest:' || {invoice}) AS customer_id,
                   CASE WHEN starts_with({invoice}, 'A') OR ({price}) < 0 THEN 'adjustment'
                        WHEN NOT starts_with({invoice}, 'C') AND ({price}) = 0 AND ({customer}) IS NULL
                        THEN 'stock' END AS rejected
            FROM {ident(source.view)}""")
        conflicts = con.execute(
            f"SELECT order_id, list({ROW} ORDER BY {ROW})[1:3] FROM or_lines WHERE rejected IS NULL "
            "GROUP BY order_id HAVING count(DISTINCT customer_id) > 1 ORDER BY 1 LIMIT 5"
        ).fetchall()
        if conflicts:
            raise ValidationFailed(
                [f"row {rows[0]}, column {named['CustomerID']!r}: invoice {inv!r} has lines of several "
                 f"customers (rows {', '.join(map(str, rows))}); expected one customer per invoice"
                 for inv, rows in conflicts],
                source=str(source.path),
            )  # fmt: skip
        warnings = self._warnings(con)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE stage_order_items AS
            SELECT order_id, row_number() OVER (PARTITION BY order_id ORDER BY {ROW}) AS line_no, product_id,
                   quantity, unit_price_minor, '{CURRENCY}' AS currency
            FROM or_lines WHERE rejected IS NULL""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE stage_orders AS
            SELECT order_id, min(customer_id) AS customer_id, min(ordered_at) AS ordered_at,
                   CASE WHEN starts_with(order_id, 'C') THEN 'cancelled' ELSE 'completed' END AS status,
                   '{CURRENCY}' AS currency, sum(quantity * unit_price_minor) AS total_minor,
                   arg_max(country, {ROW}) AS country
            FROM or_lines WHERE rejected IS NULL GROUP BY order_id""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE stage_customers AS
            SELECT customer_id, min(ordered_at) AS created_at, arg_max(country, {ROW}) AS country,
                   bool_or(is_guest) AS is_guest
            FROM or_lines WHERE rejected IS NULL GROUP BY customer_id""")
        fees = ", ".join(sql_literal(c) for c in FEE_CODES)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE stage_products AS
            SELECT product_id,
                   coalesce(arg_max(description, {ROW}) FILTER (WHERE description IS NOT NULL),
                            product_id) AS name,
                   CASE WHEN product_id IN ({fees}) THEN 'fee' END AS category,
                   arg_max(unit_price_minor, {ROW}) FILTER (WHERE unit_price_minor > 0) AS price_minor,
                   '{CURRENCY}' AS currency, min(ordered_at) AS created_at
            FROM or_lines WHERE rejected IS NULL GROUP BY product_id""")
        rejected = con.execute("SELECT count(*) FROM or_lines WHERE rejected IS NOT NULL").fetchall()[0][0]
        con.execute("DROP TABLE or_lines")
        return Plan(
            stages={t: f"stage_{t}" for t in self.tables},
            rows_total=rows_total,
            rows_rejected=rejected,
            warnings=warnings,
            # CustomerID is validated numeric and guest ids are made here: neither names anyone.
            personal_ids=dict.fromkeys(self.tables, False),
        )

    @staticmethod
    def _warnings(con: duckdb.DuckDBPyConnection) -> list[str]:
        fees = ", ".join(sql_literal(c) for c in FEE_CODES)
        (
            guest_lines, guest_orders, cancel_lines, cancel_orders, adjust_lines, adjust_orders,
            stock_lines, fee_lines, multi_time, positive_cancel,
        ) = con.execute(f"""
            SELECT count(*) FILTER (WHERE is_guest AND rejected IS NULL),
                   count(DISTINCT order_id) FILTER (WHERE is_guest AND rejected IS NULL),
                   count(*) FILTER (WHERE starts_with(order_id, 'C') AND rejected IS NULL),
                   count(DISTINCT order_id) FILTER (WHERE starts_with(order_id, 'C') AND rejected IS NULL),
                   count(*) FILTER (WHERE rejected = 'adjustment'),
                   string_agg(DISTINCT order_id, ', ' ORDER BY order_id)
                       FILTER (WHERE rejected = 'adjustment'),
                   count(*) FILTER (WHERE rejected = 'stock'),
                   count(*) FILTER (WHERE product_id IN ({fees}) AND rejected IS NULL),
                   (SELECT count(*) FROM (SELECT order_id FROM or_lines GROUP BY order_id
                                          HAVING count(DISTINCT ordered_at) > 1)),
                   count(*) FILTER (WHERE starts_with(order_id, 'C') AND quantity > 0 AND rejected IS NULL)
            FROM or_lines""").fetchall()[0]  # fmt: skip
        warnings = [
            f"{guest_lines:,} lines ({guest_orders:,} invoices) have no CustomerID: kept as guest orders, "
            "customer id 'guest:<InvoiceNo>' with is_guest = true",
            f"{cancel_lines:,} lines ({cancel_orders:,} invoices 'C…') are cancellations: "
            "status 'cancelled', negative quantities and totals",
        ]
        if adjust_lines:
            warnings.append(
                f"{adjust_lines} lines rejected: accounting adjustments, not sales ('Adjust bad debt', "
                f"invoice 'A…' or negative price): {adjust_orders}"
            )
        if stock_lines:
            warnings.append(
                f"{stock_lines:,} lines rejected: stock corrections with price 0 and no customer "
                "('damaged', 'check', 'found', …)"
            )
        if fee_lines:
            warnings.append(
                f"{fee_lines:,} lines are postage/fees/manual entries (POST, DOT, M, …): category 'fee'"
            )
        if multi_time:
            warnings.append(
                f"{multi_time} invoices have lines at different times: ordered_at is the earliest"
            )
        if positive_cancel:
            warnings.append(
                f"{positive_cancel} lines of cancellation invoices have a positive quantity (kept)"
            )
        return warnings
