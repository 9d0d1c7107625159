"""An arm the model wrote no usable copy for on a channel: said in the run result and the CLI, recorded
in the audit trail, left out of that channel (its share goes to the channel's other arms), and measured
so that the uneven channel mix this leaves neither biases the arms' lifts nor trips the SRM check."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from llm_server import json_reply
from marketpilot.campaigns import service
from marketpilot.campaigns.copy import resolve_copy
from marketpilot.campaigns.measure import measure
from marketpilot.campaigns.report import write_report
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import Assignment, VariantRecord
from marketpilot.campaigns.tracking import ingest_events
from marketpilot.cli import app

GENERATED = "{name}，好久不见！新春8折惊喜"


@pytest.fixture
def uncached(monkeypatch) -> None:
    # Replies are scripted per test, so the completion cache must not answer from another test.
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")


def _spec() -> dict:
    """Export copy given for A and B; SMS copy for both left to the model. SMS is the cheaper channel,
    so customers with a phone get it and the others the export."""
    return {
        "name": "春节唤醒",
        "goal": "reactivation",
        "audience": {},
        "offer": {"description": "全场8折", "discount": 0.2},
        "holdout_share": 0.2,
        "channels": [
            {
                "name": "export",
                "cost": 0.2,
                "variants": [
                    {"key": "A", "text": "{name}，新春全场8折，回店看看"},
                    {"key": "B", "text": "{name}，好久不见！新春8折惊喜"},
                ],
            },
            {"name": "sms", "cost": 0.1, "variants": [{"key": "A"}, {"key": "B"}]},
        ],
    }


def test_an_arm_without_sms_copy_is_named_recorded_left_out_and_measured_fairly(
    uncached, llm_server, shop_settings, engine, sms_gateway
) -> None:
    # SMS asks for two variants; the model writes one, and its top-up repeats it (a near-duplicate).
    llm_server.script(
        json_reply({"variants": [{"angle": "benefit", "text": GENERATED}]}),
        json_reply({"variants": [{"angle": "social_proof", "text": GENERATED}]}),
    )
    spec = parse_spec(_spec())
    cid = service.create_campaign(engine, spec)
    service.approve(engine, cid, approver="测试员")
    home = ["--home", str(shop_settings.home_dir)]
    ran = CliRunner().invoke(app, ["campaign", "run", cid, *home])
    assert ran.exit_code == 0, ran.output
    assert "warning: sms/B has no copy and gets no sms customers" in " ".join(ran.stderr.split())
    assert "asked for 2, got 1 after 1 top-up call" in " ".join(ran.stderr.split())

    # The audit trail: an empty rejected row for sms/B, with the shortfall as its reason.
    with engine.connect() as con:
        rows = con.execute(
            select(VariantRecord.status, VariantRecord.text, VariantRecord.rejection_reasons).where(
                VariantRecord.campaign_id == cid,
                VariantRecord.channel == "sms",
                VariantRecord.variant_key == "B",
            )
        ).all()
    [(status, text, reasons)] = rows
    assert status == "rejected" and text == ""
    assert reasons.startswith("the model's copy fell short (asked for 2, got 1 after 1 top-up call")

    # B gets no SMS customer; the SMS treated all go to A; the holdout is drawn on both channels.
    with engine.connect() as con:
        assigned = pd.DataFrame(
            con.execute(
                select(Assignment.customer_id, Assignment.arm, Assignment.channel).where(
                    Assignment.campaign_id == cid
                )
            ).all()
        )
    arms = assigned.groupby("channel")["arm"].agg(set).to_dict()
    assert arms == {"export": {"A", "B", "holdout"}, "sms": {"A", "holdout"}}

    # A re-plan (after a crash) reuses the recorded copy and still knows why B has none on SMS.
    asked = len(llm_server.requests)
    again = resolve_copy(shop_settings, engine, spec, cid, 1)
    assert len(llm_server.requests) == asked
    assert set(again["sms"].missing) == {"B"} and again["sms"].missing["B"].endswith(
        "its share of sms goes to A"
    )
    assert not again["export"].missing

    # Every SMS customer converts and no export customer does: the copy makes no difference, so each
    # arm's lift must be 0. Pooled over channels, A (mostly SMS) would beat the holdout (the channels'
    # mix) and B (export only) would trail it.
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    sms = assigned[assigned["channel"] == "sms"]
    events = pd.DataFrame(
        {
            "event_id": "conv-" + sms["customer_id"],
            "kind": "conversion",
            "occurred_at": at.isoformat(),
            "customer_id": sms["customer_id"],
            "campaign_id": cid,
            "revenue": "10",
        }
    )
    ingest_events(engine, events)
    metrics = measure(engine, cid, currency=shop_settings.currency)
    lifts = {lift.arm: lift for lift in metrics.variant_lift}
    # A's raw rate is above the whole holdout's: the bias post-stratification removes.
    assert metrics.lift is not None and lifts["A"].rate_treated > metrics.lift.rate_holdout + 0.05
    assert lifts["A"].absolute == pytest.approx(0.0, abs=1e-12)
    assert lifts["A"].revenue_per_customer_diff == pytest.approx(0.0, abs=1e-9)
    assert lifts["B"].absolute == 0.0 and lifts["B"].rate_holdout == 0.0
    # B is measured against the export holdout only: the channel it ran on.
    holdout = assigned[assigned["arm"] == "holdout"]
    assert lifts["B"].customers_holdout == (holdout["channel"] == "export").sum()
    assert lifts["A"].customers_holdout == len(holdout)
    # The pooled lift is untouched: every channel's holdout share is the same.
    assert metrics.lift.customers_holdout == len(holdout)
    # The assignment did what it was meant to (B had no SMS share to get), so no mismatch is flagged.
    assert metrics.srm is not None and not metrics.srm.mismatch
    # Copy is compared per channel: A and B on the export (no conversion there for either), A alone
    # on SMS; no arm-level ranking, since a key is another text on each channel.
    compared = {(p.channel, p.arm): p for p in metrics.posteriors}
    assert set(compared) == {("export", "A"), ("export", "B"), ("sms", "A")}
    assert compared["export", "A"].alpha == compared["export", "B"].alpha == 1.0
    assert compared["sms", "A"].converters == ((sms["arm"] == "A").sum()) > 0
    assert metrics.arm_posteriors == []

    # The report says it too: the arm table alone shows B with fewer customers, not why.
    report = write_report(shop_settings, engine, cid, use_llm=False)
    page = report.path.read_text(encoding="utf-8")
    assert "sms 渠道的 B 组没有文案，未分到该渠道的客户" in page and "fell short" in page
    assert "export 渠道" not in page
