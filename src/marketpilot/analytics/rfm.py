"""RFM: recency, frequency and monetary value per customer as of a date, quantile scores 1-5 and the
eight classic RFM classes (重要价值客户 … 一般挽留客户).

Scores come from `percent_rank` in DuckDB, so customers with equal values get equal scores (with
NTILE, two customers with one order each could land in different frequency buckets). A dimension
counts as "high" for the classes when its score is above the average score, the usual practice in
Chinese CRM (高于平均值为高).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
from pydantic import BaseModel

from marketpilot.analytics.outputs import write_table
from marketpilot.analytics.purchases import (
    ORDERS_VIEW,
    PurchaseRules,
    last_purchase_day,
    register_purchases,
    registered_rules,
    same_netting,
)
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.dates import as_date
from marketpilot.errors import UserError

# (R high, F high, M high) -> (key, 中文, English)
RFM_CLASSES: dict[tuple[bool, bool, bool], tuple[str, str, str]] = {
    (True, True, True): ("important_value", "重要价值客户", "Important value"),
    (True, False, True): ("important_develop", "重要发展客户", "Important to develop"),
    (False, True, True): ("important_retain", "重要保持客户", "Important to retain"),
    (False, False, True): ("important_winback", "重要挽留客户", "Important to win back"),
    (True, True, False): ("general_value", "一般价值客户", "General value"),
    (True, False, False): ("general_develop", "一般发展客户", "General to develop"),
    (False, True, False): ("general_retain", "一般保持客户", "General to retain"),
    (False, False, False): ("general_winback", "一般挽留客户", "General to win back"),
}


class RFMClassStats(BaseModel):
    key: str
    name_zh: str
    name_en: str
    customers: int
    share: float
    revenue_share: float


class RFMSummary(BaseModel):
    as_of: dt.date
    customers: int
    classes: list[RFMClassStats]
    purchase_rules: PurchaseRules  # how returns, cancellations and missing totals were read
    parquet: str | None = None
    csv: str | None = None


def _class_table() -> pd.DataFrame:
    rows = [(r, f, m, *names) for (r, f, m), names in RFM_CLASSES.items()]
    return pd.DataFrame(rows, columns=["r_high", "f_high", "m_high", "rfm_class", "class_zh", "class_en"])


def compute_rfm(con: duckdb.DuckDBPyConnection, *, as_of: dt.date | None = None) -> pd.DataFrame:
    """One row per customer with a completed purchase on or before `as_of` (default: the last
    purchase day). `con` is a store connection; runs entirely in DuckDB."""
    netting = None
    if as_of is None:
        netting = register_purchases(con)
        as_of = last_purchase_day(con)
        if as_of is None:
            raise UserError("No completed orders in the store.", hint="Load orders first: marketpilot load …")
    # returns after as_of are not known on as_of: they must not net its purchases (when no document
    # lies after as_of, the netting of all of them is that one)
    if netting is None or not same_netting(con, netting, as_of + dt.timedelta(days=1)):
        register_purchases(con, before=as_of + dt.timedelta(days=1))
    con.register("_rfm_classes", _class_table())
    try:
        return con.execute(
            f"""
            WITH base AS (
                SELECT customer_id, date_diff('day', max(day), $as_of) AS recency_days,
                       -- net of returns; purchases of unknown value or in another currency add nothing
                       count(DISTINCT order_id) AS frequency, coalesce(sum(value), 0) AS monetary
                FROM {ORDERS_VIEW} GROUP BY customer_id
            ), scored AS (
                SELECT *,
                    least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY recency_days DESC)))::INT AS r_score,
                    least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY frequency)))::INT AS f_score,
                    least(5, 1 + floor(5 * percent_rank() OVER (ORDER BY monetary)))::INT AS m_score
                FROM base
            ), flagged AS (
                SELECT *, r_score > avg(r_score) OVER () AS r_high, f_score > avg(f_score) OVER () AS f_high,
                       m_score > avg(m_score) OVER () AS m_high
                FROM scored
            )
            SELECT f.customer_id, f.recency_days, f.frequency, f.monetary, f.r_score, f.f_score, f.m_score,
                   concat(f.r_score, f.f_score, f.m_score) AS rfm_cell, c.rfm_class, c.class_zh, c.class_en
            FROM flagged f JOIN _rfm_classes c USING (r_high, f_high, m_high)
            ORDER BY f.customer_id
            """,
            {"as_of": as_of},
        ).df()
    finally:
        con.unregister("_rfm_classes")


def summarise_rfm(table: pd.DataFrame, as_of: dt.date, rules: PurchaseRules) -> RFMSummary:
    revenue = float(table["monetary"].sum()) or 1.0
    grouped = table.groupby("rfm_class").agg(customers=("customer_id", "size"), revenue=("monetary", "sum"))
    classes = [
        RFMClassStats(
            key=key,
            name_zh=zh,
            name_en=en,
            customers=int(grouped["customers"].get(key, 0)),
            share=float(grouped["customers"].get(key, 0)) / max(len(table), 1),
            revenue_share=float(grouped["revenue"].get(key, 0.0)) / revenue,
        )
        for key, zh, en in RFM_CLASSES.values()
    ]
    return RFMSummary(as_of=as_of, customers=len(table), classes=classes, purchase_rules=rules)


def run_rfm(settings: Settings, *, as_of: dt.date | str | None = None) -> tuple[RFMSummary, pd.DataFrame]:
    """RFM over the store, written to <home>/intel/rfm.parquet and .csv."""
    as_of = as_date(as_of, "as_of")
    with Store.open(settings, read_only=True) as store:
        table = compute_rfm(store.con, as_of=as_of)
        as_of = as_of or last_purchase_day(store.con)
        rules = registered_rules(store.con)  # of the purchases compute_rfm read
    if table.empty:  # keep the previous results rather than overwrite them with nothing
        raise UserError(
            f"no completed order on or before {as_of}: nothing to score",
            hint="give an --as-of date after the first order, or load orders first",
        )
    parquet, csv = write_table(settings, table, "intel", "rfm")
    summary = summarise_rfm(table, as_of, rules)
    summary.parquet, summary.csv = str(parquet), str(csv)
    return summary, table
