"""Cold start: customers with no history, and products nobody has bought yet."""

from __future__ import annotations

import pandas as pd
import pytest

from marketpilot.analytics.recommend import HybridRecommender, get_recommender


def test_new_customer_gets_their_segments_favourites(retail_slice):
    model = get_recommender("popularity", segment_col="Country").fit(retail_slice)
    german = retail_slice[retail_slice["Country"] == "Germany"]
    german_top = german.groupby("product_id")["customer_id"].nunique().nlargest(20).index
    global_top = retail_slice.groupby("product_id")["customer_id"].nunique().nlargest(10).index
    recs = model.recommend(["new-customer"], k=10, segments={"new-customer": "Germany"})
    print("segment:", list(recs["product_id"]), "global:", list(global_top))
    assert recs["product_id"].isin(german_top).mean() >= 0.7
    assert set(recs["product_id"]) != set(global_top)  # the segment really changes the answer
    # Without a known segment the same new customer gets the global ranking.
    plain = model.recommend(["new-customer"], k=10)
    assert plain["product_id"].isin(global_top).mean() >= 0.8


def test_hybrid_serves_unknown_customers_from_popularity(retail_slice):
    model = HybridRecommender(weights={"repeat": 1.0, "als": 0.5}, segment_col="Country").fit(retail_slice)
    recs = model.recommend(["a", "b"], k=10, segments={"a": "France"})
    assert (recs.groupby("customer_id").size() == 10).all()
    french = retail_slice[retail_slice["Country"] == "France"].groupby("product_id")["customer_id"].nunique()
    assert recs.loc[recs["customer_id"] == "a", "product_id"].isin(french.nlargest(20).index).mean() >= 0.7


@pytest.fixture(scope="module")
def new_product_case(shop_events: pd.DataFrame, shop_products: pd.DataFrame, settings_module):
    """A real, popular product whose every interaction is removed: it is in the catalogue, unsold."""
    product = shop_events["product_id"].value_counts().index[5]
    train = shop_events[shop_events["product_id"] != product]
    hybrid = HybridRecommender(
        components=("repeat", "itemknn", "als", "popularity", "content"),
        weights={"repeat": 1.0, "itemknn": 0.3, "als": 0.3},
        component_params={"content": {"settings": settings_module}},
    ).fit(train, shop_products)
    return product, train, hybrid


@pytest.fixture(scope="module")
def settings_module(tmp_path_factory):
    from marketpilot.config import get_settings

    return get_settings(tmp_path_factory.mktemp("home"))


@pytest.mark.slow
def test_new_product_is_similar_to_its_kind_by_description(new_product_case, shop_products):
    product, train, hybrid = new_product_case
    catalogue = shop_products.set_index("product_id")
    assert get_recommender("itemknn").fit(train, shop_products).similar_items(product).empty
    similar = hybrid.similar_items(product, k=5)
    print(catalogue.loc[product, "name"], "→", list(catalogue.loc[similar["product_id"], "name"]))
    same_kind = catalogue.loc[similar["product_id"], "subcategory"] == catalogue.loc[product, "subcategory"]
    assert same_kind.mean() >= 0.6


@pytest.mark.slow
def test_new_product_reaches_customers_who_buy_its_kind(new_product_case, shop_products):
    product, train, hybrid = new_product_case
    kind = shop_products.set_index("product_id").loc[product, "subcategory"]
    bought_kind = train.merge(shop_products[["product_id", "subcategory"]], on="product_id")
    counts = bought_kind[bought_kind["subcategory"] == kind].groupby("customer_id")["product_id"].nunique()
    fans = counts[counts >= 2].index.tolist()
    others = [c for c in train["customer_id"].unique() if c not in set(fans)][:300]
    share_fans = hybrid.recommend(fans, k=20)["product_id"].eq(product).sum() / len(fans)
    share_others = hybrid.recommend(others, k=20)["product_id"].eq(product).sum() / len(others)
    print(f"new product {product} shown to {share_fans:.0%} of {kind} buyers, {share_others:.0%} of others")
    assert share_fans >= 0.3 and share_fans > 3 * share_others
    als_only = get_recommender("als").fit(train, shop_products)
    assert not als_only.recommend(fans, k=20)["product_id"].eq(product).any()
