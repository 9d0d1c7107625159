"""Coupon depths as arms of one campaign: each arm's copy is held to its own coupon, its conversions
cost its own amount, and the report and `optimize` judge each depth against its own break-even lift,
all against one shared holdout."""

import datetime as dt
import json
import re

import pytest
from campaign_shop import build_shop, export_spec, launch
from fastapi.testclient import TestClient
from sqlalchemy import select

from llm_server import json_reply
from marketpilot.analytics.promo import coupon_amount
from marketpilot.api import create_app
from marketpilot.campaigns.copy import used_copy
from marketpilot.campaigns.measure import measure
from marketpilot.campaigns.optimize import MIN_WEIGHT, optimize_campaign
from marketpilot.campaigns.planner import validate_against_data
from marketpilot.campaigns.report import depth_lines, facts, write_report
from marketpilot.campaigns.service import get_spec
from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.db import open_state
from marketpilot.campaigns.state.models import VariantRecord
from marketpilot.campaigns.tracking import ingest_file
from marketpilot.config import get_settings
from marketpilot.errors import ValidationFailed

SHALLOW = {
    "description": "满300减20",
    "coupon_threshold": 300,
    "coupon_amount": 20,
    "cost_per_conversion": 20,
}
DEEP = {"description": "满300减50", "coupon_threshold": 300, "coupon_amount": 50, "cost_per_conversion": 50}


def _arms(shallow_be: float, deep_be: float, wrong: bool = False) -> list[dict]:
    variants = [
        {
            "key": "shallow",
            "text": "{name}，满300减20，回店看看",
            "offer": SHALLOW | {"break_even_lift": shallow_be},
        },
        {"key": "deep", "text": "{name}，满300减50，回店看看", "offer": DEEP | {"break_even_lift": deep_be}},
    ]
    if wrong:  # quotes the deep coupon on an arm that gets the shallow one
        variants.append({"key": "mislabeled", "text": "{name}，满300减50，快来", "offer": SHALLOW})
    return [{"name": "export", "variants": variants}]


def test_an_arm_has_one_offer_on_every_channel() -> None:
    sms = {"name": "sms", "variants": [{"key": "deep", "offer": SHALLOW}]}
    export = {"name": "export", "variants": [{"key": "deep", "offer": DEEP}]}
    with pytest.raises(ValidationFailed, match="different offers"):
        parse_spec(export_spec(channels=[export, sms]))
    spec = parse_spec(
        export_spec(channels=[export, {"name": "sms", "variants": [{"key": "deep", "offer": DEEP}]}])
    )
    assert spec.offer_for("deep").coupon_amount == 50 and spec.offer_for("other").discount == 0.2
    assert spec.offer_for("deep").depth == pytest.approx(50 / 300) and spec.offer.depth == 0.2


def test_each_coupon_depth_gets_its_own_copy_cost_and_verdict(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
    settings = get_settings(tmp_path / "home")
    build_shop(settings, n=6000, seed=9)
    engine = open_state(settings)
    unknown = [{"key": "deep", "offer": DEEP | {"product_ids": ["NO-SUCH"]}}]
    problems, _ = validate_against_data(
        settings, parse_spec(export_spec(audience={}, channels=[{"name": "export", "variants": unknown}]))
    )
    assert "variants.deep.offer.product_ids: no product 'NO-SUCH'" in problems
    # The shallow coupon needs +150 % orders to pay, the deep one +5 %.
    spec = export_spec(
        name="满减券深度测试", audience={}, holdout_share=0.34, channels=_arms(1.5, 0.05, True)
    )
    cid, _ = launch(settings, spec, campaign_id="coupon-depths",
                    clock=lambda: dt.datetime(2026, 3, 1, 4, tzinfo=dt.UTC))  # fmt: skip
    with engine.connect() as con:
        audit = dict(
            con.execute(
                select(VariantRecord.variant_key, VariantRecord.status).where(
                    VariantRecord.campaign_id == cid
                )
            ).all()
        )
    assert audit == {"shallow": "accepted", "deep": "accepted", "mislabeled": "rejected"}

    current, version = get_spec(engine, cid)
    truth = simulate_responses(
        settings, engine, cid, version, SimulationConfig(seed=4, effects={"deep": 0.08}), spec=current
    )
    ingest_file(engine, truth.events_file)
    # The deeper coupon moves more customers even without a copy effect.
    assert truth.true_variant_lift["deep"] > truth.true_variant_lift["shallow"] > 0

    metrics = measure(engine, cid)
    by_arm = {a.arm: a for a in metrics.arms}
    assert by_arm["shallow"].cost == by_arm["shallow"].converters * 20
    assert by_arm["deep"].cost == by_arm["deep"].converters * 50
    assert by_arm["holdout"].cost == 0 and metrics.total_cost == by_arm["shallow"].cost + by_arm["deep"].cost

    report = write_report(settings, engine, cid, use_llm=False)
    f = facts(report.metrics, "zh", current.break_evens())
    assert f["variant_shallow_offer_verdict"].startswith("优惠不划算")
    assert f["variant_deep_offer_verdict"].startswith("优惠值得")
    page = report.path.read_text(encoding="utf-8")
    assert "shallow：盈亏平衡所需订单增幅 150.0%" in page and "deep：盈亏平衡所需订单增幅 5.0%" in page
    assert "deep (满300减50)" in page
    # The dashboard's campaign page shows the same results: arms, lift, whether each depth paid.
    dashboard = TestClient(create_app(settings, require_key=False)).get(f"/ui/campaigns/{cid}")
    assert dashboard.status_code == 200 and "效果 Results" in dashboard.text
    lift = next(v for v in report.metrics.variant_lift if v.arm == "deep")
    assert (
        f"{100 * lift.absolute:+.2f} ({100 * lift.ci_low:+.2f}, {100 * lift.ci_high:+.2f})" in dashboard.text
    )
    assert "deep：盈亏平衡所需订单增幅 5.0%" in dashboard.text and 'id="conversion"' in dashboard.text
    # Break-evens that fall with depth (1.5 then 0.05) fit no deadweight and margin: no depth advice.
    assert "优惠力度" not in page and depth_lines(current, report.metrics) == []
    # Break-evens as decide promo writes them (a third of orders reach 300, an added order earns 150):
    # the measured growths place the most profitable depth between no coupon and past the deep one.
    consistent = current.model_copy(deep=True)
    for variant in consistent.channels[0].variants:
        if variant.offer is not None:
            d = variant.offer.depth
            variant.offer.break_even_lift = 0.3 * d / (0.5 - d)
    (line,) = depth_lines(consistent, report.metrics)
    assert line.startswith("优惠力度：按 2 档实测的订单响应") and "利润最高的力度约为" in line
    depth = r"(满300减\d+|不发优惠)"
    assert re.search(rf"约为 {depth}（80% 的可能在 {depth} 至 {depth} 之间", line)

    # The next version keeps the depth that pays and starves the one that does not; conversions alone
    # would always crown the deepest coupon, so no Thompson switch and no copy rewritten across offers.
    proposal = optimize_campaign(settings, engine, cid, rewrite=True)
    assert proposal.llm_calls == 0
    nxt, _ = get_spec(engine, cid, proposal.version)
    weights = {v.key: v.weight for v in nxt.channels[0].variants}
    assert weights["shallow"] == MIN_WEIGHT and weights["deep"] == 1.0
    assert nxt.assignment == "fixed"
    assert any("offers that pay: deep" in c for c in proposal.changes)


def test_copy_the_model_writes_is_asked_and_checked_per_offer(tmp_path, monkeypatch, llm_server) -> None:
    monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")  # the two prompts differ only in the coupon
    settings = get_settings(tmp_path / "home")
    build_shop(settings, n=300, seed=1)
    llm_server.script(
        json_reply({"variants": [{"angle": "benefit", "text": "{name}，满300减20，回店看看"}]}),
        # the deep arm's first answer quotes the shallow coupon: the guardrails send it back
        json_reply({"variants": [{"angle": "benefit", "text": "{name}，满300减20，快来"}]}),
        json_reply({"variants": [{"angle": "benefit", "text": "{name}，满300减50，快来"}]}),
    )
    arms = [{"key": "shallow", "offer": SHALLOW}, {"key": "deep", "offer": DEEP}]
    cid, result = launch(settings, export_spec(audience={}, channels=[{"name": "export", "variants": arms}]))
    assert result.plan.llm_calls == 3
    used = used_copy(open_state(settings), cid, 1)["export"]
    assert "满300减20" in used["shallow"].text and "满300减50" in used["deep"].text
    asked = [json.dumps(r["messages"], ensure_ascii=False) for r in llm_server.requests]
    assert "优惠券：满300减20" in asked[0] and "满300减50" not in asked[0]
    assert all("优惠券：满300减50" in a for a in asked[1:])  # the deep arm's ask and its repair


def test_opted_out_customers_get_copy_true_to_their_arms_offer(tmp_path, monkeypatch) -> None:
    """The generic (PIPL Art. 24) text is one for every arm: quoting one arm's coupon, it would tell the
    other arm's opted-out customers the wrong amount, so it is refused and they get their own arm's
    copy with neutral wording; a text true of every offer is sent to all of them."""
    from marketpilot.campaigns.state.models import MessageRecord
    from marketpilot.privacy.consent import record_consent

    monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
    settings = get_settings(tmp_path / "home")
    shop = build_shop(settings, n=400, seed=3)
    engine = open_state(settings)
    opted = shop["customer_id"].iloc[:200].tolist()
    record_consent(engine, opted, "personalisation", "revoked", source="隐私设置")

    def sent(generic: str) -> tuple[tuple[str, str], dict[str, str], list]:
        channels = _arms(0.02, 0.06)
        # a second arm with the deep coupon: the generic text is checked once against that offer
        channels[0]["variants"].append(
            {"key": "deep2", "text": "{name}，满300减50，别错过", "offer": DEEP | {"break_even_lift": 0.06}}
        )
        channels[0]["generic"] = {"key": "generic", "text": generic}
        cid, _ = launch(settings, export_spec(audience={}, holdout_share=0.0, channels=channels))
        with engine.connect() as con:
            rows = con.execute(
                select(MessageRecord.customer_id, MessageRecord.variant_key, MessageRecord.body).where(
                    MessageRecord.campaign_id == cid, MessageRecord.customer_id.in_(opted)
                )
            ).all()
            audit = con.execute(
                select(VariantRecord.status, VariantRecord.rejection_reasons).where(
                    VariantRecord.campaign_id == cid, VariantRecord.variant_key == "generic"
                )
            ).one()
        return audit, {arm: body for _, arm, body in rows}, rows

    (status, reasons), bodies, rows = sent("新春满300减20，欢迎回店看看")
    assert status == "rejected" and reasons.startswith("deep, deep2: ") and "shallow" not in reasons
    assert reasons.count("deep2") == 1
    assert {arm for _, arm, _ in rows} == {"shallow", "deep", "deep2"} and len(rows) > 100
    assert {body for _, arm, body in rows if arm == "deep"} == {"亲，满300减50，回店看看"}
    assert {body for _, arm, body in rows if arm == "deep2"} == {"亲，满300减50，别错过"}
    assert {body for _, arm, body in rows if arm == "shallow"} == {"亲，满300减20，回店看看"}

    (status, _), bodies, rows = sent("新春好物上新，欢迎回店看看")
    assert status == "accepted" and set(bodies.values()) == {"新春好物上新，欢迎回店看看"}


def test_optimize_adds_the_depth_the_measured_arms_advise(tmp_path, monkeypatch) -> None:
    """Orders that grow in proportion to depth (3 × depth) with break-evens as decide promo writes them
    (w = 0.3, k = 0.5) put the most profitable depth at (3k − w) / 6 = 0.2 of the threshold, past the
    deep coupon: the next version tests it as a new arm, with the copy of the nearest arm and the
    break-even its economics imply."""
    from marketpilot.campaigns.optimize import _add_advised_depth
    from marketpilot.campaigns.report import depth_advice

    monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
    settings = get_settings(tmp_path / "home")
    build_shop(settings, n=6000, seed=9)
    engine = open_state(settings)
    channels = _arms(0.3 * (20 / 300) / (0.5 - 20 / 300), 0.3 * (50 / 300) / (0.5 - 50 / 300))
    spec = export_spec(name="满减券深度", audience={}, holdout_share=0.34, channels=channels)
    cid, _ = launch(settings, spec, campaign_id="depth-advice")
    current, version = get_spec(engine, cid)
    truth = simulate_responses(
        settings, engine, cid, version, SimulationConfig(seed=5, offer_boost=3.0), spec=current
    )
    ingest_file(engine, truth.events_file)
    advice = depth_advice(current, measure(engine, cid))
    assert advice is not None
    assert advice.response.deadweight == pytest.approx(0.3) and advice.response.margin_ratio == pytest.approx(
        0.5
    )
    amount = coupon_amount(advice.response.best_depth * 300)
    assert amount not in (20, 50)

    proposal = optimize_campaign(settings, engine, cid, rewrite=False)
    nxt, _ = get_spec(engine, cid, proposal.version)
    new = {v.key: v for v in nxt.channels[0].variants}[f"depth-{round(amount / 3)}"]
    assert new.offer.coupon_threshold == 300 and new.offer.coupon_amount == amount
    assert new.offer.description == f"满300减{amount:g}" and new.offer.cost_per_conversion == amount
    d = amount / 300
    assert new.offer.break_even_lift == pytest.approx(0.3 * d / (0.5 - d), abs=1e-4)
    nearest = "deep" if abs(d - 50 / 300) < abs(d - 20 / 300) else "shallow"
    old = {"deep": "满300减50", "shallow": "满300减20"}[nearest]
    assert new.text == {v.key: v for v in nxt.channels[0].variants}[nearest].text.replace(
        old, f"满300减{amount:g}"
    )
    assert any(c.startswith(f"export/{new.key}: new arm 满300减{amount:g}") for c in proposal.changes)
    assert validate_against_data(settings, nxt)[0] == []
    # Copy that does not quote the offer as its label reads is left to the model; arms that carry
    # discounts get a new depth in steps of 5 %.
    discounts = nxt.model_copy(deep=True)
    discounts.channels[0].variants = [
        v for v in discounts.channels[0].variants if v.key in ("shallow", "deep")
    ]
    for variant in discounts.channels[0].variants:
        assert variant.offer is not None
        variant.offer = variant.offer.model_copy(
            update={"coupon_threshold": None, "coupon_amount": None, "discount": variant.offer.depth}
        )
    (line,) = _add_advised_depth(settings, discounts, measure(engine, cid, 1), 1)
    added = discounts.channels[0].variants[-1]
    assert added.offer.discount == pytest.approx(round(advice.response.best_depth / 0.05) * 0.05)
    assert added.text is None and line.endswith("copy written by the model at run time")
