"""`campaign optimize` on a spec as the planner writes it (variants without text): the copy the model
wrote for v1 is fixed for v1 and carried into v2 — the winner's text kept, a loser rewritten with the
winner as the example, or kept when the guardrails reject the rewrite (which the audit trail records)."""

import datetime as dt
import hashlib
import json

import pandas as pd
import pytest
from campaign_shop import export_spec, launch
from sqlalchemy import func, select

from llm_server import json_reply
from marketpilot.campaigns import service
from marketpilot.campaigns.copy import resolve_copy, used_copy
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.optimize import optimize_campaign
from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import MessageRecord, VariantRecord
from marketpilot.campaigns.tracking import ingest_file

COPY = {
    "variants": [
        {"angle": "benefit", "text": "{name}，新春全场8折，回店看看"},
        {"angle": "seasonal", "text": "{name}，好久不见！新春8折惊喜"},
        {"angle": "social_proof", "text": "{name}，老顾客都在回购，新春享8折"},
    ]
}
REWRITE = "{name}，新春8折好礼，快来选购"
# An absolute claim (广告法第九条) and a discount the offer does not have: the guardrails refuse it.
BAD_REWRITE = "{name}，全网最低价，全场5折"


@pytest.fixture
def uncached(monkeypatch) -> None:
    # Scripted replies differ for similar prompts, so the completion cache must not answer.
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")


def bodies(engine, cid: str, version: int) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(
            select(MessageRecord.customer_id, MessageRecord.variant_key, MessageRecord.body).where(
                MessageRecord.campaign_id == cid, MessageRecord.version == version
            )
        ).all()
    return pd.DataFrame(rows, columns=["customer_id", "arm", "body"]).set_index("customer_id")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_optimize_carries_the_model_written_copy_into_the_next_version(
    uncached, llm_server, shop_settings, engine
) -> None:
    planned = export_spec(
        audience={}, channels=[{"name": "export", "variants": [{"key": "A"}, {"key": "B"}, {"key": "C"}]}]
    )
    llm_server.script(json_reply(COPY))
    cid, first = launch(shop_settings, planned)
    assert first.plan.llm_calls == 1 and first.sent > 1000
    v1 = {k: v.text for k, v in used_copy(engine, cid, 1)["export"].items()}
    assert sorted(v1) == ["A", "B", "C"] and len(set(v1.values())) == 3

    # The copy is fixed for v1 once resolved: resolving again (a re-plan after a crash) asks no model
    # and records nothing new.
    asked = len(llm_server.requests)
    with engine.connect() as con:
        audited = con.execute(select(func.count()).select_from(VariantRecord)).scalar_one()
    again = resolve_copy(shop_settings, engine, parse_spec(planned), cid, 1)
    assert {k: v.text for k, v in again["export"].variants.items()} == v1
    assert again["export"].llm_calls == 0 and len(llm_server.requests) == asked
    with engine.connect() as con:
        assert con.execute(select(func.count()).select_from(VariantRecord)).scalar_one() == audited

    effects = {"A": 0.0, "B": 0.0, "C": 0.12}
    truth = simulate_responses(
        shop_settings, engine, cid, 1, SimulationConfig(seed=3, effects=effects), spec=parse_spec(planned)
    )
    ingest_file(engine, truth.events_file)
    llm_server.script(json_reply({"text": REWRITE}), json_reply({"text": BAD_REWRITE}))
    proposal = optimize_campaign(shop_settings, engine, cid)
    assert proposal.version == 2 and proposal.llm_calls == 2

    spec2, _ = service.get_spec(engine, cid)
    v2 = {v.key: v.text for v in spec2.channel("export").variants}
    assert v2["C"] == v1["C"]  # the winner keeps the text it won with
    assert v2["A"] == REWRITE != v1["A"]  # a loser rewritten …
    assert v2["B"] == v1["B"]  # … and one whose rewrite was rejected keeps its copy
    # All three are the model's text, so v2 still labels them as AI-generated.
    assert all(v.ai_generated for v in spec2.channel("export").variants)
    rewrite_prompts = [r["messages"][-1]["content"] for r in llm_server.requests[-2:]]
    assert all(v1["C"] in p for p in rewrite_prompts)  # the winner is the example
    assert v1["A"] in rewrite_prompts[0] and v1["B"] in rewrite_prompts[1]
    trail = service.audit_trail(engine, cid)["variants"]
    proposed = trail[(trail["version"] == 2) & (trail["source"] == "optimize")].set_index("variant_key")
    assert proposed.loc["A", "status"] == "accepted" and proposed.loc["A", "text"] == REWRITE
    assert proposed.loc["B", "status"] == "rejected" and proposed.loc["B", "text"] == BAD_REWRITE
    assert "ad_law" in proposed.loc["B", "rejection_reasons"]
    assert "facts" in proposed.loc["B", "rejection_reasons"]
    assert any(c.startswith("export/B: rewrite rejected") for c in proposal.changes)

    # v2 sends exactly that copy, without asking the model again.
    service.approve(engine, cid, approver="王经理")
    asked = len(llm_server.requests)
    later = lambda: dt.datetime(2026, 2, 20, 4, tzinfo=dt.UTC)  # noqa: E731
    second = run_campaign(shop_settings, cid, clock=later)
    assert second.sent > 0 and second.plan.llm_calls == 0 and len(llm_server.requests) == asked
    assert {k: v.text for k, v in used_copy(engine, cid, 2)["export"].items()} == v2
    # A customer on the winning arm in both versions got the very same message twice.
    before, after = bodies(engine, cid, 1), bodies(engine, cid, 2)
    both = before.index[before["arm"] == "C"].intersection(after.index[after["arm"] == "C"])
    assert len(both) > 100 and (before.loc[both, "body"] == after.loc[both, "body"]).all()
    rewritten = after[after["arm"] == "A"]
    assert rewritten["body"].str.contains("新春8折好礼，快来选购").all()
    with engine.connect() as con:
        labels = con.execute(
            select(MessageRecord.variant_key, MessageRecord.aigc_metadata)
            .where(MessageRecord.campaign_id == cid, MessageRecord.version == 2)
            .distinct()
        ).all()
    # Every v2 message (Thompson sends nearly all to the winner) names the model text it was filled from.
    assert labels and all(meta is not None for _, meta in labels)
    ids = {key: json.loads(meta)["ProduceID"] for key, meta in labels}
    assert ids == {k: hashlib.sha256(v2[k].encode()).hexdigest()[:32] for k in ids}
