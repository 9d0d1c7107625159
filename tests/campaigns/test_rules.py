"""Each rule of `campaign run`, checked on the messages it actually queues and sends."""

import datetime as dt

import pandas as pd
import pytest
from campaign_shop import export_spec, launch
from sqlalchemy import select

from marketpilot.campaigns.audience import AudienceSource
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import Assignment, MessageRecord
from marketpilot.campaigns.tracking import ingest_events
from marketpilot.privacy.consent import record_consent, suppress

SH = dt.timezone(dt.timedelta(hours=8))


def messages(engine, cid: str) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(select(MessageRecord.__table__).where(MessageRecord.campaign_id == cid)).all()
    return pd.DataFrame(rows)


def assignments(engine, cid: str) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(select(Assignment.__table__).where(Assignment.campaign_id == cid)).all()
    return pd.DataFrame(rows)


def plan_only(settings, engine, spec: dict) -> str:
    """Plan (assignments + queued messages) without dispatching."""
    from marketpilot.campaigns import service
    from marketpilot.campaigns.executor import plan_messages
    from marketpilot.campaigns.spec import parse_spec

    parsed = parse_spec(spec)
    cid = service.create_campaign(engine, parsed)
    plan_messages(settings, engine, cid, 1, parsed, dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC))
    return cid


def two_channel_spec(**overrides):
    return export_spec(
        audience={},
        channels=[
            {
                "name": "email",
                "cost": 0.01,
                "variants": [{"key": "A", "subject": "新春好礼", "text": "{name}您好，新春全场8折。AI生成"}],
            },
            {"name": "sms", "cost": 0.05, "variants": [{"key": "A", "text": "{name}，新春全场8折"}]},
        ],
        **overrides,
    )


def test_consent_suppression_and_unsubscribe_are_respected(shop_settings, engine) -> None:
    shop = pd.read_parquet(shop_settings.home_dir / "intel" / "segments.parquet")
    ids = shop["customer_id"].tolist()
    revoked_sms, blocked, bounced_email = ids[:40], ids[40:60], ids[60:80]
    record_consent(engine, revoked_sms, "sms", "revoked", source="短信回复R")
    suppress(engine, blocked, "do_not_contact", source="客服登记")
    suppress(engine, bounced_email, "bounced", channel="email", source="退信")
    cid = plan_only(shop_settings, engine, two_channel_spec(holdout_share=0.0))
    plan = assignments(engine, cid).set_index("customer_id")
    assert not set(blocked) & set(plan.index[plan["channel"].notna()])
    assert (plan.reindex(revoked_sms)["channel"].dropna() != "sms").all()
    assert (plan.reindex(bounced_email)["channel"].dropna() != "email").all()
    # Unsubscribing through tracking suppresses the customer for every later campaign.
    sent = messages(engine, cid)
    target = sent.iloc[0]
    ingest_events(
        engine,
        pd.DataFrame(
            [
                {
                    "event_id": "u1",
                    "kind": "unsubscribe",
                    "idempotency_key": target["idempotency_key"],
                    "occurred_at": "2026-02-01T13:00:00+08:00",
                }
            ]
        ),
    )
    cid2 = plan_only(
        shop_settings, engine, two_channel_spec(holdout_share=0.0, name="第二波", caps={"frequency_max": 5})
    )
    second = assignments(engine, cid2).set_index("customer_id")["channel"]
    assert second.get(target["customer_id"]) != target["channel"]
    assert len(second) > 0.9 * len(plan)


def test_channel_choice_uses_reachability_and_is_explained(shop_settings, engine) -> None:
    shop = pd.read_parquet(shop_settings.home_dir / "intel" / "segments.parquet")
    cid = plan_only(
        shop_settings, engine, two_channel_spec(channel_overrides={shop["customer_id"][0]: "sms"})
    )
    plan = assignments(engine, cid).set_index("customer_id")
    import numpy as np

    from marketpilot.data.store import Store

    with Store.open(shop_settings) as store:
        pii = store.read("customer_pii").set_index("customer_id")
    has_email, has_phone = pii["email"].notna(), pii["phone"].notna()
    chosen = plan["channel"]
    # email is cheaper at the same prior response rate: everyone with an address gets e-mail …
    assert (
        chosen[has_email.reindex(chosen.index).to_numpy() & (chosen.index != shop["customer_id"][0])]
        == "email"
    ).all()
    # … those without one get SMS if they have a phone, and nobody unreachable is planned.
    only_phone = (~has_email & has_phone).reindex(chosen.index).to_numpy()
    assert (chosen[only_phone] == "sms").all()
    unreachable = ~has_email & ~has_phone
    assert chosen.reindex(unreachable[unreachable].index).isna().all()
    assert plan.loc[shop["customer_id"][0], "channel_reason"].startswith("override")
    assert "response" in plan["channel_reason"].iloc[1] and np.all(plan["channel_reason"].str.len() > 0)


def test_frequency_cap_counts_every_campaign_and_channel(shop_settings, engine) -> None:
    clock = lambda: dt.datetime(2026, 2, 1, 12, tzinfo=SH)  # noqa: E731
    _, r1 = launch(shop_settings, export_spec(holdout_share=0.0), clock=clock)
    assert r1.sent > 0
    _, capped = launch(
        shop_settings, export_spec(name="再来一次", holdout_share=0.0, caps={"frequency_max": 1}), clock=clock
    )
    assert capped.plan.capped == r1.sent and capped.plan.queued == 0
    _, allowed = launch(
        shop_settings, export_spec(name="第三次", holdout_share=0.0, caps={"frequency_max": 2}), clock=clock
    )
    assert allowed.plan.capped == 0 and allowed.sent == r1.sent
    # Outside the window the earlier messages no longer count.
    later = lambda: dt.datetime(2026, 2, 20, 12, tzinfo=SH)  # noqa: E731
    _, fresh = launch(
        shop_settings,
        export_spec(name="两周后", holdout_share=0.0, caps={"frequency_max": 1, "frequency_window_days": 7}),
        clock=later,
    )
    assert fresh.plan.capped == 0


def test_quiet_hours_defer_customer_facing_sends(shop_settings, engine, monkeypatch) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = []

    class Gateway(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            received.append(self.headers["Idempotency-Key"])
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/sms")
    spec = export_spec(
        audience={"segments": ["新客"], "propensity": {"min": 0.3}},
        channels=[{"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}],
    )
    from marketpilot.campaigns import service
    from marketpilot.campaigns.executor import run_campaign

    night = lambda: dt.datetime(2026, 2, 1, 23, 30, tzinfo=SH)  # noqa: E731
    cid, result = launch(shop_settings, spec, clock=night)
    assert result.sent == 0 and received == []
    # Every planned message is reported as held, with the time it may go.
    assert result.pending == result.plan.queued > 0
    assert result.deferred_until == dt.datetime(2026, 2, 2, 8, 0, tzinfo=SH)
    early = lambda: dt.datetime(2026, 2, 2, 7, 59, tzinfo=SH)  # noqa: E731
    still = run_campaign(shop_settings, cid, clock=early)
    assert still.sent == 0 and received == [] and still.pending == result.plan.queued
    assert still.deferred_until == dt.datetime(2026, 2, 2, 8, 0, tzinfo=SH)
    morning = lambda: dt.datetime(2026, 2, 2, 8, 1, tzinfo=SH)  # noqa: E731
    done = run_campaign(shop_settings, cid, clock=morning)
    assert done.sent == result.plan.queued > 0 and len(received) == done.sent
    assert done.pending == 0 and done.deferred_until is None
    server.shutdown()
    assert service.list_campaigns(engine).set_index("id").loc[cid, "status"] == "sent"


def test_run_with_wait_sends_nothing_in_quiet_hours_and_everything_after(
    shop_settings, engine, monkeypatch
) -> None:
    from receivers import Gateway

    from marketpilot.campaigns import service

    gateway = Gateway(shop_settings.secret())
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    spec = export_spec(
        audience={"segments": ["新客"], "propensity": {"min": 0.3}},
        channels=[{"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}],
        schedule={"quiet_start": "21:00", "quiet_end": "09:30"},
    )
    now = [dt.datetime(2026, 2, 1, 21, 5, tzinfo=SH)]
    slept: list[tuple[float, int]] = []

    def sleep(seconds: float) -> None:
        slept.append((seconds, len(gateway.accepted)))  # what had been delivered while waiting
        now[0] += dt.timedelta(seconds=seconds)

    try:
        cid, result = launch(shop_settings, spec, clock=lambda: now[0], wait=True, sleep=sleep)
    finally:
        gateway.close()
    # One wait, from 21:05 to the end of the quiet hours at 09:30, with nothing delivered before it.
    assert slept == [(12 * 3600 + 25 * 60, 0)]
    assert result.sent == result.plan.queued == len(gateway.accepted) > 0 and result.pending == 0
    assert service.list_campaigns(engine).set_index("id").loc[cid, "status"] == "sent"


def test_pipl_opt_out_gets_non_personalised_copy(shop_settings, engine) -> None:
    from marketpilot.data.store import Store

    spec = export_spec(holdout_share=0.0)
    spec["channels"][0]["generic"] = {"key": "generic", "text": "新春全场8折，欢迎回店看看"}
    with Store.open(shop_settings) as store:
        pii = store.read("customer_pii").set_index("customer_id")
    opted = pii.index[:300].tolist()
    record_consent(engine, opted, "personalisation", "revoked", source="隐私设置")
    cid, _ = launch(shop_settings, spec)
    sent = messages(engine, cid).set_index("customer_id")
    plan = assignments(engine, cid).set_index("customer_id")
    mine = sent.index.intersection(opted)
    others = sent.index.difference(opted)
    assert len(mine) > 20 and len(others) > 100
    assert (sent.loc[mine, "body"] == "新春全场8折，欢迎回店看看").all()
    assert not plan.loc[mine, "personalised"].any()
    # Everyone else sees their own name.
    names = pii.loc[others, "name"]
    assert all(n in b for n, b in zip(names, sent.loc[others, "body"], strict=True))


def test_holdout_customers_get_no_message_in_any_version(shop_settings, engine) -> None:
    from marketpilot.campaigns import service
    from marketpilot.campaigns.executor import run_campaign

    cid, first = launch(shop_settings, export_spec(audience={}, holdout_share=0.25))
    # v2 assigns variants by Thompson sampling: the holdout must stay untouched whatever the bandit does.
    spec, _ = service.get_spec(engine, cid)
    service.add_version(engine, cid, spec.model_copy(update={"assignment": "thompson"}), note="bandit")
    service.approve(engine, cid, approver="测试员")
    later = lambda: dt.datetime(2026, 2, 20, 4, tzinfo=dt.UTC)  # noqa: E731
    second = run_campaign(shop_settings, cid, clock=later, posteriors={"A": (2.0, 60.0), "B": (20.0, 40.0)})
    assert first.sent > 0 and second.sent > 0

    plan = assignments(engine, cid)
    sent = messages(engine, cid)
    for version in (1, 2):
        arms = plan[plan["version"] == version].set_index("customer_id")["arm"]
        held = set(arms.index[arms == "holdout"])
        assert abs(len(held) / len(arms) - 0.25) < 0.04
        recipients = sent.loc[sent["version"] == version, "customer_id"]
        assert not held & set(recipients)
        # … while every treated customer has exactly one message.
        assert sorted(recipients) == sorted(arms.index[arms != "holdout"])
    # Nor did any delivery reach them: the export files are what the ad platform receives.
    parts = sorted((shop_settings.home_dir / "exports" / cid).rglob("part-*.csv"))
    delivered = pd.concat(pd.read_csv(p, dtype=str, encoding="utf-8-sig") for p in parts)
    assert len(delivered) == first.sent + second.sent
    held_any = set(plan.loc[plan["arm"] == "holdout", "customer_id"])
    assert not held_any & set(delivered["customer_id"])


FEW = {"segments": ["新客"], "propensity": {"min": 0.3}}
WIDER = {"segments": ["新客"], "propensity": {"min": 0.2}}  # FEW and more
SMS = {"name": "sms", "cost": 0.05, "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}
EMAIL = {
    "name": "email",
    "cost": 0.01,
    "variants": [{"key": "A", "subject": "新春好礼", "text": "{name}您好，新春全场8折。AI生成"}],
}


def _recipients(smtp_server) -> set[str]:
    return {rcpt for envelope in smtp_server.envelopes for rcpt in envelope.rcpt_tos}


@pytest.mark.slow
def test_an_sms_in_one_campaign_caps_an_email_in_the_next(
    shop_settings, engine, smtp_server, sms_gateway
) -> None:
    _, texted = launch(shop_settings, export_spec(audience=FEW, holdout_share=0.0, channels=[SMS]))
    got_sms = set(messages(engine, texted.campaign_id)["customer_id"])
    assert texted.sent == len(got_sms) == len(sms_gateway.accepted) > 10
    cid, mailed = launch(
        shop_settings,
        export_spec(
            name="邮件第二波", audience=WIDER, holdout_share=0.0, channels=[EMAIL], caps={"frequency_max": 1}
        ),
    )
    from marketpilot.data.store import Store

    with Store.open(shop_settings) as store:
        emails = store.read("customer_pii").set_index("customer_id")["email"].dropna()
    emails = emails[
        emails.index.isin(
            AudienceSource(shop_settings).select(parse_spec(export_spec(audience=WIDER)).audience)[
                "customer_id"
            ]
        )
    ]
    # The cap counts every campaign and channel: one SMS already uses up a cap of one message …
    capped = got_sms & set(emails.index)
    assert mailed.plan.capped == len(capped) > 0
    assert not capped & set(messages(engine, cid)["customer_id"])
    assert not set(emails[list(capped)]) & _recipients(smtp_server)
    # … while everyone else in the audience with an address gets the e-mail.
    assert set(messages(engine, cid)["customer_id"]) == set(emails.index) - got_sms
    assert mailed.sent == len(smtp_server.envelopes) == len(emails) - len(capped)


def test_channel_choice_follows_past_clicks_except_for_pipl_opt_outs(
    shop_settings, engine, smtp_server, sms_gateway
) -> None:
    # History: the same customers got one e-mail (campaign 1) and one SMS (campaign 2).
    _, mailed = launch(shop_settings, export_spec(audience=FEW, holdout_share=0.0, channels=[EMAIL]))
    _, texted = launch(
        shop_settings, export_spec(name="短信", audience=FEW, holdout_share=0.0, channels=[SMS])
    )
    emails = messages(engine, mailed.campaign_id).set_index("customer_id")
    both = sorted(set(emails.index) & set(messages(engine, texted.campaign_id)["customer_id"]))
    clicker, opted_out = both[:2]
    # Both clicked their e-mail; nobody clicked an SMS.
    ingest_events(
        engine,
        pd.DataFrame(
            {
                "event_id": ["k1", "k2"],
                "kind": "click",
                "idempotency_key": emails.loc[[clicker, opted_out], "idempotency_key"].tolist(),
                "occurred_at": "2026-02-01T13:00:00+08:00",
            }
        ),
    )
    record_consent(engine, [opted_out], "personalisation", "revoked", source="隐私设置")
    # E-mail now costs more than SMS: without a personal click history SMS is the better buy.
    spec = export_spec(
        name="第三波",
        audience=FEW,
        holdout_share=0.0,
        channels=[EMAIL | {"cost": 2.0}, SMS | {"cost": 0.01}],
        caps={"frequency_max": 5},
    )
    plan = assignments(engine, plan_only(shop_settings, engine, spec)).set_index("customer_id")
    assert plan.loc[clicker, "channel"] == "email"
    assert "own history: 1 clicked or converted of 1 sent" in plan.loc[clicker, "channel_reason"]
    # The opted-out customer clicked just the same, but is not profiled: the channel-wide rates decide.
    assert plan.loc[opted_out, "channel"] == "sms"
    assert "own history not used" in plan.loc[opted_out, "channel_reason"]
    others = plan.loc[[c for c in both if c not in (clicker, opted_out)]]
    assert (others["channel"] == "sms").all() and len(others) > 10
    assert others["channel_reason"].str.contains("own history: 0 clicked or converted of 1 sent").all()
