"""CDNOW (Fader & Hardie): whitespace-separated `[master_id] customer_id YYYYMMDD cds dollars` lines.

CDNOW_master has 4 fields (a header line is optional); CDNOW_sample has 5, the first being the
customer's id in the master file, which is used as customer_id so both files give the same ids.
There are no order ids or products: each line becomes one order `<customer>:<YYYYMMDD>:<k>` (k counts
purchases of the same customer on the same day) with one line of product 'cdnow:cd'.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from marketpilot.data.load import Plan
from marketpilot.data.mapping import integer_sql, money_sql, text_sql
from marketpilot.data.readers import ROW, Source
from marketpilot.data.validate import Check, raise_if_any, run_checks
from marketpilot.errors import UserError, ValidationFailed

PRODUCT = "cdnow:cd"
CURRENCY = "USD"


class Cdnow:
    name = "cdnow"
    tables = ("customers", "products", "orders", "order_items")

    def open(self, con: duckdb.DuckDBPyConnection, path: Path) -> Source:
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path}: no such file.")
        try:
            frame = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, on_bad_lines="error")
        except pd.errors.EmptyDataError:
            raise UserError(f"{path}: the file is empty.") from None
        except pd.errors.ParserError as exc:
            raise ValidationFailed(
                [str(exc).strip()], source=str(path), hint="Each line needs 4 or 5 fields."
            ) from None
        header = not str(frame.iat[0, 0]).isdigit()
        names = ["customer_id", "date", "cds", "dollars"]
        if frame.shape[1] == 5:
            names = ["customer_id", "sample_id", "date", "cds", "dollars"]
        elif frame.shape[1] != 4:
            raise ValidationFailed(
                [f"{frame.shape[1]} fields per line; expected 4 (master) or 5 (sample)"], source=str(path)
            )
        frame.columns = names
        first_row = 2 if header else 1  # line numbers as in the file
        if header:
            frame = frame.iloc[1:]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        table = table.append_column(ROW, pa.array(range(first_row, first_row + table.num_rows), pa.int64()))
        con.register("src_arrow", table)
        con.execute("CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM src_arrow")
        return Source(
            path=path, view="src", columns=tuple(names), types=dict.fromkeys(names, "VARCHAR"), encoding=None
        )

    def stage(self, con: duckdb.DuckDBPyConnection, source: Source) -> Plan:
        customer = text_sql("customer_id")
        date = "try_strptime(trim(date), '%Y%m%d')"
        cds = integer_sql("cds", "VARCHAR")
        cents = money_sql("dollars", "VARCHAR", unit="major", digits=2)
        problems = run_checks(
            con,
            source.view,
            [
                Check("customer_id", f"{customer} IS NULL", "customer_id", "a customer id"),
                Check("date", f"{date} IS NULL", "date", "a date as YYYYMMDD, e.g. 19970101"),
                Check("number_of_cds", f"({cds}) IS NULL OR ({cds}) < 0", "cds", "a whole number ≥ 0"),
                Check("dollar_value", f"({cents}) IS NULL", "dollars", "an amount in dollars, e.g. 29.33"),
            ],
        )
        raise_if_any(problems, str(source.path), hint="Nothing was written.")
        # Ids are zero-padded in the files ('00004'); keep them as written so both files agree.
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE cd_lines AS
            SELECT {ROW}, {customer} AS customer_id, {date} AS ordered_at, {cds} AS quantity,
                   {cents} AS total_minor,
                   {customer} || ':' || strftime({date}, '%Y%m%d') || ':' ||
                   row_number() OVER (PARTITION BY {customer}, {date} ORDER BY {ROW}) AS order_id
            FROM {source.view}""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE stage_orders AS
            SELECT order_id, customer_id, ordered_at, 'completed' AS status, '{CURRENCY}' AS currency,
                   total_minor
            FROM cd_lines""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE stage_order_items AS
            SELECT order_id, 1 AS line_no, '{PRODUCT}' AS product_id, quantity,
                   CAST(round(total_minor / greatest(quantity, 1)) AS BIGINT) AS unit_price_minor,
                   '{CURRENCY}' AS currency
            FROM cd_lines""")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE stage_customers AS
            SELECT customer_id, min(ordered_at) AS created_at, 'US' AS country, false AS is_guest
            FROM cd_lines GROUP BY customer_id""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE stage_products AS
            SELECT '{PRODUCT}' AS product_id, 'CD (CDNOW does not record titles)' AS name,
                   'music' AS category,
                   '{CURRENCY}' AS currency""")
        rows, uneven = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE quantity > 0 AND total_minor % quantity <> 0) "
            "FROM cd_lines"
        ).fetchall()[0]
        con.execute("DROP TABLE cd_lines")
        return Plan(
            stages={t: f"stage_{t}" for t in self.tables},
            rows_total=rows,
            personal_ids=dict.fromkeys(self.tables, False),  # panel ids such as 00004
            warnings=[
                "CDNOW has no order ids or products: one order per line, id '<customer>:<YYYYMMDD>:<k>', "
                f"one line of product '{PRODUCT}'",
                f"{uneven:,} orders' unit prices are rounded (total / number of CDs); "
                "orders.total_minor is exact",
            ],
        )
