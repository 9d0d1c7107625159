"""Real reviews from the bundled corpora, and a store holding some of them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from marketpilot.analytics.reviews import corpora
from marketpilot.config import Settings
from marketpilot.data import Store


@pytest.fixture(scope="session")
def zh_corpus(data_dir: Path) -> pd.DataFrame:
    return corpora.load_zh(data_dir)


@pytest.fixture(scope="session")
def en_corpus(data_dir: Path) -> pd.DataFrame:
    return corpora.load_en(data_dir)


@pytest.fixture
def shop_reviews(zh_corpus: pd.DataFrame) -> pd.DataFrame:
    """40 real notebook-computer reviews (held-out split) that talk about price, screen or service."""
    rows = zh_corpus[(zh_corpus.category == "electronics") & (zh_corpus.split == "test")]
    rows = rows[rows.text.str.contains("价格|性价比|屏幕|客服|售后") & (rows.text.str.len() < 120)]
    rows = rows.groupby("label").head(20)
    return pd.DataFrame(
        {
            "review_id": [f"rv{i:03d}" for i in range(len(rows))],
            "product_id": "P-NB-1",
            "customer_id": [f"c{i}" for i in range(len(rows))],
            "rating": (rows.label * 4 + 1).to_numpy(),
            "text": rows.text.to_numpy(),
            "language": "zh",
        }
    )


@pytest.fixture
def review_store(settings: Settings, shop_reviews: pd.DataFrame) -> Settings:
    products = pd.DataFrame({"product_id": ["P-NB-1"], "name": ["轻薄笔记本"], "category": ["电脑"]})
    with Store.open(settings) as store:
        store.upsert("products", products)
        store.upsert("reviews", shop_reviews)
    return settings
