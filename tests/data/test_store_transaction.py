"""Store.transaction(): analytics and private (PII) writes commit together or not at all."""

from __future__ import annotations

import pandas as pd
import pytest

from marketpilot.config import Settings
from marketpilot.data import Store


def test_failure_after_writes_to_both_files_rolls_both_back(settings: Settings) -> None:
    with Store.open(settings) as store:
        with store.transaction():
            store.upsert("customers", pd.DataFrame({"customer_id": ["c1"], "city": ["杭州"]}))
            store.upsert("customer_pii", pd.DataFrame({"customer_id": ["c1"], "name": ["王小明"]}))
        with pytest.raises(RuntimeError), store.transaction():
            store.upsert("customers", pd.DataFrame({"customer_id": ["c1", "c2"], "city": ["上海", "北京"]}))
            store.upsert("customer_pii", pd.DataFrame({"customer_id": ["c2"], "name": ["李雷"]}))
            raise RuntimeError("disk full")
        assert store.read("customers").city.tolist() == ["杭州"]
        assert store.read("customer_pii").name.tolist() == ["王小明"]
    with Store.open(settings) as reopened:  # and nothing half-written reached the files
        assert reopened.counts()["customers"] == 1 and reopened.counts()["customer_pii"] == 1


def test_upsert_replaces_rows_with_the_same_key(settings: Settings) -> None:
    with Store.open(settings) as store:
        store.upsert(
            "orders", pd.DataFrame({"order_id": ["o1"], "customer_id": ["c1"], "total_minor": [100]})
        )
        written = store.upsert(
            "orders", store.con.sql("SELECT 'o1' AS order_id, 'c1' AS customer_id, 250 AS total_minor")
        )
        assert written == 1
        assert store.read("orders").total_minor.tolist() == [250]


def test_merge_upsert_keeps_stored_values_the_incoming_rows_lack(settings: Settings) -> None:
    with Store.open(settings) as store, store.transaction():
        store.upsert(
            "customer_pii", pd.DataFrame({"customer_id": ["c1"], "name": ["王小明"], "phone": ["139"]})
        )
        written = store.upsert(
            "customer_pii",
            pd.DataFrame({"customer_id": ["c1", "c2"], "email": ["w@x.cn", None], "phone": [None, "138"]}),
            merge=True,
        )
    with Store.open(settings) as store:
        rows = store.read("customer_pii").set_index("customer_id")
    assert written == 2
    assert rows.loc["c1", ["name", "phone", "email"]].tolist() == ["王小明", "139", "w@x.cn"]
    assert rows.loc["c2", "phone"] == "138" and pd.isna(rows.loc["c2", "name"])
