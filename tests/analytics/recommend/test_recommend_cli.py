"""`marketpilot recommend evaluate` on files as users have them: GBK CSV with Chinese event names and
epoch-second times, Parquet with ISO times."""

from __future__ import annotations

import json
import re
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketpilot.cli import app
from marketpilot.cli.app import run_app

CHINESE_EVENTS = {"view": "浏览", "cart": "加购", "purchase": "购买"}


@pytest.fixture(scope="module")
def gbk_csv(shop_events: pd.DataFrame, tmp_path_factory) -> str:
    customers = shop_events["customer_id"].drop_duplicates().head(800)
    part = shop_events[shop_events["customer_id"].isin(customers)]
    table = pd.DataFrame(
        {
            "用户": part["customer_id"],
            "商品": part["product_id"],
            "时间": (part["occurred_at"] - pd.Timestamp(0)) // pd.Timedelta(seconds=1),
            "行为": part["event_type"].map(CHINESE_EVENTS),
        }
    )
    path = tmp_path_factory.mktemp("cli") / "行为.csv"
    table.to_csv(path, index=False, encoding="gbk")
    return str(path)


@pytest.mark.slow
def test_evaluate_json_on_gbk_csv_with_epoch_times(gbk_csv):
    args = ["recommend", "evaluate", "--interactions", gbk_csv, "--user-col", "用户", "--item-col", "商品"]
    args += ["--time-col", "时间", "--event-col", "行为", "--event-weights", "浏览=1,加购=3,购买=5"]
    args += ["--test-days", "60", "--k", "20", "--models", "popularity,repeat,itemknn,als,hybrid", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report) == {"k", "models", "best"} and report["k"] == 20
    assert set(report["models"]) == {"popularity", "repeat", "itemknn", "als", "hybrid"}
    for metrics in report["models"].values():
        assert {"recall", "ndcg", "coverage", "precision", "map", "hit_rate", "novelty"} <= set(metrics)
        assert 0 <= metrics["recall"] <= 1 and 0 <= metrics["coverage"] <= 1
    assert report["best"] in report["models"]


def test_evaluate_table_on_parquet_with_iso_times(shop_events, tmp_path):
    path = tmp_path / "events.parquet"
    part = shop_events[shop_events["customer_id"].isin(shop_events["customer_id"].unique()[:500])]
    part.assign(ts=part["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")).to_parquet(path)
    args = ["recommend", "evaluate", "--interactions", str(path), "--user-col", "customer_id"]
    args += ["--item-col", "product_id", "--time-col", "ts", "--test-fraction", "0.1", "--exclude-seen"]
    args += ["--models", "popularity,repeat,itemknn"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Best:" in result.stdout and "itemknn" in result.stdout


def test_unknown_event_type_is_a_clean_user_error(gbk_csv, monkeypatch, capsys):
    argv = ["marketpilot", "recommend", "evaluate", "--interactions", gbk_csv, "--user-col", "用户"]
    argv += [
        "--item-col",
        "商品",
        "--time-col",
        "时间",
        "--event-col",
        "行为",
        "--event-weights",
        "浏览=1,购买=5",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    assert run_app(app) == 2
    assert "加购" in capsys.readouterr().err


@pytest.fixture(scope="module")
def retail_csv(data_dir, tmp_path_factory) -> tuple[str, pd.DataFrame]:
    """The first 40,000 lines of the real Online Retail export, cancellations and fees included."""
    raw = pd.read_csv(data_dir / "samples" / "online_retail.csv.gz", dtype=str, nrows=40_000)
    path = tmp_path_factory.mktemp("retail") / "online_retail.csv"
    raw.to_csv(path, index=False)
    return str(path), raw


def test_evaluate_counts_only_purchases_of_products(retail_csv):
    path, raw = retail_csv
    lines = raw[raw["CustomerID"].notna()]
    purchases = lines[(pd.to_numeric(lines["Quantity"]) > 0) & lines["StockCode"].str.contains("[0-9]{2}")]
    assert len(purchases) < len(lines)  # the slice has cancellations and postage lines to drop
    args = ["recommend", "evaluate", "--interactions", path, "--user-col", "CustomerID"]
    args += ["--item-col", "StockCode", "--time-col", "InvoiceDate", "--test-days", "7"]
    args += ["--models", "popularity,repeat", "--quantity-col", "Quantity", "--item-pattern", "[0-9]{2}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    caption = re.search(r"train ([\d,]+) rows, test ([\d,]+) rows", " ".join(result.stdout.split()))
    assert caption and sum(int(n.replace(",", "")) for n in caption.groups()) == len(purchases)


def test_evaluate_filters_fail_cleanly(retail_csv, monkeypatch, capsys):
    path, _ = retail_csv
    base = ["marketpilot", "recommend", "evaluate", "--interactions", path, "--user-col", "CustomerID"]
    base += ["--item-col", "StockCode", "--time-col", "InvoiceDate"]
    monkeypatch.setattr(sys, "argv", [*base, "--item-pattern", "[0-9"])
    assert run_app(app) == 2
    assert "not a regular expression" in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", [*base, "--quantity-col", "Description"])
    assert run_app(app) == 2
    assert "column 'Description' is not a number" in capsys.readouterr().err


def test_evaluate_reads_movielens_ratings_dat_and_fits_an_80_column_terminal(data_dir, tmp_path):
    """MovieLens-1M's `ratings.dat` as shipped: `::` between fields, no header, epoch seconds. The
    table's every figure is whole on an 80-column terminal (it was cut to "rec…" by the params)."""
    inter = pd.read_csv(data_dir / "ml100k" / "ml-100k.inter", sep="\t", dtype=str)
    path = tmp_path / "ratings.dat"
    path.write_text("\n".join("::".join(row) for row in inter.itertuples(index=False)) + "\n")
    args = ["recommend", "evaluate", "--interactions", str(path), "--user-col", "column0"]
    args += ["--item-col", "column1", "--time-col", "column3", "--models", "popularity,itemknn"]
    result = CliRunner().invoke(app, args, terminal_width=80)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.strip()}
    assert rows["model"] == ["recall", "prec", "ndcg", "map", "hit", "cover", "novel", "sec"]
    for model in ("popularity", "itemknn"):
        assert len(rows[model]) == 8 and all(re.fullmatch(r"\d+\.\d+", cell) for cell in rows[model])
    assert "itemknn: similarity=" in result.stdout and max(map(len, result.stdout.splitlines())) <= 80
