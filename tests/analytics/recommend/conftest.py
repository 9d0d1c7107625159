"""Real inputs for the recommendation tests: UCI Online Retail (purchases, GBP, 38 countries) and a
generated Chinese shop (view / cart / purchase events, a catalogue with stock, prices and costs)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from marketpilot.analytics.recommend.interactions import read_interactions
from marketpilot.data.sample import generate_shop

SHOP_EVENT_WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


# The general rules that turn Online Retail's invoice lines into purchases of products: quantity > 0
# (cancellation invoices 'C…' carry negative quantities) and a stock code with a number in it, two
# digits or more: POST, M, D, DOT, CRUK, BANK CHARGES, AMAZONFEE (no digit) and C2 (carriage) are
# postage, fees and manual entries, not products.
RETAIL_PURCHASES = {"quantity_col": "Quantity", "item_pattern": "[0-9]{2}"}


@pytest.fixture(scope="session")
def retail(data_dir: Path) -> pd.DataFrame:
    """Online Retail purchases: customer × StockCode, lines with a customer, products only,
    cancellations left out; Country, Description and InvoiceNo kept for segment, content and checks."""
    return read_interactions(
        data_dir / "samples" / "online_retail.csv.gz",
        user_col="CustomerID",
        item_col="StockCode",
        time_col="InvoiceDate",
        extra_cols=("Country", "Description", "InvoiceNo"),
        **RETAIL_PURCHASES,
    )


@pytest.fixture(scope="session")
def retail_slice(retail: pd.DataFrame) -> pd.DataFrame:
    """The first three months (Dec 2010 – Feb 2011): enough structure, fast to fit."""
    return retail[retail["occurred_at"] < "2011-03-01"].reset_index(drop=True)


@pytest.fixture(scope="session")
def shop_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return generate_shop(tmp_path_factory.mktemp("shop"), customers=2000, seed=1)


@pytest.fixture(scope="session")
def shop_products(shop_paths: dict[str, Path]) -> pd.DataFrame:
    return pd.read_parquet(shop_paths["products"])


@pytest.fixture(scope="session")
def shop_events(shop_paths: dict[str, Path]) -> pd.DataFrame:
    """The shop's behaviour events as interactions, weighted view=1, cart=3, purchase=5."""
    events = pd.read_parquet(shop_paths["events"])
    frame = events[["customer_id", "product_id", "occurred_at", "event_type"]].copy()
    frame["weight"] = frame["event_type"].map(SHOP_EVENT_WEIGHTS)
    return frame
