"""Serving on the store: fit, precomputed top-K with reasons for every customer, look-ups."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from marketpilot.analytics.recommend import HybridRecommender
from marketpilot.analytics.recommend.serving import (
    REASONS,
    explain,
    load_model,
    load_rules,
    recommend_for_all,
    recommendations_for,
    store_interactions,
)
from marketpilot.cli import app
from marketpilot.data import Store
from marketpilot.data.sample import load_shop
from marketpilot.errors import UserError

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
    assert all(  # "… which you bought": the anchor is a purchase, not a product only viewed
        (c, p) in bought for c, p in zip(together["customer_id"], together["reason_product_id"], strict=True)
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


@pytest.mark.slow
def test_newcomer_after_the_fit_gets_their_segments_ranking(served):
    settings, _, _, customers = served
    members = customers[~customers["is_guest"].fillna(False).astype(bool)]
    city = (
        members["city"].value_counts().index[-1]
    )  # the smallest city: its list differs most from the global one
    newcomer = pd.DataFrame({"customer_id": ["arrived-after-fit"], "city": [city], "is_guest": [False]})
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", newcomer)
    rows = recommendations_for(settings, "arrived-after-fit", k=K)
    model = load_model(settings)
    expected = model.recommend(
        ["arrived-after-fit"], k=K, filters=load_rules(settings), segments={"arrived-after-fit": city}
    )
    assert list(rows["product_id"]) == list(expected["product_id"])
    assert set(rows["reason"]) == {"popular_segment"} and rows["reason_en"].str.contains(city).all()
    assert rows["known_customer"].all()  # in the store, new since the fit: not an unknown id
    global_list = model.recommend(["arrived-after-fit"], k=K, filters=load_rules(settings))
    assert list(rows["product_id"]) != list(global_list["product_id"])
    # A newcomer whose segment the model never saw gets the global list, labelled as such.
    stranger = newcomer.assign(customer_id="from-a-new-city", city="新城市")
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", stranger)
    rows = recommendations_for(settings, "from-a-new-city", k=K)
    assert list(rows["product_id"]) == list(global_list["product_id"]) and set(rows["reason"]) == {"popular"}


@pytest.mark.slow
def test_fit_command_applies_business_rules_from_flags(served):
    settings, _, _, _ = served
    with Store.open(settings, read_only=True) as store:
        products = store.read("products").set_index("product_id")
    ceiling = float(products["price_minor"].median()) / 100  # the shop's prices are in 元 (2 decimals)
    denied = products["category"].value_counts().index[0]
    args = ["recommend", "fit", "--k", "6", "--max-price", str(ceiling), "--deny-category", denied]
    args += ["--max-per-category", "2", "--min-margin", "0.2", "--json", "--home", str(settings.home)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rules"] == {
        "in_stock_only": True,  # the default when the catalogue records stock
        "max_price_minor": round(ceiling * 100),
        "deny_categories": [denied],
        "max_per_category": 2,
        "min_margin": 0.2,
    }
    shown = pd.read_parquet(summary["path"]).join(products, on="product_id")
    assert len(shown) and (shown["stock"] > 0).all()
    assert (shown["price_minor"] <= ceiling * 100).all() and not (shown["category"] == denied).any()
    assert ((shown["price_minor"] - shown["cost_minor"]) / shown["price_minor"] >= 0.2).all()
    assert (shown.groupby(["customer_id", "category"]).size() <= 2).all()
    # Customers looked up later are held to the same rules.
    later = recommendations_for(settings, "someone-after-the-rules", k=6)
    later = later.join(products[["price_minor", "stock"]], on="product_id")
    assert len(later) and (later["price_minor"] <= ceiling * 100).all() and (later["stock"] > 0).all()
    # --no-in-stock turns the default off; an inverted price band is a clean error.
    off = CliRunner().invoke(
        app, ["recommend", "fit", "--no-in-stock", "--k", "3", "--json", "--home", str(settings.home)]
    )
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["rules"] == {}
    bad = CliRunner().invoke(
        app, ["recommend", "fit", "--min-price", "9", "--max-price", "1", "--home", str(settings.home)]
    )
    assert isinstance(bad.exception, UserError) and "min_price_minor is above max_price_minor" in str(
        bad.exception
    )


def test_als_led_items_are_explained_by_co_purchase_without_itemknn(retail_slice):
    """Online Retail tunes item-kNN's weight to 0: the hybrid then has no item-kNN model, and ALS's
    recommendations must still point at a product the customer bought that others bought with them."""
    model = HybridRecommender(weights={"repeat": 1.0, "itemknn": 0.0, "als": 0.5}).fit(retail_slice)
    assert "itemknn" not in model.models_
    customers = retail_slice["customer_id"].value_counts().index[:150].tolist()
    recs = model.recommend(customers, k=10)
    reasons = recs.join(explain(model, retail_slice, pd.Series(dtype=str), recs))
    users = model.user_index_.get_indexer(recs["customer_id"])
    items = model.item_index_.get_indexer(recs["product_id"])
    leader = model.contributions(users, items).idxmax(axis=1)
    als_led = reasons[leader.to_numpy() == "als"]
    print(reasons["reason"].value_counts().to_dict(), f"ALS leads {len(als_led)} of {len(recs)}")
    assert len(als_led) > 0.3 * len(recs)
    assert (als_led["reason"] == "bought_together").mean() > 0.95
    # Each anchor is the customer's own product, bought by someone together with the recommended one,
    # and among those the closest in ALS factor space.
    bought = retail_slice.groupby("customer_id")["product_id"].agg(set)
    buyers = retail_slice.groupby("product_id")["customer_id"].agg(set)
    als = model.models_["als"]
    factors = als.item_factors_ / np.linalg.norm(als.item_factors_, axis=1, keepdims=True)
    code = als.item_index_.get_indexer
    for row in als_led[als_led["reason"] == "bought_together"].head(200).itertuples():
        own = [p for p in bought[row.customer_id] if buyers[p] & buyers[row.product_id]]
        assert row.reason_product_id in own
        cosine = factors[code(own)] @ factors[code([row.product_id])[0]]
        assert cosine.max() == pytest.approx(
            float(factors[code([row.reason_product_id])[0]] @ factors[code([row.product_id])[0]]), abs=1e-5
        )
    assert (
        reasons["reason_en"].str.startswith("Often bought together with").sum()
        == (reasons["reason"] == "bought_together").sum()
    )
