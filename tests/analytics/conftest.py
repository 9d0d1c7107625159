"""Stores built from real data for the customer-intelligence tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from marketpilot.config import Settings, get_settings
from marketpilot.data import Store
from marketpilot.data.sample import generate_shop, load_shop

_ONLINE_RETAIL_TABLES = {
    "customers": """
        SELECT coalesce(CAST(CustomerID AS VARCHAR), 'guest-' || InvoiceNo) AS customer_id,
               min(InvoiceDate) AS created_at, any_value(Country) AS country, CustomerID IS NULL AS is_guest
        FROM raw GROUP BY ALL""",
    "products": """
        SELECT StockCode AS product_id, coalesce(any_value(Description), StockCode) AS name,
               CAST(round(median(UnitPrice) * 100) AS BIGINT) AS price_minor, 'GBP' AS currency
        FROM raw GROUP BY StockCode""",
    "orders": """
        SELECT InvoiceNo AS order_id, coalesce(CAST(any_value(CustomerID) AS VARCHAR), 'guest-' || InvoiceNo)
                   AS customer_id,
               min(InvoiceDate) AS ordered_at,
               CASE WHEN starts_with(InvoiceNo, 'C') THEN 'cancelled' ELSE 'completed' END AS status,
               'GBP' AS currency, CAST(round(sum(Quantity * UnitPrice) * 100) AS BIGINT) AS total_minor,
               0 AS discount_minor, any_value(Country) AS country
        FROM raw GROUP BY InvoiceNo""",
    "order_items": """
        SELECT InvoiceNo AS order_id, row_number() OVER (PARTITION BY InvoiceNo) AS line_no,
               StockCode AS product_id, Quantity AS quantity,
               CAST(round(UnitPrice * 100) AS BIGINT) AS unit_price_minor, 'GBP' AS currency
        FROM raw""",
}


@pytest.fixture(scope="session")
def online_retail_settings(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A store holding the whole UCI Online Retail export in canonical tables (guests and
    cancellations included, as a loader keeps them)."""
    settings = get_settings(tmp_path_factory.mktemp("online_retail_home"))
    src = duckdb.connect()
    src.execute(
        "CREATE TABLE raw AS SELECT * FROM read_csv(?)", [str(data_dir / "samples" / "online_retail.csv.gz")]
    )
    with Store.open(settings) as store, store.transaction():
        for table, sql in _ONLINE_RETAIL_TABLES.items():
            store.upsert(table, src.sql(sql).to_arrow_table())
    src.close()
    return settings


@pytest.fixture(scope="session")
def online_retail_sales(data_dir: Path) -> pd.DataFrame:
    """The sales invoices of identified customers in Online Retail with the purchase rule applied
    independently of its SQL, in pandas from the CSV: InvoiceNo, customer, at, value (the invoice's
    own), net (after returns) and undone (its returns brought it to 0 or below: no purchase).

    'C' invoices are returns: each one's total is spread over its returned products by their lines'
    value, and each product's share is netted against the customer's latest sale at or before the
    return that holds the product, else against the customer's latest sale; what a sale's returns of a
    product exceed the product's worth in it by reach the earlier sales holding the product, latest
    first."""
    raw = pd.read_csv(
        data_dir / "samples" / "online_retail.csv.gz", dtype={"InvoiceNo": str, "StockCode": str}
    )
    raw = raw.dropna(subset=["CustomerID"])
    raw["value"] = raw["Quantity"] * raw["UnitPrice"]
    orders = raw.groupby("InvoiceNo").agg(
        customer=("CustomerID", "first"), at=("InvoiceDate", "min"), value=("value", "sum")
    )
    orders["at"] = pd.to_datetime(orders["at"])
    orders = orders.reset_index().sort_values(["at", "InvoiceNo"])
    is_return = orders["InvoiceNo"].str.startswith("C")
    returns, sales = orders[is_return], orders[~is_return]
    returned = raw[raw["InvoiceNo"].str.startswith("C") & (raw["value"] < 0)]
    returned = (
        returned.groupby(["InvoiceNo", "StockCode"], as_index=False)["value"]
        .sum()
        .merge(returns.rename(columns={"value": "total"}), on="InvoiceNo")
    )
    returned["amount"] = (
        returned["total"] * returned["value"] / returned.groupby("InvoiceNo")["value"].transform("sum")
    )
    sale_ids = sales[["at", "customer", "InvoiceNo"]].rename(columns={"InvoiceNo": "sale"})
    bought = raw[raw["Quantity"] > 0][["InvoiceNo", "StockCode"]].drop_duplicates()
    bought = bought.rename(columns={"InvoiceNo": "sale"}).merge(sale_ids, on="sale")
    # at the same time, the sale with the greater invoice number is the later one, as in the SQL
    by_product = pd.merge_asof(
        returned.sort_values("at"), bought.sort_values(["at", "sale"]), on="at", by=["customer", "StockCode"],
        direction="backward",
    )  # fmt: skip
    latest = pd.merge_asof(
        by_product.drop(columns="sale"), sale_ids, on="at", by="customer", direction="backward"
    )
    target = by_product["sale"].fillna(latest["sale"])
    credit = by_product.assign(sale=target).groupby("sale")["amount"].sum()
    sales = sales.assign(credit=sales["InvoiceNo"].map(credit))
    sales["net"] = sales["value"] + sales["credit"].fillna(0)
    # What a sale's returns of a product exceed the product's worth in it by (its value times the
    # product's share of its lines' value) reaches the customer's earlier sales holding the product,
    # latest first, each giving up to the product's worth in it less its own returns of it.
    value = sales.set_index("InvoiceNo")["value"].to_dict()
    lines = raw[raw["value"] > 0].groupby(["InvoiceNo", "StockCode"])["value"].sum()
    share = (lines / lines.groupby(level=0).transform("sum")).to_dict()
    own = by_product.dropna(subset=["sale"]).groupby(["sale", "StockCode"])["amount"].sum().to_dict()
    order = {sale: i for i, sale in enumerate(sales["InvoiceNo"])}  # sales are in time order
    held = bought.groupby(["customer", "StockCode"])["sale"].agg(list)
    customer = sales.set_index("InvoiceNo")["customer"].to_dict()
    carried: dict[str, float] = {}  # per sale
    given: dict[tuple[str, str], float] = {}  # per sale and product
    for sale, product in sorted(own, key=lambda k: order[k[0]]):  # in time order: a stack per product
        due = -(own[(sale, product)] + value[sale] * share.get((sale, product), 0.0))
        if round(due, 6) <= 0:
            continue
        carried[sale] = carried.get(sale, 0.0) + due
        earlier = sorted(
            (s for s in held[(customer[sale], product)] if order[s] < order[sale]), key=order.get
        )
        for s in reversed(earlier):
            worth = max(value[s] * share.get((s, product), 0.0) + own.get((s, product), 0.0), 0.0)
            take = min(due, worth - given.get((s, product), 0.0))
            if take > 0:
                given[(s, product)] = given.get((s, product), 0.0) + take
                carried[s] = carried.get(s, 0.0) - take
                due -= take
    reached = sales["InvoiceNo"].map(carried)
    sales["net"] = sales["value"] + sales["credit"].fillna(0) + reached.fillna(0)
    sales["undone"] = (sales["credit"].notna() | reached.notna()) & (sales["net"].round(2) <= 0)
    return sales.drop(columns="credit")


@pytest.fixture(scope="session")
def shop_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small generated Chinese shop (2,000 customers, with events, coupons and reviews) in a store."""
    root = tmp_path_factory.mktemp("shop")
    settings = get_settings(root / "home")
    with Store.open(settings) as store:
        load_shop(store, generate_shop(root / "files", customers=2000, seed=7))
    return settings
