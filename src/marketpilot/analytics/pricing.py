"""Competitor price positioning: where each catalogue product's list price sits among the prices
competitors ask for the same product, and the same per category.

Competitor prices come from a file (one row per product × competitor, in major units: "1299",
"¥1,299.00"; a date column keeps each competitor's latest price). The product is named by our
product id or, with `title_col`, by the competitor's listing title, matched to the catalogue
(`matching.py`; only confident matches of the same brand count, the rest are listed for review).
The price index is 100 × our price / the competitors' median; within ±`band` of the median is
"at market". Where a cost is known, `floor_price` is the lowest price that keeps `min_margin`, and
`median_below_floor` marks the products whose market median is below it: matching the market there
loses money.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from marketpilot.config import Settings
from marketpilot.data.dates import parse_dates
from marketpilot.data.mapping import parse_amounts
from marketpilot.data.money import minor_digits
from marketpilot.data.readers import read_frame, require_columns, require_filled
from marketpilot.errors import UserError, ValidationFailed

POSITIONS = ("cheapest", "below market", "at market", "above market", "most expensive")
# A price's own currency mark, first match wins, and the currencies it may mean: "$12.50" beside a
# catalogue in CNY is dollars, not yuan, and is left out like a --currency-col row in another
# currency. ¥, 元 and $ are shared by several currencies.
PRICE_MARKS = (
    (re.compile(r"RMB|CNY|人民币", re.IGNORECASE), "CNY"),
    (re.compile(r"US\$|USD", re.IGNORECASE), "USD"),
    (re.compile(r"HK\$|HKD|港币", re.IGNORECASE), "HKD"),
    (re.compile(r"NT\$|TWD", re.IGNORECASE), "TWD"),
    (re.compile(r"JPY|円"), "JPY"),
    (re.compile(r"块"), "CNY"),
    (re.compile(r"EUR|€", re.IGNORECASE), "EUR"),
    (re.compile(r"GBP|£", re.IGNORECASE), "GBP"),
    (re.compile(r"[¥￥]"), "¥"),
    (re.compile(r"元"), "元"),
    (re.compile(r"\$"), "$"),
)
MARK_CURRENCIES = {
    "¥": ("CNY", "JPY"),
    "元": ("CNY", "HKD", "TWD"),
    "$": ("USD", "HKD", "TWD", "SGD", "AUD", "CAD", "NZD", "MXN"),
}


def price_marks(raw: pd.Series) -> pd.Series:
    """Per price as written, its currency mark (a code, or ¥, 元 or $), None when unmarked."""
    return raw.astype(str).map(lambda text: next((m for p, m in PRICE_MARKS if p.search(text)), None))


def currency_cells(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A --currency-col as (code, mark): a shop writes CNY as RMB, 人民币 or 元 as often as CNY, so a
    cell is read like a price's own mark. An empty cell is neither (the price's mark decides); a code
    the marks do not know ("SGD") is kept as written."""
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    marks = price_marks(text).where(text != "")
    ambiguous = marks.isin(list(MARK_CURRENCIES))
    codes = marks.where(marks.notna() & ~ambiguous, text.str.upper()).where((text != "") & ~ambiguous)
    return codes.astype(object).where(codes.notna(), None), marks.where(ambiguous)


def _marked_otherwise(marks: pd.Series, ours: pd.Series) -> pd.Series:
    """Rows whose price's mark cannot mean the product's currency."""
    unlike = [
        isinstance(mark, str) and code not in MARK_CURRENCIES.get(mark, (mark,))
        for mark, code in zip(marks, ours, strict=True)
    ]
    return pd.Series(unlike, index=marks.index)


class CompetitorFile(BaseModel):
    path: Path
    product_col: str = "product_id"
    title_col: str | None = None  # listing titles instead of product ids
    brand_col: str | None = None  # the listing's brand, with title_col: other brands are not ours
    competitor_col: str = "competitor"
    price_col: str = "price"
    date_col: str | None = None
    currency_col: str | None = None


class PricingSummary(BaseModel):
    products_compared: int
    products_without_competitor_price: int
    unknown_product_ids: list[str] = Field(description="first 20 competitor rows' ids not in the catalogue")
    other_currency_rows: int
    positions: dict[str, int]
    median_index: float
    median_below_floor: int
    titles: dict[str, int] | None = Field(
        default=None, description="with title matching: listings matched, to review, unmatched"
    )


def read_competitor_prices(spec: CompetitorFile) -> pd.DataFrame:
    """product_id (the listing title with `title_col`), competitor, price (major units, float) and
    currency (or None); latest per pair."""
    if spec.brand_col and not spec.title_col:
        raise UserError("--brand-col helps match listing titles: give --title-col too")
    frame = read_frame(spec.path)
    if frame.empty:
        raise UserError(
            f"{spec.path}: the file has a header but no rows", hint="one row per product and competitor"
        )
    product_col = spec.title_col or spec.product_col
    wanted = [
        product_col,
        spec.competitor_col,
        spec.price_col,
        spec.date_col,
        spec.currency_col,
        spec.brand_col,
    ]
    require_columns(
        frame,
        [c for c in wanted if c],
        spec.path,
        "name them with --product-col (or --title-col), --competitor-col, --price-col, --brand-col",
    )
    require_filled(
        frame, product_col, spec.path, "every row names the product (its id, or with --title-col its title)"
    )
    require_filled(frame, spec.competitor_col, spec.path, "every row names the competitor (shop) it is from")
    raw = frame[spec.price_col].astype(object).where(frame[spec.price_col].notna(), "").astype(str)
    price = parse_amounts(raw)
    # "inf" and 1e400 parse as infinity: a market median of inf puts every product at index 0
    bad = np.flatnonzero((price.isna() | (price <= 0) | ~np.isfinite(price)).to_numpy())
    if bad.size:
        raise ValidationFailed(
            [f"row {i + 2}, column {spec.price_col!r}: {raw.iloc[i]!r} is not a positive price" for i in bad],
            source=str(spec.path),
            hint="prices in major units, e.g. 1299 or ¥1,299.00",
        )
    out = pd.DataFrame(
        {
            "product_id": frame[product_col].astype(str).str.strip(),
            "competitor": frame[spec.competitor_col].astype(str).str.strip(),
            "price": price.astype(float),
            "currency": None,
            "marks": price_marks(raw),
            "brand": frame[spec.brand_col].astype(object).where(frame[spec.brand_col].notna(), None)
            if spec.brand_col
            else None,
        }
    )
    if spec.currency_col:
        codes, cell_marks = currency_cells(frame[spec.currency_col])
        out["currency"] = codes
        out["marks"] = out["marks"].where(out["marks"].notna(), cell_marks)
    if spec.date_col:
        when = parse_dates(frame[spec.date_col], column=spec.date_col, source=str(spec.path))
        undated = np.flatnonzero(when.isna().to_numpy())
        if undated.size:
            raise ValidationFailed(
                [
                    f"row {i + 2}, column {spec.date_col!r}: {frame[spec.date_col].iloc[i]!r} is not a date"
                    for i in undated
                ],
                source=str(spec.path),
            )
        out = out.assign(_when=when).sort_values("_when", kind="stable")
        out = out.drop_duplicates(["product_id", "competitor"], keep="last").drop(columns="_when")
    elif not spec.title_col and (repeated := out.duplicated(["product_id", "competitor"])).any():
        first = out[repeated].iloc[0]
        same = (out["product_id"] == first["product_id"]) & (out["competitor"] == first["competitor"])
        rows = np.flatnonzero(same.to_numpy())
        raise UserError(
            f"{spec.path}: {first['competitor']!r} lists {first['product_id']!r} more than once "
            f"({', '.join(f'row {i + 2}' for i in rows)}; {int(repeated.sum())} repeated row(s) in all)",
            hint="add --date-col so that the latest price counts, or keep one row per product and competitor",
        )
    return out.reset_index(drop=True)


def position_of(ours: float, low: float, median: float, high: float, band: float) -> str:
    if ours < low or (ours == low and low < high):
        return "cheapest"
    if ours > high or (ours == high and low < high):
        return "most expensive"
    index = ours / median
    if index < 1 - band:
        return "below market"
    if index > 1 + band:
        return "above market"
    return "at market"


def price_positions(
    catalogue: pd.DataFrame,
    competitors: pd.DataFrame,
    *,
    band: float = 0.03,
    min_margin: float = 0.1,
) -> tuple[pd.DataFrame, pd.DataFrame, PricingSummary]:
    """(per product, per category, summary). `catalogue`: the `products` table (price_minor, cost_minor,
    currency, category); `competitors`: from `read_competitor_prices`."""
    products = catalogue.dropna(subset=["price_minor"]).copy()
    digits = products["currency"].map(minor_digits)
    scale = 10.0**digits
    products["our_price"] = products["price_minor"].astype(float) / scale
    products["cost"] = products["cost_minor"].astype(float) / scale
    joined = competitors.merge(
        products[["product_id", "currency"]], on="product_id", how="left", suffixes=("", "_ours")
    )
    unknown = competitors.loc[~competitors["product_id"].isin(products["product_id"]), "product_id"]
    ours = joined["currency_ours"].astype(str).str.upper()
    other_currency = joined["currency"].notna() & joined["currency_ours"].notna()
    other_currency &= joined["currency"] != ours
    if "marks" in joined:
        other_currency |= joined["currency_ours"].notna() & _marked_otherwise(joined["marks"], ours)
    usable = joined[joined["product_id"].isin(products["product_id"]) & ~other_currency]
    if usable.empty and other_currency.any():
        written = joined["currency"].fillna(joined.get("marks", pd.Series(None, index=joined.index)))
        theirs = ", ".join(sorted(written[other_currency].astype(str).unique()))
        ours = ", ".join(sorted(joined.loc[other_currency, "currency_ours"].astype(str).str.upper().unique()))
        raise UserError(
            f"every competitor price of a catalogue product is in {theirs}, the catalogue's in {ours}",
            hint="convert the prices to the catalogue's currency first",
        )
    if usable.empty:
        raise UserError(
            "no competitor price matches a catalogue product",
            hint="the competitor file's product ids must be the catalogue's product_id values",
        )
    market = usable.groupby("product_id")["price"].agg(
        competitors="count", market_min="min", market_median="median", market_max="max"
    )
    table = products.merge(market, left_on="product_id", right_index=True, how="inner")
    table["price_index"] = (100 * table["our_price"] / table["market_median"]).round(1)
    table["position"] = [
        position_of(o, lo, med, hi, band)
        for o, lo, med, hi in table[["our_price", "market_min", "market_median", "market_max"]].to_numpy()
    ]
    table["gap_to_cheapest"] = (table["our_price"] - table["market_min"]).round(2)
    table["floor_price"] = (table["cost"] * (1 + min_margin)).round(2)
    table["median_below_floor"] = table["market_median"] < table["floor_price"]
    columns = [
        "product_id", "name", "category", "our_price", "competitors", "market_min", "market_median",
        "market_max", "price_index", "position", "gap_to_cheapest", "cost", "floor_price",
        "median_below_floor",
    ]  # fmt: skip
    table = table[columns].sort_values(["category", "price_index"], ascending=[True, False], kind="stable")
    by_category = _categories(table)
    summary = PricingSummary(
        products_compared=len(table),
        products_without_competitor_price=len(products) - len(table),
        unknown_product_ids=sorted(unknown.unique())[:20],
        other_currency_rows=int(other_currency.sum()),
        positions={p: int((table["position"] == p).sum()) for p in POSITIONS},
        median_index=round(float(table["price_index"].median()), 1),
        median_below_floor=int(table["median_below_floor"].sum()),
    )
    return table.reset_index(drop=True), by_category, summary


def _categories(table: pd.DataFrame) -> pd.DataFrame:
    grouped = table.assign(category=table["category"].fillna("—")).groupby("category")
    out = grouped.agg(products=("product_id", "count"), median_index=("price_index", "median"))
    for position in POSITIONS:
        out[f"share {position}"] = grouped["position"].apply(
            lambda s, p=position: round(float((s == p).mean()), 3)
        )
    return out.reset_index().sort_values("median_index", ascending=False, kind="stable")


def _by_title(competitors: pd.DataFrame, catalogue: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Competitor rows whose title matched a product, with its id (a competitor listing one product
    twice counts at its lower price, the one a shopper finds), and the match table."""
    from marketpilot.analytics.matching import match_titles

    matches = match_titles(competitors["product_id"], catalogue, brands=competitors["brand"])
    ids = matches[["title", "brand", "product_id"]].rename(columns={"title": "_title"})
    listed = competitors.rename(columns={"product_id": "_title"}).merge(
        ids, on=["_title", "brand"], how="left"
    )
    matched = listed.drop(columns="_title").dropna(subset=["product_id"])
    matched = matched.sort_values("price", kind="stable").drop_duplicates(["product_id", "competitor"])
    return matched.reset_index(drop=True), matches


class PricingReport(BaseModel):
    summary: PricingSummary
    products_path: Path
    products_csv: Path
    categories_path: Path
    categories_csv: Path
    matches_csv: Path | None = None


def price_report(
    settings: Settings, spec: CompetitorFile, *, band: float = 0.03, min_margin: float = 0.1
) -> PricingReport:
    """Position the store's catalogue against a competitor price file; tables under
    <home>/decisions/price/ (products, categories)."""
    from marketpilot.analytics.outputs import write_json, write_table
    from marketpilot.data.store import Store

    if not 0 <= band < 0.5:
        raise UserError(f"--band is a share of the median price below 0.5 (0.03 = ±3 %), got {band}")
    if not math.isfinite(min_margin) or min_margin < 0:
        raise UserError(
            f"--min-margin is the margin over cost the floor price keeps (0.1 = cost + 10 %), "
            f"got {min_margin}"
        )
    competitors = read_competitor_prices(spec)  # the user's file first: its errors are theirs to fix
    with Store.open(settings, read_only=True) as store:
        catalogue = store.read(
            "products", ["product_id", "name", "brand", "category", "price_minor", "cost_minor", "currency"]
        )
    if catalogue.empty:
        raise UserError(
            "the store has no products", hint="load a catalogue first: marketpilot load products …"
        )
    matches, matches_csv = None, None
    if spec.title_col:
        competitors, matches = _by_title(competitors, catalogue)
        _, matches_csv = write_table(settings, matches, "decisions", "price", "matches")
        if competitors.empty:
            raise UserError(
                "no competitor title matched a catalogue product with confidence",
                hint=f"the candidates and why each was held back are in {matches_csv}",
            )
    products, categories, summary = price_positions(catalogue, competitors, band=band, min_margin=min_margin)
    if matches is not None:
        summary.titles = {s: int((matches["status"] == s).sum()) for s in ("matched", "review", "unmatched")}
        summary.unknown_product_ids = []  # titles, not ids: matches.csv lists the ones that did not match
    products_path, products_csv = write_table(settings, products, "decisions", "price", "products")
    categories_path, categories_csv = write_table(settings, categories, "decisions", "price", "categories")
    report = PricingReport(
        summary=summary,
        products_path=products_path,
        products_csv=products_csv,
        categories_path=categories_path,
        categories_csv=categories_csv,
        matches_csv=matches_csv,
    )
    write_json(settings, report, "decisions", "price", "summary.json")
    return report
