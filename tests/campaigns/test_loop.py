"""The whole loop end to end, on SQLite and PostgreSQL: plan (LLM) → create → approve → run (copy by
content's generator) → simulate → track → report (LLM narrative, number-checked) → optimize (LLM rewrite)
→ approve → run again."""

import json
import re

import pandas as pd
import pytest

from llm_server import Reply, json_reply
from marketpilot.campaigns import service
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.optimize import optimize_campaign
from marketpilot.campaigns.planner import plan_campaign
from marketpilot.campaigns.report import write_report
from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
from marketpilot.campaigns.tracking import ingest_file
from marketpilot.errors import ValidationFailed

DRAFT = {
    "name": "春节唤醒沉睡客户",
    "goal": "reactivation",
    "segments": ["沉睡客户"],
    "rfm_classes": [],
    "recency_days_min": 90,
    "product_ids": [],
    "offer": "全场8折",
    "discount": 0.2,
    "channels": ["export"],
    "max_messages": 500,
}
COPY = {
    "variants": [
        {"angle": "benefit", "text": "{name}，新春全场8折，回店看看"},
        {"angle": "seasonal", "text": "{name}，好久不见！新春8折惊喜"},
    ]
}


def grounded_narrative(request: dict) -> Reply:
    facts = request["messages"][-1]["content"]
    lift = re.search(r"lift_pp: (-?[\d.]+)", facts).group(1)
    return Reply(text=f"与对照组相比，转化率提升 {lift} 个百分点，建议继续。")


@pytest.fixture
def uncached(monkeypatch) -> None:
    # Scripted replies differ for the same prompt, so the completion cache must not answer.
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")


@pytest.mark.slow
def test_full_loop(uncached, llm_server, shop_settings, engine) -> None:
    settings = shop_settings
    # Plan: the model's draft is checked against the data; a made-up segment is refused (one the goal
    # names, 沉睡客户, would stand in for it).
    llm_server.script(json_reply(DRAFT | {"segments": ["超级VIP"]}))
    with pytest.raises(ValidationFailed, match="超级VIP"):
        plan_campaign(settings, "春节前唤醒90天未购的客户，预算500条")
    llm_server.script(json_reply(DRAFT))
    plan = plan_campaign(settings, "春节前唤醒90天未购的沉睡客户，预算500条")
    intel = settings.home_dir / "intel"
    seg = pd.read_parquet(intel / "segments.parquet").merge(
        pd.read_parquet(intel / "rfm.parquet")[["customer_id", "recency_days"]], on="customer_id"
    )
    assert plan.audience_size == int(((seg["segment"] == "沉睡客户") & (seg["recency_days"] >= 90)).sum())
    assert plan.spec.caps.max_messages == 500 and plan.language == "zh"

    cid = service.create_campaign(engine, plan.spec, audience_size=plan.audience_size)
    with pytest.raises(Exception, match="not approved"):
        run_campaign(settings, cid)
    service.approve(engine, cid, approver="王经理")
    llm_server.script(json_reply(COPY))
    import datetime as dt

    noon = lambda: dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC)  # noqa: E731
    first = run_campaign(settings, cid, clock=noon)
    assert 0 < first.sent <= 500 and first.plan.llm_calls >= 1 and first.plan.over_budget > 0

    truth = simulate_responses(settings, engine, cid, 1, SimulationConfig(seed=3), spec=plan.spec)
    first_ingest = ingest_file(engine, truth.events_file)
    again = ingest_file(engine, truth.events_file)
    assert first_ingest.new > 0 and again.new == 0 and again.duplicates == first_ingest.received

    llm_server.script(grounded_narrative)
    report = write_report(settings, engine, cid)
    assert report.narrative.source == "llm"
    page = report.path.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 3 and "春节唤醒沉睡客户" in page
    # A narrative with an invented number is regenerated, then replaced by the flagged template. The
    # number has three decimals because no fact shows more than two ("99.9" is true of a p-value near 0.999).
    llm_server.script("转化率提升 37.125 个百分点。", "转化率提升 37.125 个百分点。")
    fallback = write_report(settings, engine, cid)
    assert fallback.narrative.source == "template" and any("37.125" in r for r in fallback.narrative.rejected)
    assert "模板生成" in fallback.path.read_text(encoding="utf-8")

    llm_server.script(*[json_reply({"text": "{name}，新春8折好礼，快来选购"})] * 2)
    proposal = optimize_campaign(settings, engine, cid)
    assert proposal.version == 2 and any("weights" in c for c in proposal.changes)
    spec2, _ = service.get_spec(engine, cid)
    assert spec2.assignment == "thompson"
    service.approve(engine, cid, approver="王经理")
    later = lambda: dt.datetime(2026, 2, 20, 4, tzinfo=dt.UTC)  # noqa: E731
    second = run_campaign(settings, cid, clock=later)
    assert second.version == 2 and second.sent > 0

    trail = service.audit_trail(engine, cid)
    assert len(trail["versions"]) == 2 and len(trail["approvals"]) == 2
    assert set(trail["variants"]["status"]) >= {"accepted"} and len(trail["briefs"]) >= 2
    assert len(trail["messages"]) == first.sent + second.sent
    # The holdout is the holdout in every version of a campaign.
    arms = trail["assignments"].pivot(index="customer_id", columns="version", values="arm").dropna()
    assert len(arms) > 100 and ((arms[1] == "holdout") == (arms[2] == "holdout")).all()
    json.dumps(report.metrics.model_dump(mode="json"))


@pytest.mark.slow
def test_demo_loop_on_the_sample_shop_with_intel_outputs(settings) -> None:
    """`run_campaign_loop` as `marketpilot demo` runs it: sample shop, intel's real RFM and segments."""
    from marketpilot.analytics.rfm import run_rfm
    from marketpilot.analytics.segments.service import run_segmentation
    from marketpilot.campaigns.loop import run_campaign_loop
    from marketpilot.data.sample import make_sample

    make_sample(settings, customers=800, seed=1)
    run_rfm(settings)
    run_segmentation(settings, personas=False)
    summary = run_campaign_loop(settings, use_llm=False, campaign_id="demo-test")
    first, second = summary.iterations
    assert first.sent > 500 and second.version == 2 and second.sent > 0
    assert first.lift_ci_pp[0] <= first.true_lift_pp <= first.lift_ci_pp[1]
    assert any("thompson" in c for c in summary.changes)
    assert all(i.report.exists() for i in summary.iterations)
