"""The shared interface, exercised on every registered recommender with real purchases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

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
@pytest.mark.parametrize(("first_chunk", "spare"), [(2048, 16), (16, 1)])
def test_pruned_factor_ranking_equals_brute_force(name, first_chunk, spare, fitted, monkeypatch):
    """With a first chunk of 16 products most customers go through several merge rounds, and with one
    spare place most customers with purchases take the wider call for the heavily masked."""
    from marketpilot.analytics.recommend import factor
    from marketpilot.analytics.recommend.base import top_k_rows

    monkeypatch.setattr(factor, "_FIRST_CHUNK", first_chunk)
    monkeypatch.setattr(factor, "_SPARE", spare)
    model = fitted[name]
    users = np.arange(min(300, len(model.user_index_)))
    items, scores = model.top_k(users, 20, exclude_seen=True)
    dense = model._score(users)
    seen = model.seen_[users].tocoo()
    dense[seen.row, seen.col] = -np.inf
    expected_items, expected_scores = top_k_rows(dense, 20)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-4, atol=1e-5)
    assert (items == expected_items).mean() > 0.99  # equal up to ties


def _rated(ratings: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Interactions whose weights the models read back as exactly these ratings (they log1p them)."""
    rows = [(u, i, np.expm1(r)) for u, items in ratings.items() for i, r in items.items()]
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "weight"])
    return frame.assign(occurred_at=pd.Timestamp("2024-01-01"))


def test_user_knn_mean_centred_follows_the_resnick_formula():
    # Means: a 2, b 7/3, c 7/4, d 2. Centred: a (1, -1, 0, 0, 0), b (2/3, -4/3, 0, 2/3, 0),
    # c (-3/4, 5/4, 0, -3/4, 1/4), d (0, 0, -1, 0, 1). Cosines with a: b sqrt(3)/2, c negative,
    # d zero, so a's only neighbour is b.
    # pred(a, i3) = 2 + (sqrt(3)/2 * (3 - 7/3)) / (shrink 1 + sqrt(3)/2) = 2.309401
    # pred(a, i4) = 2 + 0 / (1 + 0) = 2: no neighbour rated i4, so a's own mean.
    ratings = {
        "a": {"i0": 3, "i1": 1, "i2": 2},
        "b": {"i0": 3, "i1": 1, "i3": 3},
        "c": {"i0": 1, "i1": 3, "i3": 1, "i4": 2},
        "d": {"i1": 2, "i2": 1, "i4": 3},
    }
    model = get_recommender("userknn", mean_centered=True, shrink=1.0).fit(_rated(ratings))
    recs = model.recommend(["a"], k=2).set_index("product_id")["score"]
    cos = np.sqrt(3) / 2
    assert recs["i3"] == pytest.approx(2 + cos * (3 - 7 / 3) / (1 + cos), abs=1e-5)
    assert recs["i3"] == pytest.approx(2.309401, abs=1e-5)
    assert recs["i4"] == pytest.approx(2.0, abs=1e-5)
    # Without centring: the plain similarity-weighted sum over raw-rating cosines, where c and d are
    # neighbours too; i4 (rated 2 by c, 3 by d) now scores.
    plain = get_recommender("userknn", mean_centered=False).fit(_rated(ratings))
    raw = plain.recommend(["a"], k=2).set_index("product_id")["score"]
    vectors = {u: np.array([r.get(f"i{j}", 0.0) for j in range(5)]) for u, r in ratings.items()}
    sim = {u: vectors["a"] @ v / np.linalg.norm(vectors["a"]) / np.linalg.norm(v) for u, v in vectors.items()}
    assert raw["i4"] == pytest.approx(sim["c"] * 2 + sim["d"] * 3, abs=1e-5)
    assert raw["i3"] == pytest.approx(sim["b"] * 3 + sim["c"] * 1, abs=1e-5)


def test_user_knn_mean_centring_changes_the_lists_on_graded_feedback(shop_events):
    customers = shop_events["customer_id"].drop_duplicates().head(200).tolist()
    centred = get_recommender("userknn", mean_centered=True).fit(shop_events).recommend(customers, k=10)
    plain = get_recommender("userknn", mean_centered=False).fit(shop_events).recommend(customers, k=10)
    centred_lists = centred.groupby("customer_id")["product_id"].apply(tuple)
    plain_lists = plain.groupby("customer_id")["product_id"].apply(tuple)
    differ = (centred_lists != plain_lists.reindex(centred_lists.index)).mean()
    print(f"mean-centring changes {differ:.0%} of 200 top-10 lists")
    assert differ >= 0.5


def test_bm25_weights_follow_okapi():
    from marketpilot.analytics.recommend.knn import bm25_weight

    # Customers x items: a took i0 once and i1 once, b took i0 twice, c took i1 once.
    matrix = sp.csr_matrix(np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0]]))
    k1, b = 1.2, 0.75
    idf = {"a": np.log(2 / 3) + 1, "b": 1.0, "c": 1.0}  # log(n_items / (1 + items taken)) + 1
    norm = {0: k1 * (1 - b + b * 3 / 2.5), 1: k1 * (1 - b + b * 2 / 2.5)}  # item lengths 3 and 2
    expected = np.array(
        [
            [1 * (k1 + 1) / (1 + norm[0]) * idf["a"], 1 * (k1 + 1) / (1 + norm[1]) * idf["a"]],
            [2 * (k1 + 1) / (2 + norm[0]) * idf["b"], 0.0],
            [0.0, 1 * (k1 + 1) / (1 + norm[1]) * idf["c"]],
        ]
    )
    np.testing.assert_allclose(bm25_weight(matrix, k1=k1, b=b).toarray(), expected, rtol=1e-6)


def test_bm25_item_knn_on_real_purchases(retail_slice):
    from marketpilot.analytics.recommend.holdout import Holdout
    from marketpilot.analytics.recommend.split import time_split

    train, test = time_split(retail_slice, test_days=14)
    bm25 = get_recommender("itemknn", similarity="bm25", neighbours=200).fit(train)
    cosine = get_recommender("itemknn", similarity="cosine", neighbours=200).fit(train)
    item = train["product_id"].value_counts().index[0]
    similar = bm25.similar_items(item, k=10)
    buyers = set(train.loc[train["product_id"] == item, "customer_id"])
    assert (
        len(similar) == 10
        and similar["product_id"].isin(train[train["customer_id"].isin(buyers)]["product_id"]).all()
    )
    assert list(similar["product_id"]) != list(cosine.similar_items(item, k=10)["product_id"])
    holdout = Holdout(train, test, k=20, exclude_seen=True)
    popularity = get_recommender("popularity").fit(train)
    models = {"bm25": bm25, "cosine": cosine, "popularity": popularity}
    scores = {name: holdout.evaluate(model) for name, model in models.items()}
    print({name: round(s["recall"], 4) for name, s in scores.items()})
    assert scores["bm25"]["recall"] > scores["popularity"]["recall"]
    assert scores["bm25"]["ndcg"] > scores["popularity"]["ndcg"]


@pytest.fixture(scope="module")
def retail_catalogue(retail_slice: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 400 most-bought Online Retail products with their English descriptions, and their sales."""
    top = retail_slice.groupby("product_id")["customer_id"].nunique().nlargest(400).index
    sales = retail_slice[retail_slice["product_id"].isin(top)]
    names = sales.groupby("product_id")["Description"].agg(lambda d: d.dropna().mode().iloc[0])
    return sales, names.rename("name").reset_index()


@pytest.mark.slow
def test_content_model_on_english_descriptions(retail_catalogue, tmp_path_factory):
    from marketpilot.config import get_settings

    sales, products = retail_catalogue
    settings = get_settings(tmp_path_factory.mktemp("home"))
    model = get_recommender("content", settings=settings).fit(sales, products)
    names = products.set_index("product_id")["name"]
    lunch_bag = names[names == "LUNCH BAG RED RETROSPOT"].index[0]
    similar = names[model.similar_items(lunch_bag, k=5)["product_id"]]
    print("LUNCH BAG RED RETROSPOT →", list(similar))
    query = {"LUNCH", "BAG", "RED", "RETROSPOT"}
    assert all(len(query & set(name.split())) >= 2 for name in similar)  # same kind, colour or print
    # A customer's list shares more vocabulary with what they bought than the best-sellers do.
    customers = sales["customer_id"].value_counts().index[:100].tolist()
    popular = get_recommender("popularity").fit(sales, products)

    def overlap(recs: pd.DataFrame) -> float:
        words = {p: set(n.split()) for p, n in names.items()}
        bought = sales.groupby("customer_id")["product_id"].agg(lambda p: set().union(*(words[i] for i in p)))
        shown = recs.groupby("customer_id")["product_id"].agg(list)
        shares = [np.mean([len(words[p] & bought[c]) / len(words[p]) for p in shown[c]]) for c in shown.index]
        return float(np.mean(shares))

    content_share, popular_share = (
        overlap(model.recommend(customers, k=10)),
        overlap(popular.recommend(customers, k=10)),
    )
    print(f"words shared with own purchases: content {content_share:.2f}, popularity {popular_share:.2f}")
    assert content_share > popular_share + 0.1
