"""Channels against real servers on 127.0.0.1: SMTP (aiosmtpd) and a signed HTTP gateway."""

import datetime as dt
import email
import email.policy

import pytest
from campaign_shop import campaign_state, export_spec, launch
from receivers import Gateway
from sqlalchemy import select

from marketpilot.campaigns.channels import ChannelSettings, OutgoingMessage
from marketpilot.campaigns.channels.smtp import build_email
from marketpilot.campaigns.channels.webhook import sign, verify
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.state.models import MessageRecord
from marketpilot.data.store import Store
from marketpilot.errors import UserError

FEW = {"segments": ["新客"], "propensity": {"min": 0.3}}
NOON = dt.datetime(2026, 2, 1, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
NIGHT = dt.datetime(2026, 2, 1, 15, 0, tzinfo=dt.UTC)  # 23:00 in Shanghai: quiet hours


def test_email_reaches_a_real_smtp_server_with_unsubscribe_headers(
    shop_settings, engine, smtp_server
) -> None:
    spec = export_spec(
        audience=FEW,
        channels=[
            {
                "name": "email",
                "variants": [
                    {"key": "A", "subject": "新春礼遇", "text": "{name}您好，新春全场8折，欢迎回店。AI生成"}
                ],
            }
        ],
    )
    cid, result = launch(shop_settings, spec)
    assert result.sent == result.plan.queued > 10
    with engine.connect() as con:
        sent = {
            r.idempotency_key: r
            for r in con.execute(select(MessageRecord.__table__).where(MessageRecord.campaign_id == cid))
        }
    with Store.open(shop_settings) as store:
        pii = store.read("customer_pii").set_index("customer_id")
    assert len(smtp_server.envelopes) == len(sent)
    for envelope in smtp_server.envelopes:
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        key = mail["Message-ID"].strip("<>").split("@")[0]
        row = sent[key]
        assert envelope.rcpt_tos == [pii.loc[row.customer_id, "email"]]
        assert mail["Subject"] == "新春礼遇"
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "https://" in mail["List-Unsubscribe"] and "mailto:" in mail["List-Unsubscribe"]
        assert key in mail["List-Unsubscribe"]
        body = mail.get_content()
        assert pii.loc[row.customer_id, "name"] in body and "新春全场8折" in body


def test_webhook_batches_are_hmac_signed(shop_settings, engine, monkeypatch) -> None:
    gateway = Gateway(shop_settings.secret())
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_BATCH_SIZE", "20")
    spec = export_spec(
        shop_name="好物小店",
        audience={"segments": ["新客"]},
        channels=[{"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}],
    )
    _, result = launch(shop_settings, spec)
    gateway.close()
    assert gateway.bad_signatures == 0
    assert len(gateway.accepted) == result.sent == result.plan.queued > 100
    assert all(len(p["payload"]["messages"]) <= 20 for p in gateway.posts)
    assert len(gateway.posts) == -(-result.sent // 20)
    first = gateway.accepted[next(iter(gateway.accepted))]
    assert first["phone"].startswith("138") and "新春全场8折" in first["body"]
    # SMS carry the shop signature and the carrier's opt-out text.
    assert first["body"].startswith("【好物小店】") and first["body"].endswith("拒收请回复R")
    # The signature covers the body: any change breaks it.
    body = b'{"message": {"body": "\xe4\xbd\xa0\xe5\xa5\xbd"}}'
    signature = sign(shop_settings.secret(), "1700000000", body)
    assert verify(shop_settings.secret(), "1700000000", body, signature)
    assert not verify(shop_settings.secret(), "1700000000", body.replace(b"\xbd", b"\xbe"), signature)
    assert not verify(b"other-secret", "1700000000", body, signature)


def test_export_writes_parquet_parts_that_a_resend_overwrites(shop_settings, engine, monkeypatch) -> None:
    import pandas as pd

    from marketpilot.campaigns.channels import ChannelSettings, OutgoingMessage, create_channel
    from marketpilot.campaigns.channels.export import EXPORT_COLUMNS

    monkeypatch.setenv("MARKETPILOT_EXPORT_FORMAT", "parquet")
    cid, result = launch(shop_settings, export_spec(audience={}))
    folder = shop_settings.home_dir / "exports" / cid / "v1"
    parts = sorted(folder.glob("part-*.parquet"))
    assert parts and not list(folder.glob("*.csv")) and not list(folder.glob(".*.tmp"))
    exported = pd.concat(pd.read_parquet(p) for p in parts).set_index("idempotency_key")
    assert list(exported.reset_index().columns) == EXPORT_COLUMNS
    with engine.connect() as con:
        sent = pd.DataFrame(
            con.execute(select(MessageRecord.__table__).where(MessageRecord.campaign_id == cid)).all()
        ).set_index("idempotency_key")
    assert len(exported) == len(sent) == result.sent > 1000
    for column in ("customer_id", "variant_key", "body"):
        assert (exported[column] == sent.loc[exported.index, column]).all(), column
    assert (exported["version"] == 1).all() and (exported["campaign_id"] == cid).all()

    # The resume path sends a batch again with the same keys: it replaces its own part, adds none.
    batch = [
        OutgoingMessage(key, cid, 1, row.customer_id, "export", row.variant_key, row.body)
        for key, row in sent.loc[pd.read_parquet(parts[0])["idempotency_key"]].iterrows()
    ]
    adapter = create_channel("export", shop_settings, ChannelSettings())
    assert all(r.ok for r in adapter.send(batch))
    assert sorted(folder.glob("part-*.parquet")) == parts
    assert pd.read_parquet(parts[0])["idempotency_key"].tolist() == [m.idempotency_key for m in batch]


def test_a_run_refused_for_a_missing_gateway_leaves_the_campaign_approved(
    shop_settings, engine, smtp_server, monkeypatch
) -> None:
    """sms+email without MARKETPILOT_WEBHOOK_URL: refused before planning, so the campaign is not shown
    as running and, once the URL is set, the same `campaign run` sends it."""
    monkeypatch.delenv("MARKETPILOT_WEBHOOK_URL", raising=False)
    spec = export_spec(
        audience=FEW,
        channels=[
            {"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]},
            {"name": "email", "variants": [{"key": "A", "subject": "新春", "text": "{name}您好，新春8折"}]},
        ],
    )
    with pytest.raises(UserError, match="The sms channel needs a gateway URL"):
        launch(shop_settings, spec, campaign_id="春节-sms")
    assert campaign_state(engine, "春节-sms") == ("approved", {})
    assert not smtp_server.envelopes

    gateway = Gateway(shop_settings.secret())
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    result = run_campaign(shop_settings, "春节-sms", clock=lambda: NOON)
    gateway.close()
    assert result.sent == result.plan.queued > 10 and result.pending == 0
    assert len(gateway.accepted) + len(smtp_server.envelopes) == result.sent
    assert campaign_state(engine, "春节-sms") == ("sent", {"sent": result.sent})


def test_a_run_refused_after_planning_keeps_the_queued_messages_to_resume(
    shop_settings, engine, monkeypatch
) -> None:
    """Once messages are queued the campaign is running: a later run refused for its configuration
    changes nothing, and the run after the fix sends what waited."""
    gateway = Gateway(shop_settings.secret())
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    spec = export_spec(
        audience=FEW, channels=[{"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}]
    )
    cid, held = launch(shop_settings, spec, clock=lambda: NIGHT)  # quiet hours: planned, nothing sent
    assert held.sent == 0 and held.pending == held.plan.queued > 10
    morning = held.deferred_until  # 08:00 in Shanghai, the first time the messages may go
    assert campaign_state(engine, cid) == ("running", {"queued": held.pending})

    monkeypatch.delenv("MARKETPILOT_WEBHOOK_URL")
    with pytest.raises(UserError, match="needs a gateway URL"):
        run_campaign(shop_settings, cid, clock=lambda: morning)
    assert campaign_state(engine, cid) == ("running", {"queued": held.pending})

    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    resumed = run_campaign(shop_settings, cid, clock=lambda: morning)
    gateway.close()
    assert not resumed.planned and resumed.sent == held.pending == len(gateway.accepted)
    assert campaign_state(engine, cid) == ("sent", {"sent": held.pending})


def test_an_unsubscribe_url_with_a_query_gets_the_token_as_one_more_parameter() -> None:
    message = OutgoingMessage("k-1", "c", 1, "C1", "email", "A", "您好", subject="新春", email="a@b.cn")
    plain = build_email(message, ChannelSettings(unsubscribe_url="https://shop.example/u"))
    assert "<https://shop.example/u?k=k-1>" in plain["List-Unsubscribe"]
    # "…/u?list=vip?k=…" made the token part of the list's value: the receiver could not read it
    listed = build_email(message, ChannelSettings(unsubscribe_url="https://shop.example/u?list=vip"))
    assert "<https://shop.example/u?list=vip&k=k-1>" in listed["List-Unsubscribe"]
