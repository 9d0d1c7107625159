"""Serving on the store: fit once, precompute top-K for every customer with a reason per product.

`recommend_for_all(settings, k, rules=...)` writes <home>/recommend/recommendations.parquet (one row
per customer × rank: product, score, reason code, the product the reason points at, and the reason in
Chinese and English for copywriting), pickles the fitted model and keeps the business rules beside it,
so that `for` (customers who arrived since) and `similar` answer the same way.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic
import scipy.sparse as sp

from marketpilot.analytics.recommend.base import Recommender, row_block
from marketpilot.analytics.recommend.hybrid import DEFAULT_COMPONENTS, HybridRecommender
from marketpilot.analytics.recommend.interactions import EVENT, ITEM, USER, WEIGHT, to_csr
from marketpilot.analytics.recommend.rules import Rules
from marketpilot.atomic import atomic_path
from marketpilot.config import Settings
from marketpilot.data.money import minor_digits
from marketpilot.data.store import Store
from marketpilot.errors import NotFoundError, UserError

DEFAULT_EVENT_WEIGHTS = {"view": 1.0, "click": 1.0, "search": 1.0, "fav": 2.0, "cart": 3.0, "purchase": 5.0}
SEGMENT = "segment"
RECOMMENDATIONS_FILE = ("recommend", "recommendations.parquet")
MODEL_FILE = ("recommend", "model.pkl")
RULES_FILE = ("recommend", "rules.json")
# Loaders put postage, fees and manual entries in this category (docs/data.md): not products to sell.
FEE_CATEGORY = "fee"
# Which component's lead becomes which reason. Collaborative models explain by co-purchase.
LEAD_REASONS = {
    "itemknn": "bought_together",
    "userknn": "bought_together",
    "als": "bought_together",
    "bpr": "bought_together",
    "content": "similar_content",
}

REASONS = {
    "bought_before": ("您之前买过「{item}」,可以再次选购", "You bought {item} before"),
    "viewed_before": ("您最近看过「{item}」", "You looked at {item} recently"),
    "bought_together": (
        "常与您买过的「{item}」一起购买",
        "Often bought together with {item}, which you bought",
    ),
    "similar_content": ("与您喜欢的「{item}」相似", "Similar to {item}, which you liked"),
    "popular_segment": ("{segment}的顾客都在买", "Popular with customers in your segment ({segment})"),
    # ranked by views, carts and purchases, not by net sales: "popular", never "best-seller" (热销)
    "popular": ("人气商品", "Popular with shoppers"),
}


def store_interactions(store: Store, event_weights: dict[str, float] | None = None) -> pd.DataFrame:
    """Order lines (purchases, the record of truth) plus behaviour events, guests and fee lines left
    out. When the store has orders, purchase *events* are skipped so that a sale is not counted twice."""
    weights = {**DEFAULT_EVENT_WEIGHTS, **(event_weights or {})}
    has_orders = store.count("order_items") > 0
    frame = store.query(
        f"""
        WITH guests AS (SELECT customer_id FROM customers WHERE coalesce(is_guest, false)),
             fees AS (SELECT product_id FROM products WHERE category = '{FEE_CATEGORY}')
        SELECT o.customer_id, i.product_id, 'purchase' AS event_type, o.ordered_at AS occurred_at
        FROM order_items i JOIN orders o USING (order_id)
        WHERE i.quantity > 0 AND coalesce(o.status, 'completed') NOT IN ('cancelled', 'returned')
          AND o.customer_id NOT IN (SELECT customer_id FROM guests)
          AND i.product_id NOT IN (SELECT product_id FROM fees)
        UNION ALL
        SELECT customer_id, product_id, event_type, occurred_at FROM events
        WHERE product_id IS NOT NULL AND customer_id NOT IN (SELECT customer_id FROM guests)
          AND product_id NOT IN (SELECT product_id FROM fees)
          AND {"event_type <> 'purchase'" if has_orders else "true"}
        """
    )
    frame[WEIGHT] = frame[EVENT].map(weights).fillna(1.0).astype("float64")
    return frame


def customer_segments(settings: Settings, store: Store) -> pd.Series:
    """customer_id → segment: the segmentation output when there is one, else the RFM class, else
    the city. Used for "popular in your segment" and for cold-start customers."""
    for parts, column in (
        (("intel", "segments.parquet"), "segment"),
        (("intel", "rfm.parquet"), "rfm_class"),
    ):
        path = settings.home_dir.joinpath(*parts)
        if path.exists():
            table = pd.read_parquet(path)
            if column in table.columns and USER in table.columns:
                return table.set_index(table[USER].astype(str))[column].astype(str)
    customers = store.read("customers", [USER, "city"]).dropna()
    return customers.set_index(customers[USER].astype(str))["city"].astype(str)


def fit_store_model(
    settings: Settings, *, k: int = 20, exclude_purchased: bool = False
) -> tuple[HybridRecommender, pd.DataFrame, pd.Series, pd.Index]:
    """Fit the hybrid on everything in the store; returns it with the interactions, segments and
    the ids of every customer to serve."""
    with Store.open(settings, read_only=True) as store:
        frame = store_interactions(store)
        products = store.read("products")
        products = products[products["category"].ne(FEE_CATEGORY) | products["category"].isna()]
        segments = customer_segments(settings, store)
        customers = store.query("SELECT customer_id FROM customers WHERE NOT coalesce(is_guest, false)")
    if frame.empty:
        raise UserError(
            "The store has no orders or events to learn from.",
            hint="Load data first: marketpilot load … or marketpilot demo.",
        )
    frame[SEGMENT] = frame[USER].astype(str).map(segments).fillna("")
    components = [
        *DEFAULT_COMPONENTS,
        *(["content"] if len(products) and products["name"].notna().any() else []),
    ]
    model = HybridRecommender(
        components=components,
        component_params={"content": {"settings": settings}},
        k=k,
        exclude_seen=exclude_purchased,
        segment_col=SEGMENT if len(segments) else None,
    )
    model.fit(frame, products if len(products) else None)
    everyone = pd.Index(
        pd.unique(np.concatenate([customers[USER].astype(str).to_numpy(), model.user_index_.to_numpy()]))
    )
    return model, frame, segments, everyone


def store_rules(
    settings: Settings,
    *,
    in_stock: bool | None = None,
    min_price: float | None = None,
    max_price: float | None = None,
    max_per_category: int | None = None,
    min_margin: float | None = None,
    allow_categories: Sequence[str] | None = None,
    deny_categories: Sequence[str] = (),
) -> Rules:
    """Business rules as a person states them: prices in major units (¥49.9, £2.55) of the catalogue's
    currency; in-stock only by default when the products table records stock (`in_stock=None`)."""
    with Store.open(settings, read_only=True) as store:
        products = store.read("products", ["stock", "currency"])
    currencies = products["currency"].dropna()
    digits = minor_digits(currencies.mode().iloc[0]) if len(currencies) else 2

    def minor(value: float | None) -> int | None:
        return None if value is None else round(value * 10**digits)

    try:
        return Rules(
            in_stock_only=bool(products["stock"].notna().any()) if in_stock is None else in_stock,
            min_price_minor=minor(min_price),
            max_price_minor=minor(max_price),
            max_per_category=max_per_category,
            min_margin=min_margin,
            allow_categories=tuple(allow_categories) if allow_categories else None,
            deny_categories=tuple(deny_categories),
        )
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'rules'}: {e['msg']}" for e in exc.errors())
        raise UserError(
            f"Invalid business rules: {problems}.",
            hint="Prices are >= 0 with min <= max, margin at most 1, at least 1 per category.",
        ) from None


def _check_k(k: int) -> None:
    # The CLI's --k has min=1; from Python k=0 ended in an IndexError inside the ranking.
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise UserError(f"k must be a whole number of products, at least 1; got {k!r}.")


def recommend_for_all(
    settings: Settings, k: int = 20, *, exclude_purchased: bool = False, rules: Rules | None = None
) -> Path:
    """Fit on the store and write top-k for every customer (with reasons) to Parquet; returns its path.
    `rules` filter and diversify every list, and are kept for customers looked up later."""
    _check_k(k)
    model, frame, segments, everyone = fit_store_model(settings, k=k, exclude_purchased=exclude_purchased)
    codes = model.user_index_.get_indexer(everyone)
    cold_segments = segments.reindex(everyone).to_numpy(dtype=object)
    items, scores = model.top_k(
        codes, k, exclude_seen=exclude_purchased, rules=rules, cold_segments=cold_segments
    )
    table = model._long_frame(everyone, items, scores)
    table = table.join(explain(model, frame, segments, table))
    _atomic_write(settings.path(*MODEL_FILE), lambda p: p.write_bytes(pickle.dumps(model)))
    rules_json = (rules or Rules()).model_dump_json()
    _atomic_write(settings.path(*RULES_FILE), lambda p: p.write_text(rules_json, encoding="utf-8"))
    target = settings.path(*RECOMMENDATIONS_FILE)
    _atomic_write(target, lambda p: table.to_parquet(p, index=False))
    return target


def explain(
    model: HybridRecommender, frame: pd.DataFrame, segments: pd.Series, recs: pd.DataFrame
) -> pd.DataFrame:
    """One reason per recommendation, from the component that contributed most to its score; the
    product a reason points at comes from that same component (see `_co_purchase_anchor`)."""
    users = model.user_index_.get_indexer(recs[USER])
    items = model.item_index_.get_indexer(recs[ITEM])
    n = len(recs)
    code = np.full(n, "popular", dtype=object)
    because = np.full(n, -1, dtype=np.int64)
    warm = users >= 0
    bought = _pair_matrix(model, frame[frame[EVENT] == "purchase"] if EVENT in frame.columns else frame)
    seen = model.seen_
    was_bought = np.zeros(n, dtype=bool)
    was_seen = np.zeros(n, dtype=bool)
    was_bought[warm] = np.asarray(bought[users[warm], items[warm]]).ravel() > 0
    was_seen[warm] = np.asarray(seen[users[warm], items[warm]]).ravel() > 0
    code[was_bought] = "bought_before"
    code[was_seen & ~was_bought] = "viewed_before"
    because[was_seen] = items[was_seen]
    open_ = np.flatnonzero(warm & ~was_seen)
    if len(open_):
        parts = model.contributions(users[open_], items[open_])
        leader = parts.idxmax(axis=1).to_numpy() if len(parts.columns) else np.full(len(open_), "popularity")
        for name, reason in LEAD_REASONS.items():
            picked = open_[leader == name]
            if len(picked):
                if name == "content":
                    anchor = _content_anchor(model, name, users[picked], items[picked])
                else:
                    anchor = _co_purchase_anchor(model, name, bought, users[picked], items[picked])
                found = anchor >= 0
                code[picked[found]] = reason
                because[picked[found]] = anchor[found]
    segment = recs[USER].map(segments).astype(object).fillna("").astype(str).to_numpy()
    # "Popular in your segment" only where the ranking really was that segment's.
    known = np.isin(segment, _model_segments(model)) & (segment != "")  # no segment names no reason
    code[(code == "popular") & known] = "popular_segment"
    names = _display_names(model)
    item_name = np.where(because >= 0, names[np.maximum(because, 0)], "")
    zh = np.empty(n, dtype=object)
    en = np.empty(n, dtype=object)
    for key, (tpl_zh, tpl_en) in REASONS.items():
        rows = np.flatnonzero(code == key)
        zh[rows] = [
            tpl_zh.format(item=i, segment=s) for i, s in zip(item_name[rows], segment[rows], strict=True)
        ]
        en[rows] = [
            tpl_en.format(item=i, segment=s) for i, s in zip(item_name[rows], segment[rows], strict=True)
        ]
    reason_item = np.where(because >= 0, model.item_index_.to_numpy()[np.maximum(because, 0)], None)
    return pd.DataFrame(
        {"reason": code, "reason_product_id": reason_item, "reason_zh": zh, "reason_en": en}, index=recs.index
    )


def _pair_matrix(model: Recommender, rows: pd.DataFrame) -> sp.csr_matrix:
    users = model.user_index_.get_indexer(rows[USER].astype(str))
    items = model.item_index_.get_indexer(rows[ITEM].astype(str))
    keep = (users >= 0) & (items >= 0)
    return to_csr(
        users[keep], items[keep], np.ones(keep.sum()), (len(model.user_index_), len(model.item_index_))
    )


def _co_purchase_anchor(
    model: HybridRecommender, source: str, bought: sp.csr_matrix, users: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """For each (customer, recommended item): among the products the customer bought that other
    customers bought together with the item, the one the leading component `source` finds most
    similar to it (-1 if none, so "often bought together with …, which you bought" is always true)."""
    history = bought.sign().tocsr()
    by_item = history.T.tocsr()
    component = model.models_[source]
    anchor = np.full(len(users), -1, dtype=np.int64)
    order = np.argsort(items, kind="stable")
    candidates, first = np.unique(items[order], return_index=True)
    bounds = np.append(first, len(order))
    step = row_block(len(model.item_index_))
    for start in range(0, len(candidates), step):
        stop = min(start + step, len(candidates))
        cand = candidates[start:stop]
        co = (by_item[cand] @ history).tocsr()  # customers who took both: candidate × every product
        rows = order[bounds[start] : bounds[stop]]
        own = history[users[rows]].tocoo()
        if not own.nnz:
            continue
        counts = np.asarray(co[np.searchsorted(cand, items[rows])[own.row], own.col]).ravel()
        keep = counts > 0
        pair, other, counts = own.row[keep], own.col[keep].astype(np.int64), counts[keep]
        target = items[rows][pair]
        sims = _pair_similarity(component, history, other, target, counts)
        best = np.lexsort((-counts, -sims, pair))  # per pair: most similar, then most co-bought
        pair_sorted = pair[best]
        lead = np.flatnonzero(np.r_[True, pair_sorted[1:] != pair_sorted[:-1]]) if len(best) else best
        anchor[rows[pair_sorted[lead]]] = other[best[lead]]
    return anchor


def _pair_similarity(
    component: Recommender,
    history: sp.csr_matrix,
    other: np.ndarray,
    target: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """sim(other[n], target[n]) as the component sees it: item-kNN's neighbour similarity, the cosine
    of ALS/BPR item factors, else the cosine of co-purchase counts (user-kNN has no item side)."""
    if hasattr(component, "similarity_"):
        return np.asarray(component.similarity_[other, target], dtype=np.float64).ravel()
    if hasattr(component, "item_factors_"):
        factors = component.item_factors_
        norms = np.linalg.norm(factors, axis=1)
        dots = np.einsum("ij,ij->i", factors[other], factors[target])
        scale = norms[other] * norms[target]
        return np.divide(dots, scale, out=np.zeros_like(dots), where=scale > 0).astype(np.float64)
    buyers = np.asarray(history.sum(axis=0), dtype=np.float64).ravel()
    return counts / np.sqrt(buyers[other] * buyers[target])


def _content_anchor(
    model: HybridRecommender, source: str, users: np.ndarray, items: np.ndarray
) -> np.ndarray:
    """For each (customer, recommended item): the customer's own product described most alike."""
    history = model.seen_
    anchor = np.full(len(users), -1, dtype=np.int64)
    vectors = model.models_[source].item_vectors_
    step = row_block(len(model.item_index_))
    for start in range(0, len(users), step):
        block = slice(start, start + step)
        sims = vectors[items[block]] @ vectors.T
        mask = history[users[block]].toarray() > 0
        sims = np.where(mask, sims, -np.inf)
        anchor[block] = np.where(mask.any(axis=1), sims.argmax(axis=1), -1)
    return anchor


def _model_segments(model: HybridRecommender) -> pd.Index:
    """The segments the fitted popularity component has its own ranking for."""
    return model.models_["popularity"].segment_index_.astype(str)


def _display_names(model: Recommender) -> np.ndarray:
    ids = model.item_index_.to_numpy(dtype=object)
    if model.catalog_ is None or "name" not in model.catalog_.columns:
        return ids
    names = model.catalog_["name"].to_numpy(dtype=object)
    return np.where(pd.isna(names), ids, names)


def load_model(settings: Settings) -> HybridRecommender:
    path = settings.home_dir.joinpath(*MODEL_FILE)
    if not path.exists():
        raise NotFoundError("No recommendation model yet.", hint="Run: marketpilot recommend fit")
    return pickle.loads(path.read_bytes())  # our own file, written by recommend_for_all


def load_rules(settings: Settings) -> Rules:
    """The business rules of the last `recommend fit` (none for a model fitted before rules were kept)."""
    path = settings.home_dir.joinpath(*RULES_FILE)
    return Rules.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else Rules()


def _kept_per_customer(path: Path) -> int:
    """The k of the fit that wrote `path`: the largest rank, read from the Parquet statistics."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    column = meta.schema.names.index("rank")
    ends = [meta.row_group(i).column(column).statistics for i in range(meta.num_row_groups)]
    return max((int(s.max) for s in ends if s is not None and s.has_min_max), default=0)


def recommendations_for(settings: Settings, customer: str, k: int = 10) -> pd.DataFrame:
    """The precomputed top-k of one customer (with reasons); a customer who arrived after the last
    fit gets the fitted model's cold-start ranking for their segment (global when the segment is
    unknown to the model), under the same business rules. `known_customer` is False on every row when
    the id is in neither the fit nor the store: a visitor not yet synced, or a typo, gets the popular
    list all the same."""
    _check_k(k)
    path = settings.home_dir.joinpath(*RECOMMENDATIONS_FILE)
    if not path.exists():
        raise NotFoundError("No recommendations yet.", hint="Run: marketpilot recommend fit")
    customer = str(customer)
    table = pd.read_parquet(path, filters=[(USER, "==", customer)])
    if not table.empty and 0 < (kept := _kept_per_customer(path)) < k:
        raise UserError(
            f"The last `recommend fit` kept the top {kept} products per customer; {k} were asked for.",
            hint=f"Run: marketpilot recommend fit --k {k}",
        )
    if table.empty:
        model = load_model(settings)
        with Store.open(settings, read_only=True) as store:
            segment = customer_segments(settings, store).get(customer)
            in_store = _in_store(store, customer)
        known = bool(segment) and segment in _model_segments(model)
        table = model.recommend(
            [customer], k, filters=load_rules(settings), segments={customer: segment} if known else None
        )
        code = "popular_segment" if known else "popular"
        tpl_zh, tpl_en = REASONS[code]
        table["reason"], table["reason_product_id"] = code, None
        table["known_customer"] = in_store
        table["reason_zh"], table["reason_en"] = (
            tpl_zh.format(segment=segment),
            tpl_en.format(segment=segment),
        )
    else:
        table["known_customer"] = True
    return _with_names(table.nsmallest(k, "rank"), settings)


def _in_store(store: Store, customer: str) -> bool:
    """Whether any table the store loads names this customer id."""
    found = store.query(
        "SELECT EXISTS (SELECT 1 FROM customers WHERE customer_id = $c) "
        "OR EXISTS (SELECT 1 FROM orders WHERE customer_id = $c) "
        "OR EXISTS (SELECT 1 FROM events WHERE customer_id = $c) AS found",
        {"c": customer},
    )
    return bool(found["found"].iloc[0])


def similar_products(settings: Settings, product: str, k: int = 10) -> pd.DataFrame:
    """Up to k products similar to `product` (product_id, score, name) from the last fit."""
    _check_k(k)
    return _with_names(load_model(settings).similar_items(str(product), k), settings)


def _with_names(table: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    with Store.open(settings, read_only=True) as store:
        names = store.read("products", [ITEM, "name"])
    return table.merge(names, on=ITEM, how="left")


def _atomic_write(target: Path, write: object) -> None:
    with atomic_path(target) as tmp:
        write(tmp)  # type: ignore[operator]


__all__ = [
    "recommend_for_all",
    "recommendations_for",
    "similar_products",
    "store_interactions",
    "store_rules",
]
