"""The web dashboard on a sample shop with a campaign: sign-in, every page with the shop's own
numbers in its charts, approval and the assistant through htmx requests."""

from __future__ import annotations

import json
import re

import pytest
from api_shop import HEADERS
from fastapi.testclient import TestClient

from llm_server import json_reply
from marketpilot.api import create_app
from marketpilot.config import Settings
from marketpilot.data import Store

FORM = {"content-type": "application/x-www-form-urlencoded"}
HTMX = FORM | {"HX-Request": "true"}


def chart(html: str, chart_id: str) -> dict:  # type: ignore[type-arg]
    """The ECharts options a page passes to the chart `chart_id`."""
    match = re.search(rf'getElementById\("{chart_id}"\)\)\.setOption\((.*?)\)\);</script>', html, re.S)
    assert match, f"no chart {chart_id}"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def browser(shop: Settings) -> TestClient:
    """Signed in, as a browser would be after the login form."""
    from marketpilot.campaigns.service import create_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state

    spec = {
        "name": "看板测试",
        "goal": "reactivation",
        "audience": {},
        "offer": {"description": "冬季新品"},
        "channels": [
            {
                "name": "export",
                "variants": [
                    {"key": "A", "text": "{name}，冬季新品上市"},
                    {
                        "key": "B",
                        "text": "满200减20",
                        "offer": {"description": "满200减20", "coupon_amount": 20},
                    },
                ],
            }
        ],
    }
    create_campaign(open_state(shop), parse_spec(spec), campaign_id="dash-1")
    client = TestClient(create_app(shop))
    signed = client.post(
        "/ui/login", content=f"key={HEADERS['X-API-Key']}", headers=FORM, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/"
    return client


def test_pages_need_a_sign_in_and_a_wrong_key_is_refused(shop: Settings):
    client = TestClient(create_app(shop))
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui/"
    page = client.get("/ui/segments", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/ui/login?next=/ui/segments"
    wrong = client.post("/ui/login", content="key=nope", headers=FORM, follow_redirects=False)
    assert wrong.status_code == 200 and "密钥无效" in wrong.text and "mp_ui" not in wrong.cookies
    client.cookies.set("mp_ui", "forged")
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_overview_and_segments_chart_the_shops_numbers(browser: TestClient, shop: Settings):
    page = browser.get("/ui/")
    assert page.status_code == 200 and "/ui/static/vendor/echarts.min.js" in page.text
    with Store.open(shop, read_only=True) as store:
        # net revenue: the sample shop's cancellations and returns are documents with negative totals
        revenue = store.query("SELECT sum(total_minor) / 100.0 AS r FROM orders").r.iloc[0]
    options = chart(page.text, "revenue")
    assert sum(options["series"][0]["data"]) == pytest.approx(revenue, abs=1)

    segments = json.loads((shop.home_dir / "intel" / "segments.json").read_text(encoding="utf-8"))
    page = browser.get("/ui/segments")
    series = chart(page.text, "segments")["series"]
    shares = series[0]["data"]
    # the legend speaks both languages, as the rest of the page does
    assert [s["name"] for s in series] == ["客户占比 customers %", "销售额占比 revenue %"]
    assert shares == pytest.approx(
        [100 * s["stats"]["customer_share"] for s in segments["segments"]], abs=0.01
    )
    for s in segments["segments"]:
        assert s["persona"]["name"] in page.text
    # Why `--k auto` chose this k, in both languages, one line per candidate k.
    k = segments["k_choice"]["k"]
    assert f"为什么是 k = {k} / Why k = {k}" in page.text
    assert page.text.count("无结构参照") == page.text.count("structureless reference") >= 7
    assert browser.get("/ui/static/vendor/htmx.min.js").status_code == 200


def test_reviews_page_charts_aspects_per_category(browser: TestClient, shop: Settings):
    from marketpilot.analytics.reviews.insight import review_insight

    page = browser.get("/ui/reviews")
    category = re.search(r'<option value="([^"]+)" selected>', page.text).group(1)  # type: ignore[union-attr]
    insight = review_insight(shop, category=category, use_llm=False)
    options = chart(page.text, "aspects")
    assert options["xAxis"]["data"] == [a.name for a in insight.aspects]
    series = {s["name"]: s["data"] for s in options["series"]}
    assert series["差评 complaints"] == [a.negative for a in insight.aspects]
    # Mentions with no clear opinion are a third, grey segment: praise + complaints + neutral = mentions.
    neutral = series["中性 neutral"]
    assert neutral == [a.mentions - a.positive - a.negative for a in insight.aspects] and any(neutral)
    assert options["color"][2] == "#a0a0a0" and all(s.get("stack") == "total" for s in options["series"])
    # The table under the chart counts what the report's table counts, 中性 included, not the chart alone.
    assert "<th>中性 Neutral</th>" in page.text
    for a in insight.aspects:
        counts = "".join(f"<td>{n:,}</td>" for n in (a.mentions, a.positive, a.negative, a.neutral))
        assert f"<td>{a.name}</td>{counts}" in " ".join(page.text.split()).replace("> <", "><")


def test_approve_a_campaign_through_htmx(browser: TestClient, shop: Settings):
    from marketpilot.campaigns.service import is_approved
    from marketpilot.campaigns.state.db import open_state

    page = browser.get("/ui/campaigns")
    assert "/ui/campaigns/dash-1" in page.text
    detail = browser.get("/ui/campaigns/dash-1")
    assert "{name}，冬季新品上市" in detail.text and 'hx-post="/ui/campaigns/dash-1/approve"' in detail.text
    # Each arm's copy is shown beside the offer that arm gets.
    assert "<td>A</td><td>冬季新品</td>" in detail.text and "<td>B</td><td>满200减20</td>" in detail.text
    forged = browser.post("/ui/campaigns/dash-1/approve", content="by=x", headers=FORM)
    assert forged.status_code == 400  # not sent by htmx: a cross-site form cannot set HX-Request
    assert not is_approved(open_state(shop), "dash-1", 1)
    done = browser.post("/ui/campaigns/dash-1/approve", content="by=运营小王", headers=HTMX)
    assert "已批准 v1" in done.text and is_approved(open_state(shop), "dash-1", 1)
    assert "已批准 approved" in browser.get("/ui/campaigns/dash-1").text
    assert browser.get("/ui/campaigns/NO-SUCH").status_code == 404


def test_ask_the_assistant_from_the_dashboard(shop: Settings, llm_server):
    client = TestClient(create_app(llm_server.settings(shop.home, api_keys=[HEADERS["X-API-Key"]])))
    client.post("/ui/login", content=f"key={HEADERS['X-API-Key']}", headers=FORM)
    llm_server.script(
        json_reply({"can_answer": True, "answer": "订单满 99 元包邮。", "citations": ["policy:2"]})
    )
    reply = client.post("/ui/assistant/ask", content="question=满多少钱包邮？", headers=HTMX)
    assert "订单满 99 元包邮。" in reply.text and "policy:2（运费）" in reply.text
    handed = client.post("/ui/assistant/ask", content="question=转人工", headers=HTMX)
    assert "已转人工" in handed.text


def test_decisions_page_charts_the_last_decisions(browser: TestClient, shop: Settings, data_dir, tmp_path):
    import pandas as pd

    from marketpilot.analytics.budget import HistoryFile, plan_budget
    from marketpilot.analytics.pricing import CompetitorFile, price_report
    from marketpilot.analytics.promo import PromoSpec, plan_promotions
    from marketpilot.analytics.uplift import Experiment, fit_experiment

    assert "Nothing decided yet" in browser.get("/ui/decisions").text
    hillstrom = pd.read_csv(data_dir / "hillstrom" / "hillstrom.csv.gz").sample(9000, random_state=1)
    hillstrom.to_csv(tmp_path / "test.csv", index=False)
    features = ["recency", "history", "mens", "womens", "newbie", "channel"]
    uplift = fit_experiment(
        Experiment(
            path=tmp_path / "test.csv",
            treatment_col="segment",
            control="No E-Mail",
            outcome_col="visit",
            features=features,
        ),
        shop,
    )
    # a channel named to break out of the chart's <script> (an uploaded history is untrusted text)
    curves = (("短信", 900, 300), ("<!--<script>信息流", 4000, 2000))
    weeks = [(c, s, a * (1 - 2.718281828 ** (-s / b))) for c, a, b in curves
             for s in (100, 250, 400, 800, 1500, 2600)]  # fmt: skip
    pd.DataFrame(weeks, columns=["channel", "spend", "revenue"]).to_csv(tmp_path / "h.csv", index=False)
    plan = plan_budget(HistoryFile(path=tmp_path / "h.csv"), 3000.0, settings=shop)
    with Store.open(shop, read_only=True) as store:
        products = store.query("SELECT product_id, price_minor FROM products LIMIT 6")
    prices = [(p, shop_name, p_minor / 100 * m) for p, p_minor in products.itertuples(index=False)
              for shop_name, m in (("A", 0.9), ("B", 1.2))]  # fmt: skip
    pd.DataFrame(prices, columns=["product_id", "competitor", "price"]).to_csv(
        tmp_path / "p.csv", index=False
    )
    price_report(shop, CompetitorFile(path=tmp_path / "p.csv"))
    promo = plan_promotions(shop, PromoSpec(by="all"))

    page = browser.get("/ui/decisions")
    assert page.status_code == 200 and '<a href="/ui/decisions" class="on">' in page.text
    curves = chart(page.text, "uplift")["series"]
    assert {s["name"] for s in curves} >= set(uplift.qini_curves)
    womens = next(s for s in curves if s["name"] == "Womens E-Mail")["data"]
    assert womens == pytest.approx(uplift.qini_curves["Womens E-Mail"], abs=0.01)
    low, high = uplift.policies.gain_over_best_blanket_interval
    assert f"95% 置信区间 interval {low:+.4f} to {high:+.4f}" in page.text
    budget = chart(page.text, "budget")
    assert "<!--<script>信息流" in json.dumps(budget, ensure_ascii=False)
    scripts = re.findall(r"<script>(.*?)</script>", page.text, re.S)
    assert scripts and not any("<!--" in body or "<script" in body for body in scripts)
    assert budget["series"][1]["data"] == pytest.approx([c.spend for c in plan.allocation.channels], abs=0.01)
    # spend is money: the chart's axis, the heading and the table name the shop's currency
    assert plan.currency == "CNY" and budget["yAxis"]["name"] == "投入 spend (CNY)"
    assert "Budget split: CNY 3,000.00" in page.text and "<th>建议 Spend (CNY)</th>" in page.text
    price = chart(page.text, "price")
    assert sum(s["data"][0] for s in price["series"]) == pytest.approx(100, abs=0.5)
    (group,) = promo.groups
    assert group.shallow and f"<td>{group.shallow.label(group.threshold)} / " in page.text
    for kind in ("uplift", "promo"):
        png = browser.get(f"/ui/decisions/{kind}/chart.png")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert browser.get("/ui/decisions/nothing/chart.png").status_code == 404


def test_an_unknown_campaign_is_a_dashboard_page_not_json(browser: TestClient):
    page = browser.get("/ui/campaigns/NO-SUCH")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "找不到 Not found" in page.text and "NO-SUCH" in page.text
    assert '<a href="/ui/campaigns" class="on">' in page.text
    for path in ("/ui/nope", "/ui/campaigns/a%2Fb"):  # no route serves these: still a dashboard page
        page = browser.get(path)
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "找不到 Not found" in page.text
    assert browser.get("/v1/nope", headers=HEADERS).json()["error"]["message"] == "No route /v1/nope."


def test_reading_pages_of_an_empty_home_creates_nothing(tmp_path) -> None:
    """A read (the overview, a review insight) on a new home makes no store files: once made, the
    overview took the empty store for loaded data and showed zeros instead of how to load some."""
    from marketpilot.config import get_settings

    home = get_settings(tmp_path / "new-home")
    client = TestClient(create_app(home, require_key=False))
    insight = client.get("/v1/reviews/insight", params={"category": "服饰", "llm": "false"})
    assert insight.status_code == 404
    assert "no category '服饰' in the catalogue" in insight.json()["error"]["message"]
    assert client.get("/ui/reviews", params={"category": "服饰"}).status_code == 404
    assert client.get("/v1/products/P1/similar").status_code == 404
    assert not list((tmp_path / "new-home").glob("*.duckdb"))
    assert "还没有数据" in client.get("/ui/").text
