"""Bad input to the analytics commands: a usage error (exit 2) that says what is wrong and where, no
traceback, and the results already in the home left as they were."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    code = run_app(app)
    captured = capsys.readouterr()
    return code, " ".join((captured.err + captured.out).split())  # terminal line wrapping undone


def _experiment(path: Path, n: int = 900, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "arm": rng.choice(["control", "email"], n),
            "recency": rng.integers(1, 12, n).astype(str),
            "city": rng.choice(["北京", "上海", "广州"], n),
        }
    )
    frame["visit"] = (rng.random(n) < 0.1 + 0.1 * (frame["arm"] == "email")).astype(int)
    frame.to_csv(path, index=False, encoding="gbk")
    return frame


def test_decide_uplift_on_bad_experiments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ["--home", str(tmp_path / "home")]
    base = ["decide", "uplift", "--treatment-col", "arm", "--control", "control", "--outcome-col", "visit"]
    path = tmp_path / "test.csv"
    frame = _experiment(path)

    # Empty cells in a numeric feature are missing values, not a reason to crash.
    frame.loc[[3, 10], "recency"] = ""
    frame.to_csv(path, index=False, encoding="gbk")
    code, _ = _run(monkeypatch, capsys, *base, "--input", str(path), "--features", "recency,city", *home)
    assert code == 0
    # A typo in a column of numbers is named by row, not read as a category.
    frame.loc[7, "recency"] = "七"
    frame.to_csv(path, index=False, encoding="gbk")
    code, said = _run(monkeypatch, capsys, *base, "--input", str(path), "--features", "recency", *home)
    assert code == 2 and "row 9, column 'recency': '七' is not a number" in said

    only_control = tmp_path / "control.csv"
    frame.assign(arm="control").to_csv(only_control, index=False)
    code, said = _run(monkeypatch, capsys, *base, "--input", str(only_control), "--features", "city", *home)
    assert code == 2 and "nothing to compare" in said
    few = tmp_path / "few.csv"
    frame.head(40).to_csv(few, index=False)
    code, said = _run(monkeypatch, capsys, *base, "--input", str(few), "--features", "city", *home)
    assert code == 2 and "fewer than 200 rows" in said
    code, said = _run(monkeypatch, capsys, *base, "--input", str(path), "--features", "city", "--top", "1.5")
    assert code == 2 and "--top: Input should be less than or equal to 1" in said
    code, said = _run(monkeypatch, capsys, *base, "--input", str(path), "--features", " , ")
    assert code == 2 and "--features: List should have at least 1 item" in said


def test_decide_budget_and_price_on_header_only_files_and_empty_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "花费.csv"
    path.write_text("channel,spend,revenue\n", encoding="utf-8")
    code, said = _run(monkeypatch, capsys, "decide", "budget", "--history", str(path), "--total", "9000")
    assert code == 2 and "header but no rows" in said
    path.write_text("channel,spend,revenue\n短信,,100\n", encoding="utf-8")
    code, said = _run(monkeypatch, capsys, "decide", "budget", "--history", str(path), "--total", "9000")
    assert code == 2 and "row 2, column 'spend': '' is not an amount" in said
    path.write_text("channel,spend,revenue\n短信,10,100\n,20,100\n", encoding="utf-8")
    code, said = _run(monkeypatch, capsys, "decide", "budget", "--history", str(path), "--total", "9000")
    assert code == 2 and "row 3, column 'channel': empty" in said
    prices = tmp_path / "竞品.csv"
    prices.write_text("product_id,competitor,price\n", encoding="utf-8")
    home = ["--home", str(tmp_path / "home")]
    code, said = _run(monkeypatch, capsys, "decide", "price", "--competitors", str(prices), *home)
    assert code == 2 and "header but no rows" in said


def test_intel_commands_refuse_what_would_overwrite_results_with_nothing(
    shop_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = ["--home", str(shop_settings.home_dir)]
    rfm = shop_settings.home_dir / "intel" / "rfm.parquet"
    before = rfm.read_bytes() if rfm.exists() else None
    code, said = _run(monkeypatch, capsys, "rfm", "--as-of", "1990-01-01", *home)
    assert code == 2 and "no completed order on or before 1990-01-01" in said
    assert (rfm.read_bytes() if rfm.exists() else None) == before
    code, said = _run(monkeypatch, capsys, "segment", "--k", "50000", "--no-personas", "--no-text", *home)
    assert code == 2 and "more segments than" in said
    code, said = _run(monkeypatch, capsys, "segment", "--method", "hdbscan", "--k", "4", *home)
    assert code == 2 and "HDBSCAN finds its own number" in said  # --k was ignored silently
    code, said = _run(monkeypatch, capsys, "clv", "predict", "--horizon-days", "-5", *home)
    assert code == 2 and "--horizon-days" in said
    code, said = _run(monkeypatch, capsys, "recommend", "for", "C000001", "--k", "0", *home)
    assert code == 2 and "--k" in said
    # A competitor file in another currency than the catalogue's says so, not "no price matches".
    with Store.open(shop_settings, read_only=True) as store:
        ids = store.query("SELECT product_id FROM products LIMIT 3")["product_id"].tolist()
    prices = shop_settings.home_dir.parent / "usd.csv"
    pd.DataFrame({"product_id": ids, "competitor": "amazon", "price": 9.9, "currency": "USD"}).to_csv(prices)
    code, said = _run(monkeypatch, capsys, "decide", "price", "--competitors", str(prices), "--currency-col",
                      "currency", *home)  # fmt: skip
    assert code == 2 and "is in USD, the catalogue's in CNY" in said


def test_a_command_that_only_reads_leaves_no_store_in_an_empty_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    code, said = _run(monkeypatch, capsys, "decide", "promo", "--by", "all", "--home", str(home))
    assert code == 2 and "No completed orders" in said
    assert list(home.glob("*.duckdb")) == []


def test_recommend_evaluate_with_no_customer_to_measure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "行为.csv"
    path.write_text("user,item,time\nu1,a,2024-01-01\nu1,b,2024-01-02\nu2,a,2024-03-02\n", encoding="gbk")
    args = ["--user-col", "user", "--item-col", "item", "--time-col", "time"]
    code, said = _run(monkeypatch, capsys, "recommend", "evaluate", "--interactions", str(path), *args)
    assert code == 2 and "no customer of the test window has history" in said
    code, said = _run(monkeypatch, capsys, "recommend", "evaluate", "--interactions", str(tmp_path), *args)
    assert code == 2 and "is a folder" in said


def test_brackets_in_names_and_text_print_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Square brackets are rich's markup: a file named "[/sale].csv" crashed the error message with a
    MarkupError and "[new]" vanished from what was printed."""
    code, text = _run(monkeypatch, capsys, "reviews", "sentiment", "--input", str(tmp_path / "[/sale].csv"),
                      "--text-col", "评价")  # fmt: skip
    assert code == 2 and "[/sale].csv" in text and "Traceback" not in text
    folder = tmp_path / "[new] 双11"
    folder.mkdir()
    reviews = pd.DataFrame({"评价": ["[new] 质量很好，物流也快", "[/x] 太差了，退货"]})
    reviews.to_csv(folder / "r.csv", index=False)
    out = folder / "[scored].csv"
    code, text = _run(monkeypatch, capsys, "reviews", "sentiment", "--input", str(folder / "r.csv"),
                      "--text-col", "评价", "--out", str(out), "--no-adapt")  # fmt: skip
    assert code == 0, text
    assert "[new] 双11" in text and "[scored].csv" in text and "pos=1" in text


def test_json_output_is_json_even_without_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    """A fit with nothing held out has no error to report: null, not Python's NaN that parsers refuse."""
    import json

    from marketpilot.cli.app import print_json

    print_json({"mae": float("nan"), "totals": [np.float64(1.5), float("inf")], "name": "华东"})
    assert json.loads(capsys.readouterr().out) == {"mae": None, "totals": [1.5, None], "name": "华东"}
