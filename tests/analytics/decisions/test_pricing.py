"""Competitor price positioning against the catalogue of a generated shop: positions and index from
hand-set competitor prices, latest-price-wins, GBK files with ¥ amounts, and named errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from marketpilot.analytics.pricing import CompetitorFile, price_report, read_competitor_prices
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.errors import UserError, ValidationFailed


@pytest.fixture(scope="module")
def catalogue(shop_settings: Settings) -> pd.DataFrame:
    with Store.open(shop_settings, read_only=True) as store:
        products = store.read("products")
    return products.dropna(subset=["price_minor", "cost_minor"]).head(5).reset_index(drop=True)


def _competitors(catalogue: pd.DataFrame, ratios: list[tuple[float, float, float]]) -> pd.DataFrame:
    """Three competitors per product at the given multiples of our price."""
    rows = []
    for (_, product), multiples in zip(catalogue.iterrows(), ratios, strict=False):
        ours = product.price_minor / 100
        for name, m in zip(("京东自营", "天猫旗舰店", "拼多多"), multiples, strict=True):
            rows.append({"product_id": product.product_id, "competitor": name, "price": f"￥{ours * m:,.2f}"})
    return pd.DataFrame(rows)


RATIOS = [
    (1.10, 1.20, 1.30),  # we are the cheapest
    (0.95, 1.05, 1.25),  # 100 / 1.05: below market
    (0.90, 1.01, 1.10),  # at market
    (0.80, 0.90, 1.20),  # above market
    (0.70, 0.80, 0.90),  # the most expensive
]


def test_positions_follow_the_competitors_median(shop_settings: Settings, catalogue, tmp_path: Path) -> None:
    path = tmp_path / "竞品价格.csv"
    _competitors(catalogue, RATIOS).to_csv(path, index=False, encoding="gbk")
    report = price_report(shop_settings, CompetitorFile(path=path))
    table = pd.read_parquet(report.products_path).set_index("product_id").loc[catalogue.product_id]
    assert table["position"].tolist() == [
        "cheapest",
        "below market",
        "at market",
        "above market",
        "most expensive",
    ]
    assert table["price_index"].tolist() == pytest.approx(
        [100 / 1.2, 100 / 1.05, 100 / 1.01, 100 / 0.9, 100 / 0.8], abs=0.1
    )
    assert (table["competitors"] == 3).all()
    ours = catalogue.price_minor.to_numpy() / 100
    assert table["gap_to_cheapest"].to_numpy() == pytest.approx(
        ours - ours * [1.1, 0.95, 0.9, 0.8, 0.7], abs=0.02
    )
    floor = catalogue.cost_minor.to_numpy() / 100 * 1.1
    assert table["floor_price"].to_numpy() == pytest.approx(floor, abs=0.01)
    assert table["median_below_floor"].tolist() == list(table["market_median"].to_numpy() < floor)
    summary = report.summary
    assert summary.products_compared == 5 and summary.positions["at market"] == 1
    categories = pd.read_parquet(report.categories_path)
    assert categories["products"].sum() == 5
    # The CSV for people (UTF-8 with BOM, Chinese names intact) holds the same rows.
    csv = (
        pd.read_csv(report.products_csv, encoding="utf-8-sig")
        .set_index("product_id")
        .loc[catalogue.product_id]
    )
    assert (
        csv["name"].tolist() == table["name"].tolist()
        and csv["position"].tolist() == table["position"].tolist()
    )


def test_latest_price_per_competitor_counts(catalogue, tmp_path: Path) -> None:
    product = catalogue.product_id[0]
    frame = pd.DataFrame(
        {
            "sku": [product] * 3,
            "shop": ["A", "A", "B"],
            "price": ["100", "80", "120"],
            "seen": ["2026-11-01", "2026-12-01", "2026-11-15"],
        }
    )
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    spec = CompetitorFile(path=path, product_col="sku", competitor_col="shop", date_col="seen")
    prices = read_competitor_prices(spec).set_index("competitor")["price"]
    assert prices.to_dict() == {"A": 80.0, "B": 120.0}
    with pytest.raises(UserError, match=rf"'A' lists '{product}' more than once \(row 2, row 3; 1 repeated"):
        read_competitor_prices(CompetitorFile(path=path, product_col="sku", competitor_col="shop"))


def test_bad_files_are_named(shop_settings: Settings, catalogue, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame({"product_id": [catalogue.product_id[0]], "competitor": ["A"], "price": ["面议"]}).to_csv(
        path, index=False
    )
    with pytest.raises(ValidationFailed, match="row 2, column 'price': '面议' is not a positive price"):
        read_competitor_prices(CompetitorFile(path=path))
    with pytest.raises(UserError, match="no column 'cost_price'"):
        read_competitor_prices(CompetitorFile(path=path, price_col="cost_price"))
    pd.DataFrame({"product_id": ["NOPE-1"], "competitor": ["A"], "price": ["10"]}).to_csv(path, index=False)
    with pytest.raises(UserError, match="no competitor price matches a catalogue product"):
        price_report(shop_settings, CompetitorFile(path=path))


def test_cli_reports_unknown_ids_and_other_currencies(
    shop_settings: Settings, catalogue, tmp_path: Path, monkeypatch, capsys
) -> None:
    frame = _competitors(catalogue, RATIOS).assign(currency="CNY")
    extra = pd.DataFrame(
        [
            {"product_id": "GHOST-9", "competitor": "A", "price": "9.9", "currency": "CNY"},
            {
                "product_id": catalogue.product_id[0],
                "competitor": "Amazon US",
                "price": "$20",
                "currency": "USD",
            },
        ]
    )
    path = tmp_path / "prices.csv"
    pd.concat([frame, extra]).to_csv(path, index=False)
    args = ["decide", "price", "--competitors", str(path), "--currency-col", "currency", "--json"]
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args, "--home", str(shop_settings.home_dir)])
    assert run_app(app) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["unknown_product_ids"] == ["GHOST-9"]
    assert summary["other_currency_rows"] == 1
    assert summary["products_compared"] == 5


def test_currency_column_reads_yuan_as_written_in_china(
    shop_settings: Settings, catalogue, tmp_path: Path
) -> None:
    """RMB, 人民币, ¥ or an empty cell beside a CNY catalogue are yuan; only the dollar row is left out."""
    frame = _competitors(catalogue, RATIOS)
    frame["currency"] = ["人民币", "RMB", "rmb", "￥", "元", None, "CNY", "cny", "USD"] + ["CNY"] * (
        len(frame) - 9
    )
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False, encoding="gbk")
    report = price_report(shop_settings, CompetitorFile(path=path, currency_col="currency"))
    assert report.summary.other_currency_rows == 1
    assert report.summary.products_compared == 5
