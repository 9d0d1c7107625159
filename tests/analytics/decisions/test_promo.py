"""Coupon design: thresholds, deadweight and break-even lifts recomputed independently from the real
UCI Online Retail invoices; margins from a generated shop's catalogue costs; per-segment designs after
`intel`; the test's sample sizes against the textbook formula; named errors."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.decision_report import promo_facts, write_decision_report
from marketpilot.analytics.power import customers_per_arm, detectable_lift
from marketpilot.analytics.promo import VERDICTS, PromoSpec, panel_title, plan_promotions, round_up
from marketpilot.analytics.segments.service import run_segmentation
from marketpilot.cli import app, run_app
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store
from marketpilot.errors import ProviderError, UserError


def test_sample_sizes_match_the_textbook_and_invert() -> None:
    # 10 % → 12 %, α 0.05 two-sided, power 0.8: 3,841 per arm (Fleiss, no continuity correction).
    assert customers_per_arm(0.10, 0.20) == 3841
    lift = detectable_lift(0.05, 10_000)
    assert lift is not None and 0.1 < lift < 0.3
    assert customers_per_arm(0.05, lift) <= 10_000 < customers_per_arm(0.05, lift * 0.99)
    assert detectable_lift(0.01, 2) is None  # not even 1 % → 100 % shows with 2 customers per arm


@pytest.mark.parametrize(("x", "expected"), [(173.2, 200), (201, 250), (100, 100), (0.7, 0.8), (8.01, 10)])
def test_thresholds_are_round_amounts(x: float, expected: float) -> None:
    assert round_up(x) == pytest.approx(expected)


def _invoice_baskets(sales: pd.DataFrame) -> np.ndarray:
    """The amounts of the invoices of identified customers in the last 12 months that their returns did
    not wholly undo (the purchase rule recomputed from the CSV: `online_retail_sales`)."""
    per_invoice = sales[~sales["undone"] & (sales["value"] >= 0)]
    last = per_invoice["at"].max().normalize()
    since = last - pd.DateOffset(months=12) + pd.Timedelta(days=1)
    return per_invoice.loc[per_invoice["at"] >= since, "value"].to_numpy()


def test_real_invoices_give_the_threshold_and_economics_recomputed_by_hand(
    online_retail_settings: Settings, online_retail_sales: pd.DataFrame
) -> None:
    plan = plan_promotions(online_retail_settings, PromoSpec(by="all", margin=0.4))
    (group,) = plan.groups
    baskets = _invoice_baskets(online_retail_sales)
    assert group.orders == pytest.approx(baskets.size, rel=0.002)
    # The smallest round amount ≥ the median that at most 30 % of invoices reach.
    ladder = [m * 10**k for k in range(0, 5) for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8)]
    expected = min(t for t in ladder if t >= np.median(baskets) and (baskets >= t).mean() <= 0.3)
    assert group.threshold == pytest.approx(expected)
    assert group.deadweight_share == pytest.approx((baskets >= expected).mean(), abs=0.003)
    shallow = group.shallow
    assert shallow is not None and shallow.depth >= 0.08 and shallow.margin_left >= 0.15
    above = baskets[baskets >= expected]
    by_hand = (above.size / baskets.size) * shallow.amount / (0.4 * above.mean() - shallow.amount)
    assert shallow.break_even_lift == pytest.approx(by_hand, rel=0.01)
    assert group.deep is not None and group.deep.amount > shallow.amount
    assert group.deep.break_even_lift > shallow.break_even_lift  # deeper costs more per deadweight order
    assert group.verdict in ("test", "underpowered")
    assert Path(plan.chart_path).stat().st_size > 10_000
    table = pd.read_csv(plan.table_csv, encoding="utf-8-sig")
    assert table.loc[0, "shallow_coupon"] == f"满{expected:g}减{shallow.amount:g}"


def test_margins_unknown_without_costs_are_asked_for(online_retail_settings: Settings) -> None:
    with pytest.raises(UserError, match="cost for only 0%") as error:
        plan_promotions(online_retail_settings, PromoSpec(by="all"))
    assert "--margin" in (error.value.hint or "")


@pytest.fixture(scope="module")
def segmented_shop(shop_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A copy of the generated shop (costs and coupons in its orders) with segments from intel."""
    home = tmp_path_factory.mktemp("promo_shop") / "home"
    shutil.copytree(shop_settings.home_dir, home, ignore=shutil.ignore_patterns("intel", "*.wal"))
    settings = get_settings(home)
    run_segmentation(settings, k=4, personas=False, report=False)
    return settings


def test_segment_coupons_keep_the_catalogue_margin(segmented_shop: Settings) -> None:
    plan = plan_promotions(segmented_shop)
    assert plan.margin_source == "catalogue costs" and len(plan.groups) == 4
    assert plan.margin_basis == "margins from the catalogue's costs"
    with Store.open(segmented_shop, read_only=True) as store:
        lines = store.con.sql(
            "SELECT i.quantity * i.unit_price_minor AS price, i.quantity * p.cost_minor AS cost "
            "FROM order_items i JOIN products p USING (product_id) JOIN orders o USING (order_id) "
            "WHERE i.quantity > 0 AND o.status = 'completed' AND p.cost_minor IS NOT NULL"
        ).df()
    store_margin = 1 - lines["cost"].sum() / lines["price"].sum()
    weights = np.array([g.orders for g in plan.groups], dtype=float)
    mean_margin = np.average([g.margin for g in plan.groups], weights=weights)
    assert mean_margin == pytest.approx(store_margin, abs=0.03)
    assert plan.store_discounted_order_share > 0  # the shop's orders carry coupons
    for g in plan.groups:
        for arm in (g.shallow, g.deep):
            if arm is not None:
                assert arm.margin_left >= 0.15
                assert arm.amount == pytest.approx(arm.depth * g.threshold, abs=0.5)
        if g.verdict == "full_price_buyers":
            assert g.discounted_order_share < 0.5 * plan.store_discounted_order_share
    segments = pd.read_parquet(segmented_shop.path("intel", "segments.parquet"))
    assert sum(g.customers for g in plan.groups) == len(segments)
    # The chart's panels say the verdict in the shop's words, not its identifier (too_few_orders).
    assert segmented_shop.language == "zh"
    for g in plan.groups:
        title = panel_title(g, "zh")
        assert title.startswith(f"{g.group}\n") and title.endswith(VERDICTS["zh"][g.verdict])
        assert g.verdict not in title


def test_promo_report_quotes_the_coupons(segmented_shop: Settings) -> None:
    plan = plan_promotions(segmented_shop, PromoSpec(by="rfm_class", min_depth=0.05))
    facts, names = promo_facts(plan, "zh")
    designed = [g for g in plan.groups if g.verdict in ("test", "underpowered")]
    assert designed, [g.verdict for g in plan.groups]
    path, narrative = write_decision_report(
        segmented_shop, "promo", facts, language="zh", chart=plan.chart_path, client=_Offline(), names=names
    )
    body = path.read_text("utf-8")
    assert narrative.source == "template"
    for g in designed:
        assert g.shallow is not None and g.shallow.label(g.threshold) in body
    assert "重要价值客户 (important_value)·浅券盈亏平衡所需订单增幅（%）" in body and "baskets.png" in body


class _Offline:
    """An LLM client whose server is down (the narrative must fall back to the template)."""

    def complete(self, *args: object, **kwargs: object) -> object:
        raise ProviderError("connection refused")


def test_cli_json_and_named_errors(
    online_retail_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    home = str(online_retail_settings.home_dir)
    argv = ["marketpilot", "decide", "promo", "--by", "all", "--margin", "0.35", "--home", home]
    monkeypatch.setattr(sys, "argv", [*argv, "--json"])
    assert run_app(app) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["margin_source"] == "--margin" and out["groups"][0]["margin"] == 0.35
    assert out["margin_basis"] == "margin 35 % given"
    # the table's title says where the margins come from in words, not as the option's name
    monkeypatch.setattr(sys, "argv", argv)
    assert run_app(app) == 0
    table = capsys.readouterr().out
    assert "(margin 35 % given)" in " ".join(table.split()) and "--margin" not in table
    # --max-lift (docs/decisions.md): a break-even lift above it is `implausible_lift`
    monkeypatch.setattr(sys, "argv", [*argv, "--max-lift", "0.0001", "--json"])
    assert run_app(app) == 0
    assert json.loads(capsys.readouterr().out)["groups"][0]["verdict"] == "implausible_lift"
    for bad, message in (
        (["--min-depth", "2"], "--min-depth"),
        (["--by", "brand"], "--by"),
        (["--max-lift", "0"], "--max-lift"),
    ):
        monkeypatch.setattr(sys, "argv", [*argv, *bad])
        assert run_app(app) == 2
        assert message in capsys.readouterr().err
    monkeypatch.setattr(sys, "argv", ["marketpilot", "decide", "promo", "--home", str(tmp_path / "new")])
    assert run_app(app) == 2
    assert "marketpilot segment" in capsys.readouterr().err


def test_each_coupon_becomes_a_campaign_for_exactly_its_group(segmented_shop: Settings) -> None:
    from marketpilot.campaigns.copy import brief_for
    from marketpilot.campaigns.planner import validate_against_data
    from marketpilot.campaigns.spec import load_spec
    from marketpilot.content.guardrails import check_copy

    plan = plan_promotions(segmented_shop)
    designed = [g for g in plan.groups if g.verdict in ("test", "underpowered")]
    assert designed and set(plan.campaign_specs) == {g.group for g in designed}
    segments = pd.read_parquet(segmented_shop.path("intel", "segments.parquet")).astype({"segment": str})
    for g in designed:
        assert g.shallow is not None and g.threshold is not None
        path = plan.campaign_specs[g.group]
        assert "marketpilot campaign create --spec" in path.read_text("utf-8")
        spec = load_spec(path)
        assert spec.audience.segments == [g.key]
        assert (spec.offer.coupon_threshold, spec.offer.coupon_amount) == (g.threshold, g.shallow.amount)
        assert spec.offer.break_even_lift == g.shallow.break_even_lift  # the campaign report judges by it
        if g.deep is not None:  # both depths are arms of one campaign, against one holdout
            assert spec.arms == ["shallow", "deep"] and spec.holdout_share == pytest.approx(1 / 3, abs=1e-3)
            assert spec.offer_for("deep").coupon_amount == g.deep.amount
            assert spec.break_evens() == {
                "shallow": g.shallow.break_even_lift,
                "deep": g.deep.break_even_lift,
            }
        else:
            assert spec.arms == [] and spec.break_evens() == {"treatment": g.shallow.break_even_lift}
        problems, size = validate_against_data(segmented_shop, spec)
        assert problems == [] and 0 < size <= (segments["segment"] == g.key).sum()
    # The copy of each arm is held to its own coupon.
    g = next(g for g in designed if g.deep is not None)
    assert g.shallow is not None and g.deep is not None
    spec = load_spec(plan.campaign_specs[g.group])
    shallow, deep = (brief_for(segmented_shop, spec, spec.channels[0], arm) for arm in ("shallow", "deep"))
    quote = "满{:g}减{:g}，领券下单更划算".format
    assert check_copy(quote(g.threshold, g.shallow.amount), shallow).ok
    assert check_copy(quote(g.threshold, g.deep.amount), deep).ok
    assert not check_copy(quote(g.threshold, g.deep.amount), shallow).ok
    assert not check_copy(quote(g.threshold, g.shallow.amount), deep).ok
    # A later run with a narrower design removes the specs of groups it no longer offers a coupon.
    narrower = plan_promotions(segmented_shop, PromoSpec(min_margin=0.45))
    assert all(p.exists() for p in narrower.campaign_specs.values())
    assert not any(p.exists() for k, p in plan.campaign_specs.items() if k not in narrower.campaign_specs)


def test_a_coupon_amount_must_sit_below_its_threshold() -> None:
    from marketpilot.campaigns.spec import Offer

    assert Offer(coupon_threshold=300, coupon_amount=50).coupon_amount == 50
    with pytest.raises(ValueError, match="not below the threshold"):
        Offer(coupon_threshold=300, coupon_amount=300)
    with pytest.raises(ValueError, match="needs a coupon_amount"):
        Offer(coupon_threshold=300)
