"""Turn transactions (any file, or the store) into the per-customer summary BTYD models need.

Everything runs in DuckDB: a view `_tx` of documents (`order_id, customer_id, ordered_at, status, value,
discount, from_lines, currency`, one per order or file row) is registered on a connection, with
`_tx_lines` for the store's orders (a file's rows have no lines); the shared purchase rule
(`analytics/purchases.py`: returns netted, by product where they have lines, in their own currency,
cancellations left out) turns them into purchases, and one GROUP BY gives frequency / recency / T /
monetary value for the calibration period and the purchase counts of the holdout period. Transactions
on the same day are merged into one (as in Fader, Hardie & Lee's CDNOW analysis), so frequency counts
repeat purchase days.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from pathlib import Path
from typing import Literal

import duckdb
import pandas as pd
from charset_normalizer import from_bytes

from marketpilot.analytics.purchases import (
    Netting,
    PurchaseRules,
    lines_view,
    net,
    purchase_rules,
    purchases_sql,
    same_netting,
    store_documents_sql,
    store_lines_sql,
)
from marketpilot.data.mapping import amount_sql, day_first_of, temporal_sql
from marketpilot.data.readers import ROW, existing_file, ident, read_excel
from marketpilot.errors import UserError

TimeUnit = Literal["D", "W"]
UNIT_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0}
TX_VIEW = "_tx"

_SEPARATORS = re.compile(r"[,;\t|]")


def _sniff(path: Path) -> tuple[str, bool]:
    """(encoding, whitespace_separated) from the first 64 KB. DuckDB reads UTF-8 natively; other
    encodings (GBK exports from Chinese back offices) and whitespace-separated tables go via pandas."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        head = fh.read(65536)
    for encoding in ("utf-8", "gb18030"):  # GB18030 is a superset of GBK: Chinese back-office exports
        try:
            return encoding, _whitespace_separated(_decode_head(head, encoding))
        except UnicodeDecodeError:
            continue
    best = from_bytes(head).best()
    if best is None:
        raise UserError(f"{path}: cannot detect the text encoding.")
    return best.encoding, _whitespace_separated(str(best))


def _decode_head(head: bytes, encoding: str) -> str:
    """The first bytes of a file as text; a multi-byte character cut at the end is still the encoding."""
    try:
        return head.decode(encoding)
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            raise
        return head[: exc.start].decode(encoding)


def _whitespace_separated(text: str) -> bool:
    first = next((line for line in text.splitlines() if line.strip()), "")
    return not _SEPARATORS.search(first) and len(first.split()) > 1


def _register_source(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Register the raw file as relation `_raw`; returns the lines before its first record (1 for a
    header row), so that record n is row n + that in messages, as a spreadsheet numbers it."""
    path = existing_file(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        con.execute(f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT * FROM read_parquet({_literal(path)})")
        return 0
    if name.endswith((".xlsx", ".xlsm")):
        con.register("_raw_frame", read_excel(path)[0].drop_columns([ROW]))
        con.execute("CREATE OR REPLACE TEMP VIEW _raw AS SELECT * FROM _raw_frame")
        return 1
    encoding, whitespace = _sniff(path)
    if encoding.replace("_", "-").lower() in ("utf-8", "ascii") and not whitespace:
        # All text, as the pandas paths below read it: DuckDB's own date sniffing takes 05/03/2024 for
        # 5 March on a sample, where `load` decides the order over the whole column (month first when
        # nothing settles it), so the same file would give two CLVs.
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT * FROM read_csv({_literal(path)}, all_varchar=true)"
        )
        names = [row[0] for row in con.execute("DESCRIBE _raw").fetchall()]
        return 0 if names == [f"column{i}" for i in range(len(names))] else 1
    header = 1
    if whitespace:
        frame = pd.read_csv(path, sep=r"\s+", header=None, dtype=str, encoding=encoding)
        if not frame.empty and not any(_is_number(v) for v in frame.iloc[0]):
            frame = frame.iloc[1:].set_axis(list(frame.iloc[0]), axis=1)
        else:
            frame.columns = [f"column{i}" for i in range(frame.shape[1])]
            header = 0
    else:
        frame = pd.read_csv(path, sep=None, engine="python", dtype=str, encoding=encoding)
    con.register("_raw_frame", frame)
    con.execute("CREATE OR REPLACE TEMP VIEW _raw AS SELECT * FROM _raw_frame")
    return header


def _literal(path: Path) -> str:
    """A file path as an SQL string literal (views cannot take prepared parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def register_file_transactions(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    customer_col: str,
    date_col: str,
    value_col: str | None = None,
    date_format: str | None = None,
) -> int:
    """Create the `_tx` view from a CSV/TSV/whitespace/Parquet file (gzip ok, UTF-8 or GBK): each row
    is a document (a negative value a return). Rows without a customer id (guest checkouts) are left
    out; returns how many were."""
    header = _register_source(con, path)
    columns = {row[0]: row[1] for row in con.execute("DESCRIBE _raw").fetchall()}
    for flag, col in (("--customer-col", customer_col), ("--date-col", date_col), ("--value-col", value_col)):
        if col is not None and col not in columns:
            raise UserError(
                f"{path}: no column '{col}' (given by {flag}).", hint=f"Columns: {', '.join(columns)}"
            )
    day_first = None
    if columns[date_col] == "VARCHAR" and not date_format:
        day_first = day_first_of(
            con,
            "_raw",
            ident(date_col),
            f"row_number() OVER () + {header}",
            column_name=date_col,
            source=str(path),
        )
    date_sql = _date_expression(ident(date_col), columns[date_col], date_format, day_first)
    # "1,234.50", "¥214.54" and "214,54" are amounts as shops write them (as `marketpilot load` reads)
    value_sql = f"CAST({amount_sql(ident(value_col))} AS DOUBLE)" if value_col else "NULL::DOUBLE"
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _parsed AS
        SELECT row_number() OVER () + {header} AS row_no,
               NULLIF(trim(CAST("{customer_col}" AS VARCHAR)), '') AS customer_id,
               "{date_col}" AS raw_date, {date_sql} AS day,
               {f'"{value_col}"' if value_col else "NULL"} AS raw_value, {value_sql} AS value
        FROM _raw"""
    )
    bad = con.execute(
        "SELECT row_no, raw_date FROM _parsed WHERE day IS NULL AND raw_date IS NOT NULL LIMIT 1"
    ).fetchall()
    if bad:
        raise UserError(
            f"{path}: row {bad[0][0]}, column '{date_col}': cannot read {bad[0][1]!r} as a date.",
            hint="Pass --date-format, e.g. --date-format %Y%m%d or '%d/%m/%Y %H:%M'.",
        )
    if value_col:
        bad = con.execute(
            "SELECT row_no, raw_value FROM _parsed WHERE value IS NULL AND raw_value IS NOT NULL LIMIT 1"
        ).fetchall()
        if bad:
            raise UserError(f"{path}: row {bad[0][0]}, column '{value_col}': {bad[0][1]!r} is not a number.")
    con.execute(f"DROP VIEW IF EXISTS {lines_view(TX_VIEW)}")  # a file's rows are netted whole
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {TX_VIEW} AS
        -- zero-padded: rows of one day are ordered by their id, and row 10 comes after row 9
        SELECT lpad(CAST(row_no AS VARCHAR), 20, '0') AS order_id, customer_id,
               CAST(day AS TIMESTAMP) AS ordered_at, NULL::VARCHAR AS status, value, 0.0 AS discount,
               false AS from_lines, NULL::VARCHAR AS currency
        FROM _parsed WHERE customer_id IS NOT NULL AND day IS NOT NULL"""
    )
    return int(con.execute("SELECT count(*) FROM _parsed WHERE customer_id IS NULL").fetchall()[0][0])


def _date_expression(column: str, duck_type: str, date_format: str | None, day_first: bool | None) -> str:
    if date_format:
        return f"CAST(TRY_STRPTIME(CAST({column} AS VARCHAR), '{date_format.replace(chr(39), '')}') AS DATE)"
    if duck_type.startswith(("DATE", "TIMESTAMP")):
        return f"CAST({column} AS DATE)"
    # as `marketpilot load` reads them: ISO, 2024年3月5日, 19970101, Unix time, 05/03/2024 by the column
    return f"CAST({temporal_sql(column, 'VARCHAR', 'TIMESTAMP', None, day_first)} AS DATE)"


def register_store_transactions(con: duckdb.DuckDBPyConnection) -> None:
    """The `_tx` view over the canonical store: orders of identified (non-guest) customers as
    documents, value in major currency units, and their lines as `_tx_lines`."""
    con.execute(f"CREATE OR REPLACE TEMP VIEW {TX_VIEW} AS {store_documents_sql()}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {lines_view(TX_VIEW)} AS {store_lines_sql()}")


def date_range(con: duckdb.DuckDBPyConnection, source: str = TX_VIEW) -> tuple[dt.date, dt.date]:
    first, last, _ = netted_range(con, source)
    return first, last


def netted_range(con: duckdb.DuckDBPyConnection, source: str = TX_VIEW) -> tuple[dt.date, dt.date, Netting]:
    """The first and last purchase day of `source`, and the netting of all its documents they come
    from (for `summarise_netted` to reuse)."""
    whole = net(con, source, table=f"{source}_netted_all")
    return *_date_range(con, whole), whole


def _date_range(con: duckdb.DuckDBPyConnection, netting: Netting) -> tuple[dt.date, dt.date]:
    first, last = con.execute(f"SELECT min(day), max(day) FROM ({purchases_sql(netting)})").fetchall()[0]
    if first is None:
        raise UserError(
            "No purchases to summarise (after removing guest rows, cancellations and returns).",
            hint="Check the customer and value columns: rows with a negative value are returns.",
        )
    return first, last


def transaction_rules(con: duckdb.DuckDBPyConnection, *, before: dt.date | None = None) -> PurchaseRules:
    """How the purchase rule read the registered transactions (counts), up to `before` (exclusive)."""
    return purchase_rules(con, TX_VIEW, before=before)


def summarise(
    con: duckdb.DuckDBPyConnection,
    *,
    calibration_end: dt.date,
    observation_end: dt.date | None = None,
    time_unit: TimeUnit = "W",
    source: str = TX_VIEW,
) -> pd.DataFrame:
    """One row per customer whose first purchase is on or before `calibration_end`:

    frequency, recency, T, monetary_value (mean value of the repeat purchase days that have a value
    in the money currency) and monetary_frequency (how many such days) for the calibration period;
    frequency_holdout, duration_holdout for (calibration_end, observation_end]; and frequency_previous,
    the purchase days in the equally long period just before calibration_end (the naive "same as last
    period" forecast). Calibration purchases are netted only with returns up to calibration_end, so
    the holdout does not leak into the fit."""
    return summarise_netted(
        con,
        calibration_end=calibration_end,
        observation_end=observation_end,
        time_unit=time_unit,
        source=source,
    )[0]


def summarise_netted(
    con: duckdb.DuckDBPyConnection,
    *,
    calibration_end: dt.date,
    observation_end: dt.date | None = None,
    time_unit: TimeUnit = "W",
    source: str = TX_VIEW,
    whole: Netting | None = None,
) -> tuple[pd.DataFrame, Netting]:
    """`summarise`, and the netting up to observation_end that it read (for the rule's counts). Each
    netting runs once: one cutoff's serves another when no document lies between them; `whole`, the
    netting of all of `source`'s documents (`netted_range`), when the caller has it."""
    if time_unit not in UNIT_DAYS:
        raise UserError(f"time unit must be D or W, got {time_unit!r}.")
    unit = UNIT_DAYS[time_unit]
    if observation_end is None:
        whole = whole or net(con, source, table=f"{source}_netted_all")
        observation_end = _date_range(con, whole)[1]
    obs = observation_end
    holdout_days = max((obs - calibration_end).days, 0)
    observed = _netting_before(con, source, obs + dt.timedelta(days=1), whole, "observed")
    cal_before = calibration_end + dt.timedelta(days=1)
    calibration = _netting_before(con, source, cal_before, observed, "calibration")
    frame = con.execute(
        f"""
        WITH daily AS (
            -- a day's value is unknown only when none of its purchases has one
            SELECT customer_id, day, sum(value) AS value,
                   day = min(day) OVER (PARTITION BY customer_id) AS first
            FROM ({purchases_sql(calibration)}) GROUP BY customer_id, day
        ), cal AS (
            SELECT customer_id, min(day) AS first_day, max(day) AS last_day, count(*) AS days,
                   coalesce(avg(value) FILTER (WHERE NOT first), 0) AS monetary_value,
                   count(value) FILTER (WHERE NOT first) AS monetary_frequency
            FROM daily GROUP BY ALL
        ), later AS (
            SELECT customer_id,
                   count(DISTINCT day) FILTER (WHERE day > $cal) AS frequency_holdout
            FROM ({purchases_sql(observed)}) GROUP BY ALL
        ), previous AS (
            SELECT customer_id, count(*) FILTER (WHERE day > $cal - to_days($hd)) AS frequency_previous
            FROM daily GROUP BY ALL
        )
        SELECT cal.customer_id,
               CAST(days - 1 AS DOUBLE) AS frequency,
               date_diff('day', first_day, last_day) / $unit AS recency,
               date_diff('day', first_day, $cal) / $unit AS T,
               monetary_value,
               CAST(monetary_frequency AS DOUBLE) AS monetary_frequency,
               CAST(coalesce(frequency_holdout, 0) AS DOUBLE) AS frequency_holdout,
               $hd / $unit AS duration_holdout,
               CAST(frequency_previous AS DOUBLE) AS frequency_previous
        FROM cal JOIN previous USING (customer_id) LEFT JOIN later USING (customer_id)
        ORDER BY cal.customer_id
        """,
        {"cal": calibration_end, "unit": unit, "hd": holdout_days},
    ).df()
    return frame, observed


def _netting_before(
    con: duckdb.DuckDBPyConnection, source: str, before: dt.date, known: Netting | None, name: str
) -> Netting:
    """The netting of `source` before `before`: `known` when it is the same, else a new one."""
    if known is not None and same_netting(con, known, before):
        return known
    return net(con, source, before=before, table=f"{source}_netted_{name}")
