"""Serving on the store: fit, precomputed top-K with reasons for every customer, look-ups."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketpilot.analytics.recommend.serving import REASONS, recommend_for_all, store_interactions
from marketpilot.cli import app
from marketpilot.data import Store
from marketpilot.data.sample import load_shop

K = 10


@pytest.fixture(scope="module")
def served(shop_paths, tmp_path_factory):
    from marketpilot.config import get_settings

    settings = get_settings(tmp_path_factory.mktemp("home"))
    with Store.open(settings) as store:
        load_shop(store, shop_paths)
        interactions = store_interactions(store)
        customers = store.read("customers")
    path = recommend_for_all(settings, K)
    return settings, pd.read_parquet(path), interactions, customers


@pytest.mark.slow
def test_every_customer_gets_k_products_with_a_reason(served):
    _, table, _, customers = served
    members = customers.loc[~customers["is_guest"].fillna(False).astype(bool), "customer_id"]
    assert set(members) <= set(table["customer_id"])
    assert (table.groupby("customer_id").size() == K).all()
    assert set(table["reason"]) <= set(REASONS)
    assert table["reason_zh"].str.len().gt(0).all() and table["reason_en"].str.len().gt(0).all()
    print(table["reason"].value_counts().to_dict())
    print(
        table.loc[table["reason"] == "bought_together", ["reason_zh", "reason_en"]].head(2).to_dict("records")
    )
    assert {"bought_before", "bought_together", "popular_segment"} <= set(table["reason"])


@pytest.mark.slow
def test_reasons_point_at_the_customers_own_history(served):
    _, table, interactions, _ = served
    history = set(zip(interactions["customer_id"], interactions["product_id"], strict=True))
    bought = set(
        zip(
            interactions.loc[interactions["event_type"] == "purchase", "customer_id"],
            interactions.loc[interactions["event_type"] == "purchase", "product_id"],
            strict=True,
        )
    )
    before = table[table["reason"] == "bought_before"]
    assert all((c, p) in bought for c, p in zip(before["customer_id"], before["product_id"], strict=True))
    together = table[table["reason"] == "bought_together"]
    assert all(
        (c, p) in history for c, p in zip(together["customer_id"], together["reason_product_id"], strict=True)
    )
    assert not any(
        (c, p) in history for c, p in zip(together["customer_id"], together["product_id"], strict=True)
    )
    newcomers = table[~table["customer_id"].isin(interactions["customer_id"])]
    assert len(newcomers) and newcomers["reason"].isin(["popular_segment", "popular"]).all()


@pytest.mark.slow
def test_for_and_similar_commands(served):
    settings, table, _, _ = served
    customer = table["customer_id"].iloc[0]
    home = ["--home", str(settings.home)]
    result = CliRunner().invoke(app, ["recommend", "for", customer, "--k", "5", "--json", *home])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    expected = table[table["customer_id"] == customer].nsmallest(5, "rank")["product_id"].tolist()
    assert [r["product_id"] for r in rows] == expected and all(r["name"] for r in rows)
    product = expected[0]
    result = CliRunner().invoke(app, ["recommend", "similar", product, "--k", "5", "--json", *home])
    assert result.exit_code == 0, result.output
    similar = json.loads(result.stdout)
    assert len(similar) == 5 and product not in {r["product_id"] for r in similar}
    result = CliRunner().invoke(app, ["recommend", "for", "someone-new", "--k", "3", "--json", *home])
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 3


@pytest.mark.slow
def test_fit_command_rewrites_the_table_and_reports_reasons(served):
    settings, table, _, _ = served
    result = CliRunner().invoke(app, ["recommend", "fit", "--k", "5", "--json", "--home", str(settings.home)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["customers"] == table["customer_id"].nunique()
    assert summary["rows"] == 5 * summary["customers"]
    assert set(summary["reasons"]) <= set(REASONS)
    assert len(pd.read_parquet(summary["path"])) == summary["rows"]
