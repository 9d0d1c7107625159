"""Did the offer pay? The campaign report sets the measured relative lift (with its 95 % interval)
against the lift the offer needs to break even, which `decide promo` writes into the spec."""

import datetime as dt

from campaign_shop import build_shop, export_spec, launch

from marketpilot.campaigns.measure import measure
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
    low, high = lift.ci_low / lift.rate_holdout, lift.ci_high / lift.rate_holdout
    assert offer_verdict(lift, low / 2) == "pays"
    assert offer_verdict(lift, high * 2) == "does_not_pay"
    assert offer_verdict(lift, (low + high) / 2) == "undecided"
    assert offer_verdict(lift, None) is None

    report = write_report(settings, engine, cid, use_llm=False)
    expected = offer_verdict(lift, 0.05)
    page = report.path.read_text(encoding="utf-8")
    assert "盈亏平衡所需相对增幅 5.0%" in page
    assert {"pays": "优惠值得", "does_not_pay": "优惠不划算", "undecided": "尚无定论"}[expected] in page
    assert facts(report.metrics, "zh", {"treatment": 0.05})["break_even_relative_lift_percent"] == 5.0
