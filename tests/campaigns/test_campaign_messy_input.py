"""Campaign automation fed what marketers really write: unquoted clock times, keys written twice,
numbered segments, header-only and mixed event files, consent withdrawn while a message waits, and
commands run in the wrong order or pointed at the wrong file."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from campaign_shop import export_spec, launch
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from marketpilot.api import create_app
from marketpilot.campaigns import service
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.measure import sample_ratio
from marketpilot.campaigns.optimize import optimize_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.db import session_scope
from marketpilot.campaigns.state.models import Assignment, CampaignVersion, MessageRecord, Outcome
from marketpilot.campaigns.tracking import ingest_file
from marketpilot.cli import app
from marketpilot.errors import UserError, ValidationFailed
from marketpilot.privacy.consent import record_consent, suppress

SPEC_YAML = """\
name: 春节唤醒
goal: reactivation
audience: {segments: [1, 2], include: [00123]}
channels:
  - name: export
    variants: [{key: A, text: "{name}，新春全场8折"}]
schedule: {quiet_start: 22:00, quiet_end: 08:00}
"""
NIGHT = dt.datetime(2026, 2, 1, 16, 0, tzinfo=dt.UTC)  # midnight in Shanghai: quiet hours


def test_spec_yaml_reads_clock_times_numbered_segments_and_refuses_repeated_keys():
    spec = parse_spec(SPEC_YAML)
    # YAML 1.1 made 22:00 the number 1320, which pydantic took for 00:22 UTC: quiet hours all day,
    # and a naive/aware comparison that crashed `campaign run`.
    assert (spec.schedule.quiet_start, spec.schedule.quiet_end) == (dt.time(22, 0), dt.time(8, 0))
    assert spec.schedule.in_quiet_hours(NIGHT) and not spec.schedule.in_quiet_hours(
        NIGHT + dt.timedelta(hours=8)
    )
    assert spec.audience.segments == ["1", "2"] and spec.audience.include == ["00123"]
    assert parse_spec(spec.to_yaml()) == spec

    with pytest.raises(UserError, match="'goal' appears twice"):
        parse_spec(SPEC_YAML + "goal: cross_sell\n")
    with pytest.raises(UserError, match="tabs"):
        parse_spec(SPEC_YAML.replace("  - name", "\t- name"))
    base = yaml.safe_load(SPEC_YAML.replace("22:00", '"22:00"'))
    for schedule in ({"quiet_start": 1320}, {"quiet_start": "22:00Z"}):
        with pytest.raises(ValidationFailed, match=r"schedule\.quiet_start"):
            parse_spec(base | {"schedule": schedule})
    with pytest.raises(ValidationFailed, match=r"name: .*blank"):
        parse_spec(base | {"name": "   "})


def test_consent_withdrawn_while_a_message_waits_is_honoured(shop_settings, engine, sms_gateway):
    spec = export_spec(audience={}, holdout_share=0.0)
    spec["channels"] = [{"name": "webhook", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}]
    cid, night = launch(shop_settings, spec, clock=lambda: NIGHT)
    assert night.sent == 0 and night.pending > 100
    with engine.connect() as con:
        queued = con.execute(select(MessageRecord.customer_id).where(MessageRecord.campaign_id == cid))
        revoked, unsubscribed = sorted(queued.scalars())[:2]
    record_consent(engine, [revoked], "webhook", "revoked", source="回复R")
    suppress(engine, [unsubscribed], "unsubscribed", source="tracking")

    morning = run_campaign(shop_settings, cid, clock=lambda: NIGHT + dt.timedelta(hours=10))

    delivered = {m["customer_id"] for m in sms_gateway.accepted.values()}
    assert revoked not in delivered and unsubscribed not in delivered
    assert morning.sent == night.pending - 2 and morning.pending == 0
    counts = {row["status"]: row["messages"] for row in service.message_counts(engine, cid)}
    assert counts == {"sent": night.pending - 2, "withdrawn": 2}


@pytest.mark.parametrize("generic", [None, "新春全场8折，欢迎回店看看"])
def test_personalisation_revoked_while_a_message_waits_gets_the_generic_copy(
    shop_settings, engine, sms_gateway, generic
):
    """PIPL Art. 24: the message was rendered with the customer's name at planning; revoked before it
    left, it goes out non-personalised (the spec's generic copy, or the same copy without the name)."""
    spec = export_spec(audience={}, holdout_share=0.0)
    spec["channels"] = [{"name": "webhook", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}]
    if generic:
        spec["channels"][0]["generic"] = {"key": "generic", "text": generic}
    cid, night = launch(shop_settings, spec, clock=lambda: NIGHT)
    with engine.connect() as con:
        planned = dict(con.execute(select(MessageRecord.customer_id, MessageRecord.body)).all())
    revoked, kept = sorted(planned)[:2]
    record_consent(engine, [revoked], "personalisation", "revoked", source="隐私设置")

    run_campaign(shop_settings, cid, clock=lambda: NIGHT + dt.timedelta(hours=10))

    bodies = {m["customer_id"]: m["body"] for m in sms_gateway.accepted.values()}
    assert len(bodies) == night.pending
    assert bodies[kept] == planned[kept]
    assert bodies[revoked] == (generic or "亲，新春全场8折") != planned[revoked]
    with engine.connect() as con:
        flags = dict(con.execute(select(Assignment.customer_id, Assignment.personalised)).all())
    assert flags[revoked] is False and flags[kept] is True


def test_event_files_without_rows_or_with_revenue_on_some_rows(shop_settings, engine, tmp_path):
    cid, _ = launch(shop_settings, export_spec(audience={}, holdout_share=0.0))
    header_only = tmp_path / "events.csv"
    header_only.write_text("event_id,kind,occurred_at,customer_id\n", encoding="utf-8")
    assert ingest_file(engine, header_only).received == 0

    when = "2026-02-01T13:00:00+08:00"  # an hour after the launch
    click = {"event_id": "k1", "kind": "click", "occurred_at": when, "customer_id": "C000001"}
    rows = [click, click | {"event_id": "k2", "kind": "conversion", "revenue": "￥128.50"}]
    lines = tmp_path / "events.jsonl"
    lines.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="gbk")
    assert ingest_file(engine, lines).attributed == 1
    array = tmp_path / "more.json"  # one JSON array, as `POST /events` takes it
    array.write_text(json.dumps([click | {"event_id": "k3"}], indent=2), encoding="utf-8")
    assert ingest_file(engine, array).new == 1

    # A version stored before a check was tightened must not stop everyone's events.
    with session_scope(engine) as session:
        session.add(
            CampaignVersion(
                campaign_id=cid, version=2, spec_version="1", spec_yaml="name: '  '\n", note="old"
            )
        )
    late = tmp_path / "late.csv"
    late.write_text(f"event_id,kind,occurred_at,customer_id,revenue\nk4,conversion,{when},C000002,\n")
    assert ingest_file(engine, late).attributed == 1
    with engine.connect() as con:
        assert con.scalar(select(func.sum(Outcome.revenue_minor)).where(Outcome.campaign_id == cid)) == 12850


def test_optimize_and_approve_in_the_wrong_order(shop_settings, engine):
    draft = service.create_campaign(engine, parse_spec(export_spec(name="未发送")))
    with pytest.raises(UserError, match="no customer to learn from"):
        optimize_campaign(shop_settings, engine, draft, rewrite=False)
    assert service.get_spec(engine, draft)[1] == 1  # no empty v2 burying v1

    cid, _ = launch(shop_settings, export_spec())
    assert service.approve(engine, cid, approver="  李总  ") == 1  # a second sign-off is kept …
    assert service.list_campaigns(engine).set_index("id").at[cid, "status"] == "sent"  # … status too
    with pytest.raises(UserError, match="at most 100"):  # PostgreSQL refused it with a DataError
        service.approve(engine, cid, approver="王" * 101)


def test_optimize_without_a_conversion_changes_nothing(shop_settings, engine):
    """Six arms and no conversion: equal posteriors (1/6 each, under the 0.2 loser bar) made every arm
    but an arbitrary winner a loser to rewrite, and switched to Thompson sampling on no evidence."""
    variants = [{"key": k, "text": f"{{name}}，新春全场8折（{k}）"} for k in "ABCDEF"]
    cid, _ = launch(shop_settings, export_spec(channels=[{"name": "export", "variants": variants}]))
    proposal = optimize_campaign(shop_settings, engine, cid, rewrite=True)
    assert proposal.llm_calls == 0 and "no conversions yet: weights and copy kept" in proposal.changes
    nxt, _ = service.get_spec(engine, cid, proposal.version)
    assert nxt.assignment == "fixed" and {v.weight for v in nxt.channels[0].variants} == {1.0}


def test_outcomes_out_refuses_the_homes_own_files(shop_settings, engine):
    cid, _ = launch(shop_settings, export_spec())
    home = shop_settings.home_dir
    runner = CliRunner()
    state = home / "state.sqlite"
    before = state.read_bytes()[:16] if state.exists() else None
    for out in (state, home / "marketpilot.duckdb", home / "intel" / "segments.parquet", home / "out.xlsx"):
        refused = runner.invoke(app, ["campaign", "outcomes", cid, "--out", str(out), "--home", str(home)])
        assert isinstance(refused.exception, UserError), refused.output
        assert str(out.name) in str(refused.exception)
    assert not (home / "out.xlsx").exists()
    if before is not None:
        assert state.read_bytes()[:16] == before == b"SQLite format 3\x00"


def test_api_refuses_number_clock_times_and_overlong_approvers(shop_settings):
    client = TestClient(create_app(shop_settings, require_key=False))
    spec = export_spec(schedule={"quiet_start": 1320})
    bad = client.post("/v1/campaigns", json=spec)
    assert bad.status_code == 422 and "schedule" in bad.text
    created = client.post("/v1/campaigns", json=export_spec(schedule={"quiet_start": "22:00"}))
    assert created.status_code == 201, created.text
    cid = created.json()["campaign_id"]
    assert client.post(f"/v1/campaigns/{cid}/approve", json={"by": "王" * 101}).status_code == 422
    assert client.post(f"/v1/campaigns/{cid}/approve", json={"by": "王经理"}).status_code == 200


def test_sample_ratio_without_a_holdout_still_tests_the_variants():
    # holdout_share 0: the holdout's 0/0 made the whole χ² NaN (and printed a RuntimeWarning).
    srm = sample_ratio({"A": 10, "B": 30}, {"holdout": 0.0, "A": 0.5, "B": 0.5})
    assert srm.chi2 == pytest.approx(10.0) and srm.p_value < 0.01 and "holdout" not in srm.expected
