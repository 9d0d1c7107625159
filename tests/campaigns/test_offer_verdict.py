"""Did the offer pay? The campaign report sets the measured growth in orders (with its 95 % interval)
against the lift the offer needs to break even, which `decide promo` writes into the spec."""

import datetime as dt

import pandas as pd
import pytest
from campaign_shop import build_shop, export_spec, launch

from marketpilot.campaigns.measure import customer_outcomes, measure
from marketpilot.campaigns.report import facts, offer_verdict, write_report
from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
from marketpilot.campaigns.state.db import open_state
from marketpilot.campaigns.tracking import ingest_file
from marketpilot.config import get_settings


def test_the_report_says_whether_the_offer_paid(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
    settings = get_settings(tmp_path / "home")
    build_shop(settings, n=4000, seed=5)
    engine = open_state(settings)
    offer = {
        "description": "满300减30",
        "coupon_threshold": 300,
        "coupon_amount": 30,
        "break_even_lift": 0.05,
    }
    variants = [
        {"key": "A", "text": "{name}，满300减30，回店看看"},
        {"key": "B", "text": "满300立减30，{name}"},
    ]
    channels = [{"name": "export", "variants": variants}]
    spec = export_spec(name="满减券", audience={}, holdout_share=0.3, offer=offer, channels=channels)
    cid, _ = launch(settings, spec, campaign_id="coupon-verdict",
                    clock=lambda: dt.datetime(2026, 3, 1, 4, tzinfo=dt.UTC))  # fmt: skip
    truth = simulate_responses(
        settings, engine, cid, 1, SimulationConfig(seed=2, effects={"A": 0.04, "B": 0.04})
    )
    ingest_file(engine, truth.events_file)
    lift = measure(engine, cid).lift
    assert lift is not None and lift.ci_low > 0
    # The break-even is growth in orders (decide promo's unit): judged on orders per customer.
    low, high = lift.orders_relative_ci_low, lift.orders_relative_ci_high
    assert low is not None and high is not None and low < lift.orders_relative < high
    assert offer_verdict(lift, low / 2) == "pays"
    assert offer_verdict(lift, high * 2) == "does_not_pay"
    assert offer_verdict(lift, (low + high) / 2) == "undecided"
    assert offer_verdict(lift, None) is None

    report = write_report(settings, engine, cid, use_llm=False)
    expected = offer_verdict(lift, 0.05)
    page = report.path.read_text(encoding="utf-8")
    assert "盈亏平衡所需订单增幅 5.0%" in page
    assert {"pays": "优惠值得", "does_not_pay": "优惠不划算", "undecided": "尚无定论"}[expected] in page
    assert facts(report.metrics, "zh", {"treatment": 0.05})["break_even_order_growth_percent"] == 5.0
    # A Chinese report's tables are in Chinese too, the holdout row included.
    assert "<tr><th>组</th><th>客户</th><th>已发送</th>" in page and "<th>收入 (CNY)</th>" in page
    assert "<tr><td>对照组</td>" in page and "<th>arm</th>" not in page and "<th>rate</th>" not in page

    # A treated customer's second order counts as growth in orders, not as another converter.
    events = pd.read_json(truth.events_file, lines=True, dtype={"customer_id": str})
    treated = set(customer_outcomes(engine, cid, 1).query("arm != 'holdout'")["customer_id"])
    again = events[(events["kind"] == "conversion") & events["customer_id"].isin(treated)].copy()
    again["event_id"] += "-second"
    again["occurred_at"] = pd.to_datetime(again["occurred_at"]) + pd.Timedelta(hours=1)
    again["occurred_at"] = again["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    repeat = tmp_path / "repeat.jsonl"
    again.to_json(repeat, orient="records", lines=True, force_ascii=False)
    ingest_file(engine, repeat)
    twice = measure(engine, cid).lift
    assert twice is not None and twice.rate_treated == lift.rate_treated
    assert twice.orders_treated == pytest.approx(2 * lift.orders_treated)
    assert twice.orders_relative == pytest.approx(2 * (1 + lift.orders_relative) - 1)
