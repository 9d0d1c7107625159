"""Stores built from real data for the customer-intelligence tests."""

from __future__ import annotations

from pathlib import Path

import duckdb
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
def shop_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small generated Chinese shop (2,000 customers, with events, coupons and reviews) in a store."""
    root = tmp_path_factory.mktemp("shop")
    settings = get_settings(root / "home")
    with Store.open(settings) as store:
        load_shop(store, generate_shop(root / "files", customers=2000, seed=7))
    return settings
