"""`--k auto` on real shops: small shops get no handful-of-customers segments, a shop whose customers
form one group gets one segment with the reason, larger shops keep several segments; the choice is
explained per candidate k in Chinese and English."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_server import OpenAITestServer, Reply, json_reply
from marketpilot.analytics.purchases import registered_purchases
from marketpilot.analytics.segments import run_segmentation
from marketpilot.analytics.segments.clustering import SegmentModel
from marketpilot.analytics.segments.features import behaviour_matrix, segmentation_frame
from marketpilot.analytics.segments.k_choice import FinalFit, KCandidate, KChoice
from marketpilot.analytics.segments.numbers import segment_context, unsupported_numbers
from marketpilot.analytics.segments.size_check import SmallSegments
from marketpilot.analytics.segments.stats import SegmentStats
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store
from marketpilot.data.load import load_file
from marketpilot.errors import UserError


@pytest.fixture(scope="module")
def small_retail(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """297 buyers: 300 customers drawn at random from UCI Online Retail, loaded with its preset."""
    raw = pd.read_csv(data_dir / "samples" / "online_retail.csv.gz", dtype=str)
    ids = np.sort(raw["CustomerID"].dropna().unique())
    keep = np.random.default_rng(1).choice(ids, 300, replace=False)
    root = tmp_path_factory.mktemp("small_retail")
    raw[raw["CustomerID"].isin(keep)].to_csv(root / "retail.csv", index=False)
    settings = get_settings(root / "home")
    load_file(settings, root / "retail.csv", preset="online-retail")
    return settings


@pytest.fixture(scope="module")
def one_group_shop(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """300 CDNOW customers who came on the same two days and spent their real first CDNOW purchase
    each time: one population that differs only in basket size."""
    raw = pd.read_csv(data_dir / "cdnow" / "CDNOW_sample.txt", sep=r"\s+", header=None)
    spend = raw.groupby(0)[4].first()
    spend = spend[spend > 0].sample(300, random_state=0).to_numpy()
    orders = pd.DataFrame(
        [
            (f"O{c}-{day}", f"C{c:03d}", pd.Timestamp(f"2025-0{day}-10"), round(t * 100))
            for c, t in enumerate(spend)
            for day in (1, 2)
        ],
        columns=["order_id", "customer_id", "ordered_at", "total_minor"],
    ).assign(status="completed", currency="USD")
    lines = orders[["order_id"]].assign(line_no=1, product_id="cd", quantity=1, unit_price_minor=1200)
    settings = get_settings(tmp_path_factory.mktemp("one_group") / "home")
    with Store.open(settings) as store, store.transaction():
        store.upsert(
            "customers", pd.DataFrame({"customer_id": orders["customer_id"].unique(), "is_guest": False})
        )
        store.upsert(
            "products", pd.DataFrame({"product_id": ["cd"], "name": ["CD 唱片"], "price_minor": [1200]})
        )
        store.upsert("orders", orders)
        store.upsert("order_items", lines.assign(currency="USD"))
    return settings


def test_small_shop_gets_no_segment_of_a_handful_of_customers(small_retail: Settings) -> None:
    result = run_segmentation(small_retail, personas=False, report=False)
    choice = result.k_choice
    assert choice is not None and result.customers == choice.customers == 297
    assert choice.min_segment_size == 15  # 5% of 297, above the floor of 10
    sizes = [p.stats.customers for p in result.segments]
    assert result.k >= 3 and min(sizes) >= 15 and choice.rule == "best_silhouette"
    # Among k >= 3, silhouette alone picks k=6 here, with segments of 13 and 14 customers; that k is
    # ruled out.
    by_k = {c.k: c for c in choice.candidates}
    best_alone = max((c for c in choice.candidates if c.k >= 3), key=lambda c: c.silhouette)
    assert best_alone.k != result.k and best_alone.too_small and best_alone.smallest_segment < 15
    assert not by_k[result.k].too_small and by_k[result.k].structured
    # A stricter floor is honoured: every segment then holds at least 60 customers, or there is one.
    strict = run_segmentation(small_retail, personas=False, report=False, min_segment_customers=60)
    assert min(p.stats.customers for p in strict.segments) >= 60 or strict.k == 1


def test_a_fixed_k_keeps_its_segments_and_names_those_under_the_minimum(small_retail: Settings) -> None:
    from fastapi.testclient import TestClient

    from marketpilot.api import create_app

    result = run_segmentation(small_retail, k=8, lang="en", personas=False)
    sizes = {p.stats.segment: p.stats.customers for p in result.segments}
    assert result.k == len(sizes) == 8 and result.k_choice is None  # the k asked for is kept
    small = result.small_segments
    assert small is not None and small.min_segment_size == 15 and small.k == 8 and small.method == "kmeans"
    # k-means leaves segments of a handful of customers at k=8 here; each one under 15 is named.
    assert small.sizes == {s: n for s, n in sizes.items() if n < 15} and len(small.sizes) >= 2
    counts = pd.read_parquet(result.assignments_parquet)["segment"].value_counts()
    assert all(counts[s] == n for s, n in small.sizes.items())
    en, zh = small.explain("en"), small.explain("zh")
    assert en.startswith(f"{len(small.sizes)} segments hold fewer than 15 customers, the minimum size (5%")
    assert "k=8 is kept as asked" in en and "they get no LLM persona, only their statistics" in en
    assert zh.startswith(f"有 {len(small.sizes)} 个细分少于最小规模 15 位客户（客户数的 5%，且不少于 10 位）")
    for s, n in small.sizes.items():
        assert f"segment {s} ({n} customers)" in en and f"细分 {s}（{n} 位客户）" in zh
    # Each small segment's description says so, with its size; the others are plain templates.
    for p in result.segments:
        too_small = f"This segment holds only {p.stats.customers} customers, under the minimum segment size"
        assert (too_small in p.persona.description) == (p.stats.segment in small.sizes)
    html = Path(result.report_html).read_text(encoding="utf-8")
    assert en in html and html.count('"flag">under the minimum segment size<') == len(small.sizes)
    saved = json.loads(Path(result.summary_json).read_text(encoding="utf-8"))
    assert saved["small_segments"]["sizes"] == {str(s): n for s, n in small.sizes.items()}
    page = TestClient(create_app(small_retail, require_key=False)).get("/ui/segments").text
    assert en in page and zh in page and page.count("under the minimum size</span>") == len(small.sizes)


def test_a_fixed_k_whose_segments_all_reach_the_minimum_has_no_warning(small_retail: Settings) -> None:
    from marketpilot.cli import app

    result = run_segmentation(small_retail, k=3, personas=False, report=False)
    smallest = min(p.stats.customers for p in result.segments)
    assert result.k == 3 and smallest >= 15 and result.small_segments is None
    args = ["segment", "--home", str(small_retail.home), "--k", "3", "--no-personas", "--lang", "en"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "warning" not in out.stderr and "minimum" not in out.stdout
    # The minimum applies to a fixed k too: raised above the smallest segment, that one is named.
    stricter = CliRunner().invoke(app, [*args, "--min-segment-customers", str(smallest + 1)])
    assert stricter.exit_code == 0, stricter.output
    warning = " ".join(stricter.stderr.split())
    assert warning.startswith(f"warning: 1 segment holds fewer than {smallest + 1} customers, the minimum")
    assert f"({smallest} customers). k=3 is kept as asked; a segment this small" in warning
    assert "it gets no LLM persona, only its statistics." in warning
    assert " ".join(stricter.stdout.split()).count(f"(under the minimum size) — {smallest} customers") == 1


def _persona_from_facts(request: dict) -> Reply:
    """A Chinese persona quoting the size and AOV the prompt gave, so the checker accepts it."""
    facts = next(m["content"] for m in request["messages"] if "客户数：" in str(m.get("content")))

    def fact(label: str) -> str:  # "- 客单价：23.45 GBP（…）" → "23.45"
        line = next(line for line in facts.splitlines() if line.startswith(f"- {label}："))
        return re.match(r"[\d.]+", line.split("：", 1)[1]).group(0)

    text = f"这{fact('客户数')}位客户的客单价为{fact('客单价')}，是值得用心维护的一群老顾客。"
    return json_reply({"name": "稳定复购客", "description": text})


def test_a_segment_under_the_minimum_gets_no_llm_call_and_says_it_is_too_small(
    small_retail: Settings, llm_server: OpenAITestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from marketpilot.api import create_app
    from marketpilot.cli import app

    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")  # every persona a round trip to the server
    llm_server.default = _persona_from_facts
    args = ["segment", "--home", str(small_retail.home), "--k", "8", "--lang", "zh"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    saved = json.loads((small_retail.home / "intel" / "segments.json").read_text(encoding="utf-8"))
    small = {int(s): n for s, n in saved["small_segments"]["sizes"].items()}
    profiles = {p["stats"]["segment"]: p for p in saved["segments"]}
    assert len(profiles) == 8 and len(small) >= 2
    # One model request per segment that reaches the minimum (each draft passes the first time), none
    # for a segment under it.
    asked = [
        int(re.search(r"客户细分 (\d+) 的汇总统计", json.dumps(r["messages"], ensure_ascii=False)).group(1))
        for r in llm_server.requests
    ]
    assert sorted(asked) == sorted(set(profiles) - set(small))
    stdout = "".join(out.stdout.split())  # Rich wraps long lines
    html = (small_retail.home / "reports" / "segments.html").read_text(encoding="utf-8")
    dashboard = TestClient(create_app(small_retail, require_key=False)).get("/ui/segments").text
    first_llm = min(set(profiles) - set(small))
    for segment, profile in profiles.items():
        persona, stats = profile["persona"], SegmentStats(**profile["stats"])
        if segment not in small:
            # the model names every segment alike: the first keeps the name, later ones get their number
            name = "稳定复购客" if segment == first_llm else f"稳定复购客（{segment}）"
            assert persona["source"] == "llm" and persona["name"] == name
            continue
        assert persona["source"] == "template" and persona["attempts"] == 0 and persona["rejected"] == []
        assert persona["description"].startswith(f"共 {small[segment]} 位客户")
        assert persona["description"].endswith(
            f"这个细分只有 {small[segment]} 位客户，少于最小细分规模，人数太少，无法可靠地概括为一个"
            "客户群体：以上只是这几位客户的统计，不是人群画像。"
        )
        # The statement adds no number beyond the segment's size: the text is still grounded.
        assert unsupported_numbers(persona["description"], stats, context=segment_context(stats)) == []
        assert "".join(persona["description"].split()) in stdout
        assert persona["description"] in html and persona["description"] in dashboard
    assert "不请模型写画像，只列出这几位客户的统计" in html and "no LLM persona" in dashboard
    api = TestClient(create_app(small_retail, require_key=False)).get("/v1/segments").json()
    assert [s["persona"] for s in api["segments"]] == [p["persona"] for p in saved["segments"]]


def test_a_small_hdbscan_segment_of_one_customer_is_worded_for_one() -> None:
    small = SmallSegments(
        min_segment_size=50, min_segment_share=0.025, min_segment_customers=10, k=3, method="hdbscan",
        sizes={3: 1},
    )  # fmt: skip
    assert small.explain("en") == (
        "1 segment holds fewer than 50 customers, the minimum size (2.5% of customers, at least 10): "
        "segment 3 (1 customer). The 3 segments HDBSCAN found are kept; a segment this small is a few "
        "customers rather than a market: it gets no LLM persona, only its statistics. --method kmeans "
        "with --k auto holds every segment to at least 50 customers."
    )
    assert small.explain("zh").startswith(
        "有 1 个细分少于最小规模 50 位客户（客户数的 2.5%，且不少于 10 位）：细分 3（1 位客户）。"
        "HDBSCAN 找到的 3 个细分均已保留"
    )


def test_one_group_of_customers_is_one_segment_with_the_reason(one_group_shop: Settings) -> None:
    result = run_segmentation(one_group_shop, lang="zh", personas=False)
    choice = result.k_choice
    assert result.k == 1 and len(result.segments) == 1 and result.segments[0].stats.customers == 300
    assert choice is not None and choice.rule == "no_structure"
    # Silhouette alone would have named some k >= 2; none beats the structureless reference here.
    assert [c.k for c in choice.candidates] == list(range(2, 9))
    big_enough = [c for c in choice.candidates if not c.too_small]
    assert big_enough and not any(c.structured for c in big_enough)
    zh, en = choice.explain("zh"), choice.explain("en")
    assert zh[0].startswith("只分 1 个细分（k=1）") and en[0].startswith("One segment (k=1)")
    assert len(zh) == len(en) == 8 and "轮廓系数" in zh[1] and "silhouette" in en[1]
    html = Path(result.report_html).read_text(encoding="utf-8")
    assert "为什么分成这么多个细分" in html and "只分 1 个细分" in html and "k=8：轮廓系数" in html
    saved = json.loads(Path(result.summary_json).read_text(encoding="utf-8"))
    assert saved["k"] == 1 and saved["k_choice"]["rule"] == "no_structure"


def test_segment_cli_says_why_k_was_chosen(one_group_shop: Settings) -> None:
    from marketpilot.cli import app

    args = ["segment", "--home", str(one_group_shop.home), "--no-personas", "--lang", "en"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "300 customers in 1 segment " in out.stdout and "One segment (k=1)" in out.stdout
    assert "k=2: silhouette" in out.stdout and "structureless reference" in out.stdout
    bad = CliRunner().invoke(app, [*args, "--min-segment-share", "0.9"])
    assert bad.exit_code != 0 and "min_segment_share must be between 0 and 0.5" in str(bad.exception)


@pytest.mark.slow
def test_whole_online_retail_keeps_several_sizeable_segments(online_retail_settings: Settings) -> None:
    result = run_segmentation(online_retail_settings, lang="en", personas=False, report=False)
    choice = result.k_choice
    assert choice is not None and choice.rule == "best_silhouette" and result.k >= 3
    assert min(p.stats.customers for p in result.segments) >= choice.min_segment_size == 217
    # k-means spent a centre on one extreme customer at every k >= 3 (then all were ruled out and the
    # shop got k=1); such rare outliers now join the nearest segment instead.
    assert all(c.smallest_segment >= 217 for c in choice.candidates if c.k >= 3)
    assert choice.explain("en")[0].startswith(f"k={result.k}: the highest silhouette")


def _behaviour(settings: Settings) -> pd.DataFrame:
    with Store.open(settings, read_only=True) as store:
        as_of = registered_purchases(store.con)
        return behaviour_matrix(segmentation_frame(store.con, as_of + dt.timedelta(days=1)))


@pytest.mark.slow
def test_final_fit_on_a_shop_beyond_the_sample_keeps_the_chosen_k_past_an_outlier(
    online_retail_settings: Settings,
) -> None:
    X = _behaviour(online_retail_settings)
    model = SegmentModel(random_state=1).fit(X)  # 4,325 buyers: k is chosen on 2,500 of them
    choice = model.k_choice_
    assert choice is not None and choice.k == model.k_ == 3 and choice.final is not None
    # A plain k-means at k=3 on every customer gave segments of 1, 1,632 and 2,692 customers; the
    # one extreme customer is now left out of the fit and joins the nearest segment.
    sizes = np.bincount(model.labels_)
    assert len(sizes) == 3 and sizes.min() >= choice.min_segment_size == 217
    assert choice.final.outliers == 1 and choice.final.merged == 0
    assert choice.final.smallest_segment == sizes.min() and choice.final.sample == 2500
    assert (model.predict(X) == model.labels_).all()
    assert "1 extreme customer formed a segment under 217" in choice.explain("en")[0]
    assert "1 位极端客户自成少于 217 位的细分" in choice.explain("zh")[0]


def test_final_fit_merges_a_segment_the_sample_overstated(shop_settings: Settings) -> None:
    X = _behaviour(shop_settings)
    model = SegmentModel(sample_size=500, random_state=12, min_segment_customers=100).fit(X)
    choice = model.k_choice_
    assert choice is not None and choice.final is not None and len(X) == choice.customers == 1452
    # On the 500-customer sample k=5 left no segment under 100; on all 1,452 customers its smallest
    # held fewer (not rare outliers), so its customers joined the nearest segments.
    assert choice.k == 5 and not next(c for c in choice.candidates if c.k == 5).too_small
    assert choice.final.merged == 1 and choice.final.outliers == 0 and model.k_ == choice.final.k == 4
    sizes = np.bincount(model.labels_)
    assert len(sizes) == 4 and sizes.sum() == 1452 and sizes.min() == choice.final.smallest_segment >= 100
    assert model.cluster_centers_.shape == (4, X.shape[1]) and (model.predict(X) == model.labels_).all()
    assert choice.explain("en")[0].endswith(
        "On all 1452 customers (k was chosen on a sample of 500), 1 segment held fewer than 100 "
        "customers: its customers joined the nearest remaining segment, so there are 4 segments."
    )
    assert choice.explain("zh")[0].endswith("其客户并入最近的其余细分，最终为 4 个细分。")


def test_a_shop_of_identical_buyers_and_a_few_regulars_is_one_segment() -> None:
    # A flash sale: 990 customers bought the same 99 元 item once, on the same day; 10 regulars, two
    # profiles of 5. Leaving the regulars out of a k=2 fit as rare outliers left k-means one distinct
    # profile for two centres, and silhouette failed on one label (a ValueError).
    once = [(30, 1, 99.0)] * 990
    regulars = [(3, 12, 2400.0)] * 5 + [(8, 6, 900.0)] * 5
    X = pd.DataFrame(once + regulars, columns=["recency_days", "orders", "spend"])
    model = SegmentModel().fit(X)
    choice = model.k_choice_
    assert choice is not None and model.k_ == choice.k == 1 and choice.rule == "too_small"
    assert choice.min_segment_size == 50 and all(c.too_small for c in choice.candidates)
    assert np.bincount(model.labels_).tolist() == [1000]
    assert choice.explain("en")[0].startswith("One segment (k=1): every k in 2–3 leaves a segment of fewer")


@pytest.mark.parametrize("k_range", [(1, 4), (5, 3)])
def test_a_k_range_without_two_segments_or_backwards_is_refused(k_range: tuple[int, int]) -> None:
    X = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 3)))
    with pytest.raises(UserError, match="k_range"):
        SegmentModel(k_range=k_range).fit(X)


def test_a_merge_down_to_one_segment_says_so() -> None:
    choice = KChoice(
        k=2, rule="best_silhouette", min_segment_size=100, min_segment_share=0.05, min_segment_customers=100,
        customers=3000,
        candidates=[KCandidate(k=2, silhouette=0.4, reference_silhouette=0.3, smallest_segment=150,
                               too_small=False, structured=True)],
        final=FinalFit(sample=2500, k=1, smallest_segment=3000, outliers=0, merged=1),
    )  # fmt: skip
    assert choice.explain("en")[0].endswith(
        "joined the nearest remaining segment, so the shop is one segment."
    )
    assert choice.explain("zh")[0].endswith("其客户并入最近的其余细分，最终为 1 个细分。")
