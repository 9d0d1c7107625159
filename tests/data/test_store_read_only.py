"""A read-only store leaves the personal-data file closed: what it cannot show is said plainly, and
what it can show (row counts of the analytics tables) works, as a notebook opens it."""

from __future__ import annotations

import pandas as pd
import pytest

from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.errors import UserError


def _shop(settings: Settings) -> None:
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", pd.DataFrame({"customer_id": ["C1", "C2"], "city": ["上海", "杭州"]}))
        store.upsert("customer_pii", pd.DataFrame({"customer_id": ["C1"], "name": ["王小明"]}))


def test_read_only_counts_the_tables_it_opens(settings: Settings) -> None:
    _shop(settings)
    with Store.open(settings, read_only=True) as store:
        counts = store.counts()  # was DuckDB's CatalogException: schema "private" does not exist
        assert counts["customers"] == 2 and "customer_pii" not in counts
        assert not store.is_empty()
    with Store.open(settings) as store:
        assert store.counts()["customer_pii"] == 1  # a writable store opens both files


@pytest.mark.parametrize("call", ["read", "arrow", "count"])
def test_read_only_refuses_personal_data_by_name(settings: Settings, call: str) -> None:
    _shop(settings)
    with Store.open(settings, read_only=True) as store, pytest.raises(UserError, match="customer_pii"):
        getattr(store, call)("customer_pii")
