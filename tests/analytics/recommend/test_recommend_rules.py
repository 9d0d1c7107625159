"""Each business rule, on the generated shop's real catalogue (stock, prices, costs, categories).
Every test also checks that without the rule the forbidden products would have been shown, so a
rule that silently did nothing would fail."""

from __future__ import annotations

import pandas as pd
import pydantic
import pytest

from marketpilot.analytics.recommend import Rules, get_recommender
from marketpilot.errors import UserError

K = 10


@pytest.fixture(scope="module")
def model(shop_events: pd.DataFrame, shop_products: pd.DataFrame):
    return get_recommender("als", factors=32).fit(shop_events, shop_products)


@pytest.fixture(scope="module")
def customers(shop_events: pd.DataFrame) -> list[str]:
    return [*shop_events["customer_id"].drop_duplicates().head(150), "brand-new-customer"]


def _shown(model, customers, rules: Rules | None, products: pd.DataFrame) -> pd.DataFrame:
    recs = model.recommend(customers, k=K, filters=rules)
    return recs.merge(products, on="product_id", how="left")


def test_in_stock_only(model, customers, shop_products):
    products = shop_products.copy()
    # Put the products this model likes most out of stock, so the rule has work to do.
    favourites = _shown(model, customers, None, products)["product_id"].value_counts().index[:5]
    products.loc[products["product_id"].isin(favourites), "stock"] = 0
    refit = get_recommender("als", factors=32).fit(model_frame(model), products)
    assert (_shown(refit, customers, None, products)["stock"] <= 0).any()
    shown = _shown(refit, customers, Rules(in_stock_only=True), products)
    assert (shown["stock"] > 0).all()
    assert (shown.groupby("customer_id").size() == K).all()


def model_frame(model) -> pd.DataFrame:
    seen = model.seen_.tocoo()
    return pd.DataFrame(
        {
            "customer_id": model.user_index_.to_numpy()[seen.row],
            "product_id": model.item_index_.to_numpy()[seen.col],
            "occurred_at": pd.Timestamp("2025-01-01"),
        }
    )


def test_price_band(model, customers, shop_products):
    low, high = 5_000, 20_000
    assert (~_shown(model, customers, None, shop_products)["price_minor"].between(low, high)).any()
    shown = _shown(model, customers, Rules(min_price_minor=low, max_price_minor=high), shop_products)
    assert shown["price_minor"].between(low, high).all() and len(shown)


def test_category_allow_and_deny(model, customers, shop_products):
    baseline = _shown(model, customers, None, shop_products)
    top = baseline["category"].value_counts().index[0]
    allowed = _shown(model, customers, Rules(allow_categories=(top,)), shop_products)
    assert (allowed["category"] == top).all()
    denied = _shown(model, customers, Rules(deny_categories=(top,)), shop_products)
    assert (baseline["category"] == top).any() and not (denied["category"] == top).any()


def test_diversity_caps_products_per_category(model, customers, shop_products):
    baseline = _shown(model, customers, None, shop_products)
    assert (baseline.groupby(["customer_id", "category"]).size() > 2).any()
    shown = _shown(model, customers, Rules(max_per_category=2), shop_products)
    assert (shown.groupby(["customer_id", "category"]).size() <= 2).all()
    n_categories = shop_products["category"].nunique()
    assert (shown.groupby("customer_id").size() == min(K, 2 * n_categories)).all()
    # Order is kept: each list is still best-first.
    assert shown.groupby("customer_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()


def test_margin_floor(model, customers, shop_products):
    margin = (shop_products["price_minor"] - shop_products["cost_minor"]) / shop_products["price_minor"]
    floor = float(margin.median())
    with_margin = shop_products.assign(margin=margin)
    assert (_shown(model, customers, None, with_margin)["margin"] < floor).any()
    shown = _shown(model, customers, Rules(min_margin=floor), with_margin)
    assert (shown["margin"] >= floor).all() and len(shown)


def test_rules_combine_and_validate(model, customers, shop_products):
    rules = Rules(in_stock_only=True, deny_categories=("食品",), max_per_category=3, min_margin=0.3)
    shown = _shown(model, customers, rules, shop_products)
    assert (shown["stock"] > 0).all() and not (shown["category"] == "食品").any()
    assert (shown.groupby(["customer_id", "category"]).size() <= 3).all()
    with pytest.raises(pydantic.ValidationError):
        Rules(min_price_minor=500, max_price_minor=100)


def test_rules_need_a_catalogue(shop_events):
    bare = get_recommender("popularity").fit(shop_events)
    with pytest.raises(UserError, match="catalogue"):
        bare.recommend(["x"], filters=Rules(in_stock_only=True))
