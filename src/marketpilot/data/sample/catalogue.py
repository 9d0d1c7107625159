"""The product catalogue, with the hidden traits (quality, popularity) that drive sales and reviews."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa

from marketpilot.data.sample import vocab
from marketpilot.data.sample.strings import fixed_ids
from marketpilot.data.sample.tables import build

CATEGORY_NAMES = tuple(c.name for c in vocab.CATEGORIES)
MATERIAL_WORDS = {"纯棉", "冰丝"}


@dataclass(frozen=True)
class Catalogue:
    """Products as numpy arrays (index = product number) plus the choice tables used for sales."""

    ids: pa.StringArray
    category: np.ndarray  # index into vocab.CATEGORIES
    subcategory: np.ndarray  # index into the category's subcategories
    price: np.ndarray  # list price, fen
    quality: np.ndarray  # hidden 0..1; drives ratings, review text and returns
    popularity: np.ndarray  # hidden relative demand within the category
    weak_aspect: np.ndarray  # index into vocab.ASPECT_PHRASES keys: what unhappy buyers complain about
    companion: np.ndarray  # product often bought together with this one (same order)
    season: np.ndarray  # (products, 12) month multipliers of demand
    table: pa.Table

    @property
    def size(self) -> int:
        return int(self.price.size)

    def choice_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stacked cumulative demand per (category, month): group g = category * 12 + month covers
        [g, g + 1) so one `searchsorted(cum, g + u)` picks a product for every line at once.
        Returns (cumulative, product index per position, last position of each group)."""
        groups = self.category[:, None] * 12 + np.arange(12)[None, :]
        weights = (self.popularity[:, None] * self.season).ravel()
        group = groups.ravel()
        product = np.repeat(np.arange(self.size), 12)
        order = np.lexsort((product, group))
        group, product, weights = group[order], product[order], weights[order]
        totals = np.bincount(group, weights=weights, minlength=len(CATEGORY_NAMES) * 12)
        within = np.cumsum(weights) - np.repeat(
            np.cumsum(totals) - totals, np.bincount(group, minlength=totals.size)
        )
        cumulative = group + within / totals[group]
        last = np.cumsum(np.bincount(group, minlength=totals.size)) - 1
        return cumulative, product, last


def make_catalogue(rng: np.random.Generator, n_products: int, start: date) -> Catalogue:
    cats = vocab.CATEGORIES
    shares = np.array([c.popularity for c in cats])
    counts = np.maximum(3, np.round(shares * n_products)).astype(int)
    category = np.repeat(np.arange(len(cats)), counts)
    n = category.size
    n_sub = np.array([len(c.subcategories) for c in cats])
    subcategory = np.floor(rng.random(n) * n_sub[category]).astype(int)

    median = np.array(
        [cats[c].subcategories[s].median_yuan for c, s in zip(category, subcategory, strict=True)]
    )
    spread = np.array([cats[c].price_spread for c in category])
    yuan = median * np.exp(rng.normal(0, spread))
    price = _shelf_price_fen(yuan)
    cost = np.round(price * rng.uniform(0.35, 0.65, n)).astype(np.int64)

    quality = rng.beta(5.0, 2.0, n)
    # Demand within a category is long-tailed; better and cheaper products sell more.
    popularity = np.exp(rng.normal(0, 1.1, n) + 1.2 * (quality - 0.7)) * (price / 10_000) ** -0.7
    companion = _companions(rng, category, popularity)
    aspect_names = list(vocab.ASPECT_PHRASES)
    weak_aspect = np.array([aspect_names.index(_pick(rng, cats[c].aspects)) for c in category])
    season = np.ones((n, 12))
    for i, (c, s) in enumerate(zip(category, subcategory, strict=True)):
        months = vocab.SEASONAL.get(cats[c].subcategories[s].name)
        if months:
            season[i] = months

    stock = np.where(rng.random(n) < 0.03, 0, rng.negative_binomial(2, 0.004, n)).astype(np.int32)
    listed_days = rng.integers(30, 900, n)
    created = np.datetime64(start.isoformat(), "s") - listed_days * np.timedelta64(86400, "s")
    created = created + rng.integers(8 * 3600, 20 * 3600, n) * np.timedelta64(1, "s")

    ids = fixed_ids("P", np.arange(1, n + 1), 6)
    names, descriptions, attributes, brands = [], [], [], []
    for c, s in zip(category, subcategory, strict=True):
        cat = cats[c]
        sub = cat.subcategories[s]
        brand = _pick(rng, cat.brands)
        modifier, spec = _pick(rng, cat.modifiers), _pick(rng, sub.spec)
        name = f"{brand} {modifier}{sub.name} {spec}"
        points = rng.choice(len(cat.selling_points), 2, replace=False)
        attrs = {key: _pick(rng, values) for key, values in (cat.attributes | sub.attributes).items()}
        # The attributes must not contradict the name (a 纯棉 shirt is cotton, a 黑色 one black).
        if modifier in MATERIAL_WORDS and "材质" in attrs:
            attrs["材质"] = modifier
        if spec.endswith("色"):
            attrs["颜色"] = spec
        names.append(name)
        brands.append(brand)
        descriptions.append(f"{name}，{cat.selling_points[points[0]]}，{cat.selling_points[points[1]]}。")
        attributes.append(json.dumps(attrs, ensure_ascii=False))

    table = build(
        "products",
        {
            "product_id": ids,
            "name": names,
            "category": [cats[c].name for c in category],
            "subcategory": [
                cats[c].subcategories[s].name for c, s in zip(category, subcategory, strict=True)
            ],
            "brand": brands,
            "price_minor": price,
            "currency": np.full(n, "CNY"),
            "cost_minor": cost,
            "stock": stock,
            "description": descriptions,
            "attributes": attributes,
            "created_at": created,
        },
    )
    return Catalogue(
        ids, category, subcategory, price, quality, popularity, weak_aspect, companion, season, table
    )


def _companions(rng: np.random.Generator, category: np.ndarray, popularity: np.ndarray) -> np.ndarray:
    """A bought-together partner per product: mostly from its own category (面霜 with 精华液), by
    popularity, never itself."""
    n = category.size
    target = np.where(rng.random(n) < 0.7, category, rng.integers(0, category.max() + 1, n))
    companion = np.empty(n, np.int64)
    for k in np.unique(category):
        members = np.flatnonzero(category == k)
        chosen = np.flatnonzero(target == k)
        companion[chosen] = rng.choice(
            members, chosen.size, p=popularity[members] / popularity[members].sum()
        )
        # A product drawn as its own partner takes the next product of the category instead.
        own = chosen[companion[chosen] == chosen]
        position = np.searchsorted(members, own)
        companion[own] = members[(position + 1) % members.size]
    return companion


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(0, len(options)))]


def _shelf_price_fen(yuan: np.ndarray) -> np.ndarray:
    """Prices as shops set them: ¥x9 / ¥x99 above ¥50, ¥x.9 below."""
    cheap = np.maximum(np.round(yuan) - 0.1, 9.9)
    dear = np.round(yuan / 10) * 10 - 1
    return np.round(np.where(yuan < 50, cheap, dear) * 100).astype(np.int64)
