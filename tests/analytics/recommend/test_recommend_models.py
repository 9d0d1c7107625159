"""The shared interface, exercised on every registered recommender with real purchases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.recommend import RECOMMENDERS, get_recommender
from marketpilot.errors import NotFittedError, UserError, ValidationFailed

COLLABORATIVE = sorted(set(RECOMMENDERS) - {"content"})


@pytest.fixture(scope="module")
def fitted(retail_slice: pd.DataFrame) -> dict[str, object]:
    fast = {"bpr": {"iterations": 30}, "hybrid": {"weights": {"repeat": 1.0, "itemknn": 0.3, "als": 0.3}}}
    return {name: get_recommender(name, **fast.get(name, {})).fit(retail_slice) for name in COLLABORATIVE}


@pytest.mark.parametrize("name", COLLABORATIVE)
def test_recommend_returns_k_distinct_unseen_products_best_first(name, fitted, retail_slice):
    model = fitted[name]
    customers = retail_slice["customer_id"].drop_duplicates().head(40).tolist()
    recs = model.recommend(customers, k=10)
    assert set(recs["customer_id"]) == set(customers)
    per_customer = recs.groupby("customer_id")
    assert (per_customer.size() == 10).all()
    assert (per_customer["product_id"].nunique() == 10).all()
    assert (per_customer["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    bought = set(zip(retail_slice["customer_id"], retail_slice["product_id"], strict=True))
    assert not any(pair in bought for pair in zip(recs["customer_id"], recs["product_id"], strict=True))


def test_repeat_baseline_puts_own_history_first_when_purchases_may_repeat(fitted, retail_slice):
    model = fitted["repeat"]
    customer = retail_slice["customer_id"].value_counts().index[0]
    recs = model.recommend([customer], k=5, exclude_purchased=False)
    own = set(retail_slice.loc[retail_slice["customer_id"] == customer, "product_id"])
    assert set(recs["product_id"]) <= own


def test_unknown_customer_gets_the_popular_products(fitted, retail_slice):
    recs = fitted["als"].recommend(["never-seen"], k=10)
    buyers = retail_slice.groupby("product_id")["customer_id"].nunique().nlargest(30).index
    assert len(recs) == 10
    assert recs["product_id"].isin(buyers).mean() >= 0.8


def test_similar_items_excludes_the_item_and_finds_co_purchases(fitted, retail_slice):
    item = retail_slice["product_id"].value_counts().index[0]
    similar = fitted["itemknn"].similar_items(item, k=5)
    assert len(similar) == 5 and item not in set(similar["product_id"])
    buyers = set(retail_slice.loc[retail_slice["product_id"] == item, "customer_id"])
    co_bought = retail_slice[retail_slice["customer_id"].isin(buyers)]["product_id"]
    assert similar["product_id"].isin(co_bought).all()
    with pytest.raises(UserError, match="Unknown product"):
        fitted["itemknn"].similar_items("no-such-sku")


def test_not_fitted_params_and_registry():
    model = get_recommender("als", factors=16)
    with pytest.raises(NotFittedError):
        model.recommend(["a"])
    assert model.get_params()["factors"] == 16
    assert model.clone(factors=8).factors == 8 and model.factors == 16
    with pytest.raises(UserError, match="Unknown recommender"):
        get_recommender("magic")


def test_bad_interactions_name_the_column_and_row(retail_slice):
    with pytest.raises(ValidationFailed, match="occurred_at"):
        get_recommender("popularity").fit(retail_slice.drop(columns="occurred_at"))
    bad = retail_slice.head(5).assign(weight=[1.0, 1.0, -2.0, 1.0, np.nan])
    with pytest.raises(ValidationFailed, match="row 3"):
        get_recommender("popularity").fit(bad)


@pytest.mark.parametrize("name", ["als", "bpr"])
def test_pruned_factor_ranking_equals_brute_force(name, fitted):
    from marketpilot.analytics.recommend.base import top_k_rows

    model = fitted[name]
    users = np.arange(min(300, len(model.user_index_)))
    items, scores = model.top_k(users, 20, exclude_seen=True)
    dense = model._score(users)
    seen = model.seen_[users].tocoo()
    dense[seen.row, seen.col] = -np.inf
    expected_items, expected_scores = top_k_rows(dense, 20)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-4, atol=1e-5)
    assert (items == expected_items).mean() > 0.99  # equal up to ties
