"""Audience rules evaluated by `AudienceSource` against the intel files and orders they name, each
compared with the same rule applied in pandas to the data itself."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from campaign_shop import (
    LAST_SALE,
    browsed,
    build_shop,
    export_spec,
    kept_buyers,
    write_events,
    write_later_views,
    write_purchases,
    write_returns,
)
from typer.testing import CliRunner

from marketpilot.campaigns.audience import AudienceSource
from marketpilot.campaigns.service import get_spec
from marketpilot.campaigns.spec import AudienceRules, Band, parse_spec
from marketpilot.campaigns.state.db import open_state
from marketpilot.cli import app
from marketpilot.data.store import Store
from marketpilot.errors import UserError, ValidationFailed


@pytest.fixture
def shop(settings) -> pd.DataFrame:
    """The campaign test shop plus intel's churn scores and CLV, one row per customer."""
    frame = build_shop(settings, n=1000, seed=3)
    intel = settings.home_dir / "intel"
    rng = np.random.default_rng(5)
    churn = pd.DataFrame({"customer_id": frame["customer_id"], "p_churn_90d": rng.random(len(frame))})
    churn.to_parquet(intel / "propensity_churn.parquet")
    clv = pd.DataFrame({"customer_id": frame["customer_id"], "clv": rng.gamma(2.0, 300.0, len(frame))})
    clv.to_parquet(intel / "clv.parquet")
    return frame.merge(churn, on="customer_id").merge(clv, on="customer_id").set_index("customer_id")


def selected(settings, **rules: object) -> set[str]:
    return set(AudienceSource(settings).select(AudienceRules(**rules))["customer_id"])


def ids(mask: pd.Series) -> set[str]:
    return set(mask.index[mask])


def test_churn_band_selects_by_intels_churn_score(settings, shop) -> None:
    high = selected(settings, churn=Band(min=0.7))
    assert high == ids(shop["p_churn_90d"] >= 0.7) and 200 < len(high) < 400
    low = selected(settings, churn=Band(max=0.2))
    assert low == ids(shop["p_churn_90d"] <= 0.2)
    # The band is closed: a customer exactly on the edge is in.
    edge = float(shop["p_churn_90d"].iloc[0])
    assert shop.index[0] in selected(settings, churn=Band(min=edge, max=edge))


def test_clv_band_selects_by_predicted_value_and_combines_with_segments(settings, shop) -> None:
    band = selected(settings, clv=Band(min=300.0, max=900.0))
    assert band == ids(shop["clv"].between(300.0, 900.0)) and 0 < len(band) < len(shop)
    both = selected(settings, segments=["高价值"], clv=Band(min=600.0))
    assert both == ids((shop["segment"] == "高价值") & (shop["clv"] >= 600.0))
    assert AudienceSource(settings).count(AudienceRules(clv=Band(min=600.0))) == int(
        (shop["clv"] >= 600.0).sum()
    )


def test_include_adds_customers_outside_the_rules(settings, shop) -> None:
    sleepers = shop.index[shop["segment"] == "沉睡客户"][:25].tolist()
    chosen = selected(settings, segments=["新客"], include=sleepers)
    assert chosen == ids(shop["segment"] == "新客") | set(sleepers)


def test_exclude_removes_customers_and_beats_include(settings, shop) -> None:
    new = shop.index[shop["segment"] == "新客"]
    dropped = new[:30].tolist()
    assert selected(settings, segments=["新客"], exclude=dropped) == set(new) - set(dropped)
    sleeper = shop.index[shop["segment"] == "沉睡客户"][0]
    chosen = selected(settings, segments=["新客"], include=[sleeper, new[0]], exclude=[sleeper, new[0]])
    assert sleeper not in chosen and new[0] not in chosen and len(chosen) == len(new) - 1


def test_a_rule_on_a_missing_intel_file_names_the_command(settings, shop) -> None:
    (settings.home_dir / "intel" / "clv.parquet").unlink()
    with pytest.raises(UserError, match="clv") as raised:
        selected(settings, clv=Band(min=100.0))
    assert "marketpilot clv predict" in str(raised.value.hint)
    # Rules that do not need the file still work.
    assert selected(settings, churn=Band(min=0.7)) == ids(shop["p_churn_90d"] >= 0.7)


def bought_within(lines: pd.DataFrame, names: set[str], days: int | None) -> set[str]:
    """The customers with a completed line in `names` (category or sub-category), in pandas."""
    sale = (lines["status"] == "completed") & (
        lines["category"].isin(names) | lines["subcategory"].isin(names)
    )
    if days is not None:
        sale &= lines["ordered_at"].dt.normalize() >= LAST_SALE.normalize() - pd.Timedelta(days=days)
    return set(lines.loc[sale, "customer_id"])


@pytest.mark.parametrize(("categories", "days"), [(["美妆"], 30), (["美妆"], None), (["Shoes", "面霜"], 45)])
def test_bought_selects_the_buyers_of_a_category_from_the_orders(settings, shop, categories, days) -> None:
    """Seen: "给最近30天买过美妆的客户发短信" had no rule to say it, and reached every customer."""
    lines = write_purchases(settings)
    rule = {"categories": categories} | ({"within_days": days} if days else {})
    chosen = selected(settings, bought=rule)
    # Cancelled and returned orders bought nothing; the window counts back from the last sale day.
    assert chosen == bought_within(lines, set(categories), days) and 0 < len(chosen) < len(shop)
    both = selected(settings, bought=rule, segments=["新客"])
    assert both == chosen & ids(shop["segment"] == "新客")
    assert AudienceSource(settings).categories() == ["Lipstick", "Shoes", "服饰", "美妆", "面霜"]


@pytest.mark.parametrize("days", [30, None])
def test_a_purchase_its_return_undoes_is_not_bought(settings, shop, days) -> None:
    """A customer who bought shoes and sent them back (a return document of negative quantity, as the
    analytics net it) has not bought shoes; one who kept one of two pairs has."""
    sales = write_returns(settings, write_purchases(settings))
    names = {"Shoes", "面霜"}
    undone = set(sales.loc[sales["returned"] == "whole", "customer_id"])
    kept = set(sales.loc[sales["returned"] == "part", "customer_id"])
    buyers = bought_within(sales, names, days)
    assert buyers & undone and buyers & kept
    rule = {"categories": sorted(names)} | ({"within_days": days} if days else {})
    assert selected(settings, bought=rule) == buyers - undone
    assert selected(settings, not_bought=rule) == set(shop.index) - (buyers - undone)


def test_each_category_is_bought_within_its_own_window(settings, shop) -> None:
    """ "30天内买过美妆、60天内买过服饰的" is one rule whose categories keep their own days; a category
    without days is bought ever."""
    lines = write_purchases(settings)
    rule = {"categories": ["美妆", "服饰", "面霜"], "windows": {"美妆": 30, "服饰": 60}}
    buyers = bought_within(lines, {"美妆"}, 30) | bought_within(lines, {"服饰"}, 60)
    buyers |= bought_within(lines, {"面霜"}, None)
    # the windows differ where it matters: buyers of 服饰 31–60 days back are in, of 美妆 are not
    assert bought_within(lines, {"服饰"}, 60) - bought_within(lines, {"服饰"}, 30)
    assert bought_within(lines, {"美妆"}, 60) - buyers
    assert selected(settings, bought=rule) == buyers
    assert selected(settings, not_bought=rule) == set(shop.index) - buyers


@pytest.mark.parametrize(
    "windows",
    [
        {"美妆": 30, "服饰": 60},  # 30天内买过美妆且60天内买过服饰的
        {"美妆": None, "服饰": None},  # 买过服饰且买过美妆的
        {"Lipstick": None, "面霜": 45},
        {"美妆": None, "Lipstick": None},  # a Lipstick line is both
    ],
)
def test_match_all_selects_the_buyers_of_every_category(settings, shop, windows) -> None:
    """ "买过服饰且买过美妆的" is the customers who bought both, not either; each category keeps its own
    days, purchases netted of their returns. As not_bought, `all` leaves out only those who bought each."""
    sales = write_returns(settings, write_purchases(settings, orders=2))
    per_category = [kept_buyers(sales, name, days) for name, days in windows.items()]
    either, each = set.union(*per_category), set.intersection(*per_category)
    rule = {"categories": list(windows), "windows": {k: v for k, v in windows.items() if v}}
    assert selected(settings, bought=rule) == either
    assert selected(settings, bought=rule | {"match": "all"}) == each
    assert selected(settings, not_bought=rule) == set(shop.index) - either
    assert selected(settings, not_bought=rule | {"match": "all"}) == set(shop.index) - each
    assert AudienceSource(settings).count(AudienceRules(bought=rule | {"match": "all"})) == len(each)
    if "Lipstick" not in windows or "美妆" not in windows:
        assert 0 < len(each) < len(either)  # the readings differ on this shop


@pytest.mark.parametrize(
    ("name", "kind", "rule"),
    [
        ("viewed", "view", {"within_days": 7}),
        ("viewed", "view", {"categories": ["美妆"], "within_days": 30, "without_purchase": True}),
        ("carted", "cart", {"within_days": 30, "without_purchase": True}),
        ("carted", "cart", {"categories": ["Shoes"]}),
    ],
)
def test_browse_rules_select_from_the_behaviour_events(settings, shop, name, kind, rule) -> None:
    """ "最近7天浏览过但没购买的": the viewers (or carters) in the window, less those who bought the same
    in it; a purchase sent back whole is none."""
    lines = write_purchases(settings)
    events = write_events(settings, lines)
    sales = write_returns(settings, lines)
    chosen = selected(settings, **{name: rule})
    assert chosen == browsed(events, sales, kind, rule) and 0 < len(chosen) < len(shop)
    if rule.get("without_purchase"):
        assert browsed(events, sales, kind, rule | {"without_purchase": False}) - chosen  # buyers left out
    both = selected(settings, **{name: rule}, segments=["新客"])
    assert both == chosen & ids(shop["segment"] == "新客")


def views_by_what_was_bought(events: pd.DataFrame, sales: pd.DataFrame) -> pd.DataFrame:
    """Each view event with the customer's kept purchases (completed, not returned whole) of the same
    product on its day or later (`same_after`), of another product on its day or later
    (`other_after`), and of the same product before its day (`same_before`)."""
    views = events[events["event_type"] == "view"].assign(day=lambda t: t["occurred_at"].dt.normalize())
    kept = sales[(sales["status"] == "completed") & (sales["returned"] != "whole")]
    kept = kept.assign(bought=kept["ordered_at"].dt.normalize())[["customer_id", "product_id", "bought"]]
    pairs = views.reset_index().merge(kept, on="customer_id", suffixes=("", "_bought"))
    same, after = pairs["product_id"] == pairs["product_id_bought"], pairs["bought"] >= pairs["day"]
    flags = {"same_after": same & after, "other_after": ~same & after, "same_before": same & ~after}
    for name, mask in flags.items():
        views[name] = views.index.isin(pairs.loc[mask, "index"])
    return views


def test_without_purchase_reads_each_view_against_its_own_product_bought_after(settings, shop) -> None:
    """ "浏览过但没购买的" is per view: a customer who viewed A and then bought A is out; one who viewed A
    and bought B is in, and so is one who bought A earlier and viewed it again without buying it. Before,
    any purchase (of the same category) dropped the customer: the last two were read as bought."""
    lines = write_purchases(settings)
    events = write_events(settings, lines)
    sales = write_returns(settings, lines)
    views = views_by_what_was_bought(events, sales)
    every_view_bought = views.groupby("customer_id")["same_after"].all()
    bought_after_viewing = set(every_view_bought.index[every_view_bought])
    open_views = views[~views["same_after"]]
    bought_another = set(open_views.loc[open_views["other_after"], "customer_id"])
    bought_before_viewing = set(open_views.loc[open_views["same_before"], "customer_id"])
    assert min(len(bought_after_viewing), len(bought_another), len(bought_before_viewing)) > 20

    chosen = selected(settings, viewed={"without_purchase": True})
    assert (
        chosen == set(open_views["customer_id"]) == browsed(events, sales, "view", {"without_purchase": True})
    )
    assert not chosen & bought_after_viewing
    assert bought_another <= chosen and bought_before_viewing <= chosen

    # Named categories: the product viewed must not be bought after, not the category. Lipstick (P1)
    # viewed, only 面霜 (P2, also 美妆) bought after: in.
    rule = {"categories": ["美妆"], "within_days": 60, "without_purchase": True}
    beauty = selected(settings, viewed=rule)
    assert beauty == browsed(events, sales, "view", rule)
    recent = views["day"] >= views["day"].max() - pd.Timedelta(days=60)
    lipstick = views[recent & (views["product_id"] == "P1") & ~views["same_after"]]
    cream_buyers = set(
        sales.loc[(sales["product_id"] == "P2") & (sales["status"] == "completed"), "customer_id"]
    )
    other_beauty = set(lipstick.loc[lipstick["other_after"], "customer_id"]) & cream_buyers
    assert other_beauty and other_beauty <= beauty


def test_events_that_outrun_the_orders_are_warned_of(settings, shop) -> None:
    """Views after the last order day read as not bought, whatever was bought since (the orders of
    those days are not loaded yet): the rule still evaluates, with a warning naming both days."""
    lines = write_purchases(settings)
    write_events(settings, lines)
    source = AudienceSource(settings)
    rules = AudienceRules(viewed={"within_days": 7, "without_purchase": True})
    assert source.warnings(rules) == []  # events and orders end on the same day
    write_later_views(settings, days=3)
    [warning] = source.warnings(rules)
    assert (
        "audience.viewed: the behaviour events run to 2026-12-03 but the orders only to 2026-11-30" in warning
    )
    [zh] = source.warnings(rules, "zh")
    assert "行为事件截至 2026-12-03，订单只到 2026-11-30" in zh and "“没购买”" in zh
    assert "(50 view events of 50 customers)" in warning
    # only views run past the orders: carts up to the last order day have their purchases loaded
    assert source.warnings(AudienceRules(carted={"without_purchase": True}, viewed={"within_days": 7})) == []
    assert source.warnings(AudienceRules(viewed={"within_days": 7})) == []  # not about purchases
    assert source.count(rules) > 0


def test_campaign_create_passes_the_warning_on_in_the_cli_and_the_api(shop_settings, tmp_path) -> None:
    """Created all the same (the rule evaluates), with the warning on stderr, in --json and the API."""
    from fastapi.testclient import TestClient

    from marketpilot.api.app import create_app

    lines = write_purchases(shop_settings)
    write_events(shop_settings, lines)
    write_later_views(shop_settings, days=2)
    spec = export_spec(audience={"viewed": {"within_days": 7, "without_purchase": True}}, language="en")
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    runner, home = CliRunner(), ["--home", str(shop_settings.home_dir)]
    created = runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home])
    assert created.exit_code == 0, created.output
    said = " ".join(created.stderr.split())
    assert (
        "warning: audience.viewed: the behaviour events run to 2026-12-02 but the orders only to 2026-11-30"
        in said
    )
    as_json = runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home, "--json"])
    [warning] = json.loads(as_json.stdout)["warnings"]
    assert "2026-12-02" in warning and "2026-11-30" in warning
    api = TestClient(create_app(shop_settings, require_key=False))
    posted = api.post("/v1/campaigns", json=spec | {"language": "zh"})
    assert posted.status_code == 201, posted.text
    assert posted.json()["warnings"][0].startswith(
        "audience.viewed：行为事件截至 2026-12-02，订单只到 2026-11-30"
    )


def test_a_browse_rule_without_events_is_refused_not_read_as_nobody(settings, shop) -> None:
    write_purchases(settings)
    with pytest.raises(UserError, match=r"no 'view' behaviour events \(the events table has no rows\)"):
        selected(settings, viewed={"within_days": 7, "without_purchase": True})
    assert len(selected(settings)) == len(shop)  # rules that need no events still work


def test_a_return_of_one_product_of_an_order_leaves_its_other_products_bought(settings) -> None:
    """Seen: an order of shoes and socks whose shoes alone came back still counted as bought shoes
    (the return was netted against the order by value). 甲 sent the shoes back; 乙 kept one pair of
    two; 丙 got money back for a product no order of theirs holds (netted by value, lines untouched)."""
    orders = pd.DataFrame(
        [
            ("S1", "甲", "2026-11-01", "completed", 32000),
            ("S1-R", "甲", "2026-11-05", "returned", -30000),
            ("S2", "乙", "2026-11-01", "completed", 62000),
            ("S2-R", "乙", "2026-11-05", "returned", -30000),
            ("S3", "丙", "2026-11-01", "completed", 32000),
            ("S3-R", "丙", "2026-11-05", "returned", -5000),
        ],
        columns=["order_id", "customer_id", "ordered_at", "status", "total_minor"],
    ).assign(ordered_at=lambda f: pd.to_datetime(f["ordered_at"]), currency="CNY")
    items = pd.DataFrame(
        [
            ("S1", 1, "SH", 1, 30000),
            ("S1", 2, "SO", 1, 2000),
            ("S1-R", 1, "SH", -1, 30000),
            ("S2", 1, "SH", 2, 30000),
            ("S2", 2, "SO", 1, 2000),
            ("S2-R", 1, "SH", -1, 30000),
            ("S3", 1, "SH", 1, 30000),
            ("S3", 2, "SO", 1, 2000),
            ("S3-R", 1, "GC", -1, 5000),
        ],
        columns=["order_id", "line_no", "product_id", "quantity", "unit_price_minor"],
    ).assign(currency="CNY")
    products = pd.DataFrame(
        [
            ("SH", "跑鞋", "鞋靴", "Shoes"),
            ("SO", "棉袜", "服饰", "Socks"),
            ("GC", "礼品卡", "礼品", "Gift card"),
        ],
        columns=["product_id", "name", "category", "subcategory"],
    )
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", pd.DataFrame({"customer_id": ["甲", "乙", "丙"], "is_guest": False}))
        store.upsert("products", products)
        store.upsert("orders", orders)
        store.upsert("order_items", items)
    assert selected(settings, bought={"categories": ["Shoes"]}) == {"乙", "丙"}
    assert selected(settings, not_bought={"categories": ["鞋靴"]}) == {"甲"}
    assert selected(settings, bought={"categories": ["Socks"], "within_days": 30}) == {"甲", "乙", "丙"}
    assert selected(settings, bought={"categories": ["Gift card"]}) == set()


def test_campaign_create_takes_a_category_rule_and_stores_it(shop_settings, tmp_path) -> None:
    lines = write_purchases(shop_settings)
    spec = export_spec(audience={"bought": {"categories": ["美妆"], "within_days": 30}})
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    runner, home = CliRunner(), ["--home", str(shop_settings.home_dir)]
    created = runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home, "--json"])
    assert created.exit_code == 0, created.output
    result = json.loads(created.stdout)
    assert result["audience_size"] == len(bought_within(lines, {"美妆"}, 30)) > 0
    stored, _ = get_spec(open_state(shop_settings), result["campaign_id"])
    assert stored == parse_spec(spec) and stored.audience.bought is not None
    # A category the shop does not sell is refused with the ones it does, one per line.
    spec_file.write_text(yaml.safe_dump(export_spec(audience={"bought": {"categories": ["宠物"]}})), "utf-8")
    failed = runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home])
    assert isinstance(failed.exception, ValidationFailed)
    assert "no product category or sub-category '宠物'" in str(failed.exception)
    assert "已有商品类目:\n      · Lipstick\n      · Shoes\n" in str(failed.exception)
