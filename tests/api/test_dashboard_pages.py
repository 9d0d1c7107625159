"""Every dashboard page on an empty home, on a home with only some steps done, and on the Chinese
sample shop: a page that says what to do next (never a 500 or empty axes), charts that name their
unit, a campaign list in pages, and hostile names shown as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from marketpilot.api import create_app
from marketpilot.config import Settings, get_settings

PAGES = ("/ui/", "/ui/segments", "/ui/campaigns", "/ui/reviews", "/ui/decisions", "/ui/assistant")
EVIL = '<script>alert("x")</script>"'


def chart(html: str, chart_id: str) -> dict:  # type: ignore[type-arg]
    match = re.search(rf'getElementById\("{chart_id}"\)\)\.setOption\((.*?)\)\);</script>', html, re.S)
    assert match, f"no chart {chart_id}"
    return json.loads(match.group(1))


def spec(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "goal": "reactivation",
        "audience": {},
        "offer": {"description": "满200减20"},
        "channels": [{"name": "export", "variants": [{"key": "A", "text": "{name}，新春好礼"}]}],
        **extra,
    }


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The Chinese sample shop, segmented, with a hostile category, review and campaign, sent."""
    from marketpilot.analytics.rfm import run_rfm
    from marketpilot.analytics.segments.service import run_segmentation
    from marketpilot.campaigns.executor import run_campaign
    from marketpilot.campaigns.service import approve, create_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state
    from marketpilot.data import Store
    from marketpilot.data.sample import make_sample

    settings = get_settings(tmp_path_factory.mktemp("pages") / "home")
    make_sample(settings, customers=300, seed=3)
    run_rfm(settings)
    run_segmentation(settings, personas=False, report=False)
    with Store.open(settings) as store:
        store.query(
            "UPDATE products SET category = $c WHERE product_id = (SELECT min(product_id) FROM products)",
            {"c": "食品" + EVIL},
        )
        store.query("UPDATE reviews SET text = $t || text WHERE rating <= 2", {"t": EVIL})
    engine = open_state(settings)
    create_campaign(engine, parse_spec(spec("春节" + EVIL, holdout_share=0.3)), campaign_id="evil-1")
    approve(engine, "evil-1", approver="运营小王")
    run_campaign(settings, "evil-1")
    return settings


def test_an_empty_home_says_what_to_load_and_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    client = TestClient(create_app(get_settings(home), require_key=False))
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    campaigns = client.get("/ui/campaigns").text
    # both ways to make one: the planner needs an LLM, a spec file does not
    assert "No campaigns yet" in campaigns and "campaign create --spec" in campaigns
    unknown = client.get("/ui/campaigns/c-1")
    assert unknown.status_code == 404 and "找不到 Not found" in unknown.text
    # reading the campaign pages made the campaign database (state.sqlite) in a home with none
    assert not list(home.glob("*.sqlite")) and not list(home.glob("*.duckdb"))
    reviews = client.get("/ui/reviews").text
    assert "No reviews yet" in reviews and "<select" not in reviews  # no empty category list


def test_a_catalogue_without_orders_is_no_empty_chart(tmp_path: Path) -> None:
    from marketpilot.data import Store
    from marketpilot.data.sample import generate_shop, load_shop

    settings = get_settings(tmp_path / "home")
    paths = generate_shop(tmp_path / "shop", customers=100, seed=1)
    with Store.open(settings) as store:
        load_shop(store, {"products": paths["products"], "customers": paths["customers"]})
    client = TestClient(create_app(settings, require_key=False))
    overview = client.get("/ui/").text
    assert "No completed orders yet" in overview and 'id="revenue"' not in overview
    for path in PAGES:  # data loaded, no segments, reviews, campaigns or decisions yet
        assert client.get(path).status_code == 200, path
    assert "marketpilot segment" in client.get("/ui/segments").text


def test_charts_name_their_units(sample: Settings) -> None:
    client = TestClient(create_app(sample, require_key=False))
    assert chart(client.get("/ui/").text, "revenue")["yAxis"]["name"] == "销售额 CNY"
    assert chart(client.get("/ui/segments").text, "segments")["yAxis"]["name"] == "%"
    assert chart(client.get("/ui/reviews").text, "aspects")["yAxis"]["name"] == "条评价 reviews"
    page = client.get("/ui/campaigns/evil-1").text
    conversion = chart(page, "conversion")
    assert conversion["yAxis"]["name"] == "%"
    # one channel: one bar per arm, the arm's rate, no legend (nothing per channel to tell apart)
    assert [s["name"] for s in conversion["series"]] == ["转化率 conversion %"]
    assert not conversion["legend"]["show"] and "title" not in conversion
    messages = chart(page, "messages")
    assert messages["yAxis"]["name"] == "条 messages"
    # every message was sent: one status, still named in the legend
    assert [s["name"] for s in messages["series"]] == ["sent"] and messages["legend"]["show"]
    assert "收入 Revenue (CNY)" in page
    assert "<td>{name}，新春好礼</td>" in page  # once run, the copy the version was sent with
    # the bars had no heading: under the best-copy line they read as the copies' rates, not the arms'
    assert '<h4>各组转化率 Conversion by arm</h4>\n  <div class="chart" id="conversion">' in page


def test_hostile_names_in_the_sample_shop_are_shown_as_text(sample: Settings) -> None:
    client = TestClient(create_app(sample, require_key=False))
    listing = client.get("/ui/campaigns").text
    assert "春节&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#34;" in listing
    campaign = client.get("/ui/campaigns/evil-1")
    assert campaign.status_code == 200 and "<script>alert" not in campaign.text
    category = "食品" + EVIL
    reviews = client.get("/ui/reviews", params={"category": category})
    assert reviews.status_code == 200 and "<script>alert" not in reviews.text
    assert 'value="食品&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#34;" selected' in reviews.text
    assert "&lt;script&gt;alert" in client.get("/ui/reviews", params={"category": "食品"}).text  # a snippet


def test_the_campaign_list_is_paged_newest_first(tmp_path: Path) -> None:
    from marketpilot.campaigns.service import create_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state
    from marketpilot.web.views import CAMPAIGNS_PER_PAGE

    settings = get_settings(tmp_path / "home")
    engine = open_state(settings)
    for i in range(CAMPAIGNS_PER_PAGE + 5):
        create_campaign(engine, parse_spec(spec(f"活动{i}")), campaign_id=f"c-{i:03d}")
    client = TestClient(create_app(settings, require_key=False))
    first = client.get("/ui/campaigns").text
    assert first.count('<a href="/ui/campaigns/c-') == CAMPAIGNS_PER_PAGE
    assert first.index("/ui/campaigns/c-054") < first.index("/ui/campaigns/c-010")
    assert "/ui/campaigns/c-000" not in first and 'href="/ui/campaigns?page=2"' in first
    created = re.findall(r"<td>([^<]*UTC)</td>", first)  # to the minute, as `campaign list` prints it
    assert len(created) == CAMPAIGNS_PER_PAGE
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", c) for c in created), created[:2]
    second = client.get("/ui/campaigns", params={"page": 2}).text
    assert second.count('<a href="/ui/campaigns/c-') == 5 and "/ui/campaigns/c-000" in second
    assert second == client.get("/ui/campaigns", params={"page": 99}).text  # past the end: the last page
    for bad in ("abc", "0", "-1"):
        page = client.get("/ui/campaigns", params={"page": bad})
        assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
        assert "page" in page.text and "出错了" in page.text


def test_a_spec_in_chinese_is_set_in_a_font_with_chinese(tmp_path: Path) -> None:
    """A monospace font has no Chinese glyphs: where no system font has them either, the spec's and
    the commands' Chinese showed as boxes unless the bundled CJK font follows in the stack."""
    from marketpilot.campaigns.service import create_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state

    settings = get_settings(tmp_path / "home")
    create_campaign(open_state(settings), parse_spec(spec("春节唤醒")), campaign_id="春节唤醒-1")
    client = TestClient(create_app(settings, require_key=False))
    page = client.get("/ui/campaigns/春节唤醒-1").text
    assert re.search(r"<pre>[^<]*name: 春节唤醒", page)
    rule = re.search(r"pre, code \{ font-family: ([^;]+);", page)
    assert rule, "no font rule for pre and code"
    families = [f.strip().strip('"') for f in rule.group(1).split(",")]
    assert families.index("MarketPilotCJK") > families.index("monospace")
    # no request for /favicon.ico, which this server answers 404 (an error in every browser console)
    assert '<link rel="icon" href="data:,">' in page
    assert client.get("/favicon.ico").status_code == 404


def test_results_this_version_cannot_read_ask_for_a_new_run(tmp_path: Path) -> None:
    settings = get_settings(tmp_path / "home")
    for kind, text in (("uplift", '{"rows": "many"}'), ("budget", ""), ("promo", "\udcff")):
        path = settings.path("decisions", kind, "summary.json")
        path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    settings.path("intel", "segments.json").write_text('{"segments": 4}', encoding="utf-8")
    client = TestClient(create_app(settings, require_key=False))
    decisions = client.get("/ui/decisions")
    assert decisions.status_code == 200 and "Nothing decided yet" not in decisions.text
    for kind in ("uplift", "budget", "promo"):
        assert f"marketpilot decide {kind} …</code> again" in decisions.text
    segments = client.get("/ui/segments")
    assert segments.status_code == 400 and "marketpilot segment` again" in segments.text


def test_long_axes_scroll_instead_of_piling_labels() -> None:
    """Five years of months open on the latest two; 300 price categories on the first 24, the rest a
    slider away. A curve read whole (the Qini chart's 101 depths) keeps its one view."""
    from marketpilot.web.charts import WINDOW, bar, line

    months = [f"{2020 + i // 12}-{i % 12 + 1:02d}" for i in range(60)]
    revenue = line(months, {"revenue": [1.0] * 60}, unit="CNY")
    assert [(z["startValue"], z["endValue"]) for z in revenue["dataZoom"]] == [(36, 59)] * 2
    assert revenue["dataZoom"][1]["endValue"] - revenue["dataZoom"][1]["startValue"] + 1 == WINDOW
    categories = bar([f"类目{i}" for i in range(300)], {"cheapest": [10.0] * 300}, stacked=True)
    assert categories["dataZoom"][0]["startValue"] == 0 and categories["dataZoom"][0]["endValue"] == 23
    assert "dataZoom" not in line([f"{i}%" for i in range(101)], {"A": [0.0] * 101}, scroll=False)
    assert "dataZoom" not in bar(["短信", "邮件"], {"spend": [1.0, 2.0]})


def test_amounts_in_tables_name_their_currency(sample: Settings) -> None:
    """The segment table's AOV and the coupon table's median basket were bare numbers (443, 298.00)
    beside columns that named theirs."""
    from marketpilot.analytics.promo import PromoSpec, plan_promotions

    plan_promotions(sample, PromoSpec(by="all"))
    client = TestClient(create_app(sample, require_key=False))
    assert "<th>客单价 AOV (CNY)</th>" in client.get("/ui/segments").text
    assert "<th>订单中位数 Median basket (CNY)</th>" in client.get("/ui/decisions").text


def test_copy_the_model_will_write_is_not_a_blank_cell(tmp_path: Path) -> None:
    """A variant without text in the spec gets the model's copy at `campaign run`: before that the
    approver saw an empty Text cell, as if the arm would be sent blank."""
    from marketpilot.campaigns.service import create_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state

    settings = get_settings(tmp_path / "home")
    variants = [{"key": "A", "text": "{name}，新春好礼"}, {"key": "B"}]
    channels = [{"name": "export", "variants": variants}]
    create_campaign(open_state(settings), parse_spec(spec("春节", channels=channels)), campaign_id="c-1")
    page = TestClient(create_app(settings, require_key=False)).get("/ui/campaigns/c-1").text
    rows = re.findall(r"<tr><td>export</td><td>(\w)</td>.*?</tr>", page, re.S)
    assert rows == ["A", "B"]
    b_row = page[page.index("<td>B</td>") :].split("</tr>")[0]
    assert "written by the model at <code>campaign run</code>" in b_row


def test_the_layout_fits_a_phone(tmp_path: Path) -> None:
    """At 390 px the seven sections ran off the screen (light links on the light page) and wide tables
    out of their panels: the top bar wraps, a panel scrolls its table, a text box fits the screen."""
    css = TestClient(create_app(get_settings(tmp_path / "home"), require_key=False)).get("/ui/assistant").text
    nav = re.search(r"\n  nav \{(.*?)\}", css, re.S)
    panel = re.search(r"\n  \.panel \{(.*?)\}", css, re.S)
    assert nav and "flex-wrap: wrap" in nav.group(1)
    assert panel and "overflow-x: auto" in panel.group(1)
    assert re.search(r"textarea[^{]*\{[^}]*max-width: 100%", css)


def test_a_question_in_flight_says_what_it_waits_for(tmp_path: Path) -> None:
    """The embedded model answers in minutes on a small machine; all the page showed meanwhile was a
    grey '…' beside a button that looked as clickable as before."""
    page = (
        TestClient(create_app(get_settings(tmp_path / "home"), require_key=False)).get("/ui/assistant").text
    )
    wait = re.search(r'<span id="wait" class="htmx-indicator muted">(.*?)</span>', page, re.S)
    assert wait and "Answering: the local model can take a minute or two" in wait.group(1)
    assert "button:disabled {" in page


def test_decisions_speak_words_in_both_languages(sample: Settings, tmp_path: Path) -> None:
    """The coupon table showed the verdict's identifier (underpowered, too_few_orders) and the price
    chart's legend English alone (cheapest, below market) on a page that is Chinese and English."""
    from marketpilot.analytics.pricing import CompetitorFile, price_report
    from marketpilot.analytics.promo import PromoSpec, plan_promotions
    from marketpilot.data import Store

    promo = plan_promotions(sample, PromoSpec(by="all"))
    with Store.open(sample, read_only=True) as store:
        products = store.query("SELECT product_id, price_minor FROM products ORDER BY product_id LIMIT 10")
    prices = tmp_path / "prices.csv"
    rows = [
        f"{p},天猫,{m / 100 * 1.1:.2f}"
        for p, m in zip(products["product_id"], products["price_minor"], strict=True)
    ]
    prices.write_text("product_id,competitor,price\n" + "\n".join(rows), encoding="utf-8")
    price_report(sample, CompetitorFile(path=prices))
    page = TestClient(create_app(sample, require_key=False)).get("/ui/decisions").text
    (group,) = promo.groups
    verdict = re.findall(r"<td(?: class=\"ok\")?>([^<]*)</td></tr>", page)[-1]
    assert group.verdict not in verdict.split() and " / " in verdict
    legend = [s["name"] for s in chart(page, "price")["series"]]
    assert legend[0] == "最低价 cheapest" and all(re.search(r"[\u4e00-\u9fff]", name) for name in legend)
