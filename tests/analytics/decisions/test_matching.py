"""Competitor titles matched to the catalogue: the real UCI Online Retail product names and the
generated shop's Chinese names, rewritten the way marketplace listings rewrite them (shop tags, selling
words, words swapped, function words dropped), with a sixth of the products missing from the catalogue;
colour and size variants go to review; the title path through `decide price`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.matching import match_titles
from marketpilot.analytics.pricing import CompetitorFile, price_report
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store

FUNCTION_WORDS = {"of", "the", "and", "with", "in", "a"}


def _listing_en(name: str, rng: np.random.Generator) -> str:
    words = name.lower().split()
    fillers = [i for i, w in enumerate(words) if w in FUNCTION_WORDS]
    if fillers and rng.random() < 0.5:
        words.pop(fillers[0])
    if len(words) > 2 and rng.random() < 0.5:
        i = int(rng.integers(len(words) - 1))
        words[i], words[i + 1] = words[i + 1], words[i]
    return (
        str(rng.choice(["", "new ", "free delivery ", "best seller ", "gift "])) + " ".join(words)
    ).title()


def _listing_zh(name: str, rng: np.random.Generator) -> str:
    parts = name.split()
    if len(parts) > 2 and rng.random() < 0.5:
        parts[1], parts[2] = parts[2], parts[1]
    body = (" " if rng.random() < 0.5 else "").join(parts)
    return f"【{parts[0]}官方旗舰店】{body} {rng.choice(['', '包邮', '正品 新款', '热卖'])}".strip()


def _score(catalogue: pd.DataFrame, listing, n: int, seed: int) -> tuple[float, float, float]:
    """(recall, precision on the present products, share of absent ones matched anyway)."""
    rng = np.random.default_rng(seed)
    picked = catalogue.sample(n, random_state=seed)
    absent = picked.iloc[: n // 6]
    known = catalogue[~catalogue["product_id"].isin(absent["product_id"])]
    matches = match_titles(pd.Series([listing(name, rng) for name in picked["name"]]), known)
    right = matches["product_id"].to_numpy() == picked["product_id"].to_numpy()
    present = np.arange(n) >= n // 6
    matched = (matches["status"] == "matched").to_numpy()
    return right[present].mean(), right[present & matched].mean(), matched[~present].mean()


@pytest.fixture(scope="module")
def retail_catalogue(data_dir: Path) -> pd.DataFrame:
    raw = pd.read_csv(data_dir / "samples" / "online_retail.csv.gz", usecols=["StockCode", "Description"])
    names = raw.dropna().groupby("StockCode")["Description"].first().reset_index()
    return names.set_axis(["product_id", "name"], axis=1).drop_duplicates("name")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_english_product_names(retail_catalogue: pd.DataFrame, seed: int) -> None:
    recall, precision, false_match = _score(retail_catalogue, _listing_en, 420, seed)
    assert recall >= 0.95 and precision >= 0.99 and false_match <= 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chinese_listing_titles(shop_settings: Settings, seed: int) -> None:
    with Store.open(shop_settings, read_only=True) as store:
        catalogue = store.read("products", ["product_id", "name"]).drop_duplicates("name", keep=False)
    recall, precision, false_match = _score(catalogue, _listing_zh, 120, seed)
    assert recall >= 0.95 and precision == 1.0 and false_match <= 0.1


def test_variants_are_held_for_review_with_the_reason() -> None:
    catalogue = pd.DataFrame(
        {
            "product_id": ["T-W", "BEAN-250", "CLOCK-P"],
            "name": ["云裳 纯棉T恤 白色", "味道工坊 有机咖啡豆 250g", "PINK DINER WALL CLOCK"],
        }
    )
    titles = pd.Series(
        ["【云裳】纯棉T恤 黑色", "味道工坊 有机咖啡豆 500g", "Red Diner Wall Clock", "云裳纯棉T恤白色"]
    )
    matches = match_titles(titles, catalogue).set_index("title")
    assert matches.loc["云裳纯棉T恤白色", "product_id"] == "T-W"
    for title, differ in (
        ("【云裳】纯棉T恤 黑色", "白"),
        ("味道工坊 有机咖啡豆 500g", "250"),
        ("Red Diner Wall Clock", "pink"),
    ):
        row = matches.loc[title]
        assert row["status"] == "review" and pd.isna(row["product_id"]) and differ in row["reason"]


def test_decide_price_by_title(shop_settings: Settings, tmp_path: Path, monkeypatch, capsys) -> None:
    with Store.open(shop_settings, read_only=True) as store:
        products = store.read("products", ["product_id", "name", "price_minor"]).drop_duplicates(
            "name", keep=False
        )
    rng = np.random.default_rng(5)
    sample = products.sample(8, random_state=5)
    rows = [
        {"标题": _listing_zh(p.name, rng), "店铺": shop, "价格": f"￥{p.price_minor / 100 * m:.2f}"}
        for p in sample.itertuples()
        for shop, m in (("京东", 1.2), ("拼多多", 1.1))
    ]
    rows.append({"标题": "完全无关的商品 火星车模型", "店铺": "京东", "价格": "99"})
    path = tmp_path / "竞品.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    spec = CompetitorFile(path=path, title_col="标题", competitor_col="店铺", price_col="价格")
    report = price_report(shop_settings, spec)
    assert report.summary.titles == {"matched": 16, "review": 0, "unmatched": 1}
    table = pd.read_parquet(report.products_path).set_index("product_id")
    assert set(table.index) == set(sample["product_id"]) and (table["position"] == "cheapest").all()
    matches = pd.read_csv(report.matches_csv, encoding="utf-8-sig")
    assert matches.loc[matches["status"] == "unmatched", "title"].tolist() == ["完全无关的商品 火星车模型"]

    args = ["decide", "price", "--competitors", str(path), "--title-col", "标题", "--competitor-col", "店铺"]
    args += ["--price-col", "价格", "--home", str(shop_settings.home_dir), "--json"]
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    assert run_app(app) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["titles"]["matched"] == 16


def test_a_colour_named_in_the_title_picks_that_colour_among_near_twins() -> None:
    catalogue = pd.DataFrame(
        {
            "product_id": ["C-R", "C-B", "C-G", "T-B", "T-W"],
            "name": ["DINER WALL CLOCK RED", "DINER WALL CLOCK BLUE", "DINER WALL CLOCK GREEN",
                     "云裳 纯棉T恤 黑色", "云裳 纯棉T恤 白色"],
        }
    )  # fmt: skip
    titles = pd.Series(
        ["Free Delivery Blue Diner Wall Clock", "【云裳旗舰店】纯棉T恤 白色 包邮", "Diner Wall Clock"]
    )
    matches = match_titles(titles, catalogue).set_index("title")
    assert matches["product_id"].iloc[:2].tolist() == ["C-B", "T-W"]
    assert matches["status"].iloc[2] == "review"  # no colour named: which of the three?


def test_chinese_colour_names_without_se_are_colours() -> None:
    from marketpilot.analytics.matching import variant_marks

    # Shops name colours their own way: 曜石黑 is the catalogue's 黑色, 远峰蓝 its 蓝色.
    catalogue = pd.DataFrame(
        {
            "product_id": ["K-B", "K-W", "K-L"],
            "name": [
                "乐盾 磁吸手机壳 iPhone15 黑色",
                "乐盾 磁吸手机壳 iPhone15 白色",
                "乐盾 磁吸手机壳 iPhone15 蓝色",
            ],
        }
    )
    titles = pd.Series(["【乐盾官方】磁吸手机壳 iPhone15 曜石黑", "乐盾磁吸手机壳 iPhone15 远峰蓝 包邮",
                        "乐盾 磁吸手机壳 iPhone15 / 白 /"])  # fmt: skip
    matches = match_titles(titles, catalogue)
    assert matches["product_id"].tolist() == ["K-B", "K-L", "K-W"]
    assert matches["status"].eq("matched").all()
    # Words that end in a colour character without naming one are not colours.
    for word in ("奶粉 900g", "米粉", "口红", "蛋白粉", "奶黄包", "黑科技", "小白鞋", "白金项链"):
        assert not variant_marks(word) - {"900"}, word


# Brands the generated shop does not sell (its own are invented names such as 云裳, 星联).
OTHER_BRANDS = [
    "优衣库",
    "兰蔻",
    "三只松鼠",
    "小米",
    "安踏",
    "百草味",
    "良品铺子",
    "欧莱雅",
    "海澜之家",
    "李宁",
]


def test_other_brands_equivalents_are_not_our_products(shop_settings: Settings) -> None:
    """A competitor's own-brand twin of our product ("小米 快充数据线 1米" beside our "星联 快充数据线 1米")
    is a different product: its price must not position ours. Without brands 9 in 10 of them matched."""
    with Store.open(shop_settings, read_only=True) as store:
        catalogue = store.read("products", ["product_id", "name", "brand"]).drop_duplicates(
            "name", keep=False
        )
    rng = np.random.default_rng(3)
    picked = catalogue.sample(120, random_state=3)
    rebranded = [f"{OTHER_BRANDS[rng.integers(10)]} {name.split(' ', 1)[1]}" for name in picked["name"]]
    alone = match_titles(pd.Series(rebranded), catalogue)
    assert (alone["status"] == "review").all() and alone["reason"].str.contains("names no brand").mean() > 0.8
    cells = pd.Series([t.split()[0] for t in rebranded])
    with_brand = match_titles(pd.Series(rebranded), catalogue, brands=cells)
    assert (with_brand["status"] == "unmatched").all() and with_brand["reason"].str.contains("sells no").all()

    # Our own products keep matching, whether the brand cell is ours, an alias or in another script.
    own = pd.Series([_listing_zh(name, rng) for name in picked["name"]])
    cells = pd.Series([[b, f"{b}/YUNSHANG", "OFFICIAL"][i % 3] for i, b in enumerate(picked["brand"])])
    for brands in (None, cells):
        matches = match_titles(own, catalogue, brands=brands)
        truth = dict(zip(own, picked["product_id"], strict=True))
        right = matches["product_id"] == matches["title"].map(truth)
        assert right.mean() >= 0.95 and right[matches["status"] == "matched"].all()


def test_brand_aliases_are_one_brand() -> None:
    catalogue = pd.DataFrame(
        {
            "product_id": ["HW-1", "HW-2", "MI-1"],
            "name": ["华为 快充数据线 1米", "HUAWEI Mate 60 Pro 手机壳", "米家 快充数据线 1米"],
            "brand": ["华为", "Huawei/华为", "米家"],
        }
    )
    titles = pd.Series(["华为快充数据线1米 正品", "Mate 60 Pro 手机壳 官方", "倍思 快充数据线 1米"])
    matches = match_titles(titles, catalogue, brands=pd.Series(["HUAWEI", "huawei", "倍思"])).set_index(
        "title"
    )
    assert matches["product_id"].iloc[:2].tolist() == ["HW-1", "HW-2"]
    assert matches["status"].iloc[2] == "unmatched" and "倍思" in matches["reason"].iloc[2]
    # Without the cells the titles' own brand words decide: the 倍思 cable is not 米家's.
    alone = match_titles(titles, catalogue).set_index("title")
    assert alone.loc["华为快充数据线1米 正品", "product_id"] == "HW-1"
    assert alone.loc["倍思 快充数据线 1米", "status"] == "review"


def test_decide_price_with_a_brand_column(
    shop_settings: Settings, tmp_path: Path, monkeypatch, capsys
) -> None:
    with Store.open(shop_settings, read_only=True) as store:
        products = store.read("products", ["product_id", "name", "brand", "price_minor"])
    products = products.drop_duplicates("name", keep=False)
    rng = np.random.default_rng(8)
    sample = products.sample(6, random_state=8)
    rows = [
        {
            "标题": _listing_zh(p.name, rng),
            "品牌": p.brand,
            "店铺": "京东",
            "价格": f"{p.price_minor / 90:.2f}",
        }
        for p in sample.itertuples()
    ]
    # The same goods under the competitor's own brand at ¥1: had they matched, ours would be dearest.
    rows += [
        {"标题": f"小米 {p.name.split(' ', 1)[1]}", "品牌": "小米", "店铺": "京东", "价格": "1"}
        for p in sample.itertuples()
    ]
    path = tmp_path / "竞品.csv"
    pd.DataFrame(rows).to_csv(path, index=False, encoding="gbk")
    args = ["decide", "price", "--competitors", str(path), "--title-col", "标题", "--brand-col", "品牌"]
    args += [
        "--competitor-col",
        "店铺",
        "--price-col",
        "价格",
        "--home",
        str(shop_settings.home_dir),
        "--json",
    ]
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    assert run_app(app) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["titles"] == {"matched": 6, "review": 0, "unmatched": 6}
    table = pd.read_parquet(out["products_path"]).set_index("product_id")
    assert set(table.index) == set(sample["product_id"]) and (table["position"] == "cheapest").all()

    monkeypatch.setattr(sys, "argv", ["marketpilot", *[a for a in args if a not in ("--title-col", "标题")]])
    assert run_app(app) == 2
    assert "--brand-col helps match listing titles" in capsys.readouterr().err


def test_matching_chinese_titles_leaves_the_terminal_quiet() -> None:
    """jieba's "Building prefix dict …" lines on stderr were noise in `decide price --title-col`."""
    import os
    import subprocess

    import marketpilot

    code = (
        "import pandas as pd; from marketpilot.analytics.matching import match_titles; "
        "cat = pd.DataFrame({'product_id': ['P1', 'P2'], "
        "'name': ['星联 快充数据线 1米', '雪颜 补水面膜 10片']}); "
        "print(match_titles(pd.Series(['【旗舰店】星联 快充数据线 1米']), cat)['candidate_id'].tolist())"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(marketpilot.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "P1" in done.stdout and done.stderr == ""
