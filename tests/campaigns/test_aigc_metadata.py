"""AIGC labelling metadata (《人工智能生成合成内容标识办法》, GB 45438-2025) on campaign messages: stored
with every message of model-written copy, passed on by every channel (export column, signed webhook
field, e-mail header), absent for hand-written copy and where marketpilot.toml turns it off."""

import email
import email.policy
import hashlib
import json
import re

import pandas as pd
import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from campaign_shop import export_spec, launch
from sqlalchemy import create_engine, inspect, select, text

from llm_server import json_reply
from marketpilot.campaigns.copy import used_copy
from marketpilot.campaigns.state.db import MIGRATIONS, open_state
from marketpilot.campaigns.state.models import Assignment, MessageRecord
from marketpilot.config import get_settings
from marketpilot.privacy.consent import record_consent

WRITTEN = "{name}，新春全场8折，回店看看"  # the marketer's copy (variant A)
GENERATED = "{name}，好久不见！新春8折惊喜"  # what the model writes (variant B)


@pytest.fixture
def uncached(monkeypatch) -> None:
    # Replies are scripted per test, so the completion cache must not answer from another test.
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")


def one_written_one_generated(channel: str, **extra: object) -> dict:
    return {"name": channel, "variants": [{"key": "A", "text": WRITTEN}, {"key": "B"}], **extra}


def messages(engine, cid: str) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(select(MessageRecord.__table__).where(MessageRecord.campaign_id == cid)).all()
    return pd.DataFrame(rows).set_index("idempotency_key")


def produce_id(template: str) -> str:
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:32]


def check_generated_metadata(sent: pd.DataFrame, template: str, shop: str) -> dict:
    """Every B message carries the same metadata, naming the model-written template; A messages none."""
    assert sent.loc[sent["variant_key"] == "A", "aigc_metadata"].isna().all()
    generated = sent.loc[sent["variant_key"] == "B", "aigc_metadata"]
    assert len(generated) > 10 and generated.nunique() == 1
    meta = json.loads(generated.iloc[0])
    assert meta["Label"] == "1" and meta["ContentProducer"] == "MarketPilot"
    assert meta["ContentPropagator"] == shop and meta["Model"] == "test-model"
    assert meta["PromptVersion"] and meta["ProduceTime"]
    assert meta["ProduceID"] == produce_id(template)  # the generated text, not a customer's filled copy
    return meta


def test_upgrade_from_0001_keeps_messages_and_adds_an_empty_column(backend, home) -> None:
    settings = get_settings(home)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    old = create_engine(settings.state_url)
    with old.begin() as con:
        config.attributes["connection"] = con
        command.upgrade(config, "0001")
        con.execute(
            text(
                "INSERT INTO campaigns (id, name, goal, status, current_version, created_at) "
                "VALUES ('c1', '春节唤醒', 'reactivation', 'sent', 1, :t)"
            ),
            {"t": "2026-01-01 00:00:00+00:00"},
        )
        con.execute(
            text(
                "INSERT INTO messages (idempotency_key, campaign_id, version, customer_id, channel, "
                "variant_key, body, status, attempts, not_before, created_at) "
                "VALUES (:k, 'c1', 1, :c, 'sms', 'A', '你好', 'sent', 1, :t, :t)"
            ),
            [{"k": f"k{i}", "c": f"C{i}", "t": "2026-01-01 00:00:00+00:00"} for i in range(3)],
        )
    assert "aigc_metadata" not in {c["name"] for c in inspect(old).get_columns("messages")}
    old.dispose()

    engine = open_state(settings)  # migrates to head
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as con:
        assert con.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
        rows = con.execute(
            select(MessageRecord.idempotency_key, MessageRecord.body, MessageRecord.aigc_metadata).order_by(
                MessageRecord.idempotency_key
            )
        ).all()
    assert [tuple(r) for r in rows] == [(f"k{i}", "你好", None) for i in range(3)]


@pytest.mark.slow
def test_export_rows_of_model_written_copy_carry_the_metadata(uncached, llm_server, shop_settings, engine):
    llm_server.script(json_reply({"variants": [{"angle": "benefit", "text": GENERATED}]}))
    spec = export_spec(shop_name="好物小店", audience={}, channels=[one_written_one_generated("export")])
    cid, result = launch(shop_settings, spec)
    assert result.plan.llm_calls == 1 and result.sent == result.plan.queued > 1000
    sent = messages(engine, cid)
    template = used_copy(engine, cid, 1)["export"]["B"].text
    assert template == GENERATED
    check_generated_metadata(sent, template, "好物小店")

    parts = sorted((shop_settings.home_dir / "exports" / cid / "v1").glob("part-*.csv"))
    exported = pd.concat(pd.read_csv(p, encoding="utf-8-sig") for p in parts).set_index("idempotency_key")
    assert len(exported) == len(sent)
    stored = sent.loc[exported.index, "aigc_metadata"]
    assert exported["aigc_metadata"].isna().equals(stored.isna())
    written = stored.notna()
    assert (exported.loc[written, "aigc_metadata"] == stored[written]).all()


@pytest.mark.slow
def test_signed_webhook_payloads_carry_the_metadata(uncached, llm_server, shop_settings, engine, sms_gateway):
    # Customers who opted out of personalisation get the hand-written generic copy: no metadata.
    opted_out = [f"C{i:06d}" for i in range(0, 3000, 7)]
    record_consent(engine, opted_out, "personalisation", "revoked", source="隐私设置")
    llm_server.script(json_reply({"variants": [{"angle": "benefit", "text": GENERATED}]}))
    generic = {"key": "generic", "text": "新春全场8折，欢迎回店看看"}
    spec = export_spec(
        shop_name="好物小店",
        audience={"segments": ["新客"]},
        channels=[one_written_one_generated("sms", generic=generic)],
    )
    cid, result = launch(shop_settings, spec)
    assert result.sent == result.plan.queued > 100 and result.plan.not_personalised > 10
    sent = messages(engine, cid)
    query = select(Assignment.customer_id, Assignment.personalised).where(Assignment.campaign_id == cid)
    with engine.connect() as con:
        personalised = {customer: flag for customer, flag in con.execute(query)}
    sent["personalised"] = sent["customer_id"].map(personalised)
    assert sent.loc[~sent["personalised"], "aigc_metadata"].isna().all()
    template = used_copy(engine, cid, 1)["sms"]["B"].text
    meta = check_generated_metadata(sent[sent["personalised"]], template, "好物小店")

    assert sms_gateway.bad_signatures == 0  # the metadata is inside the signed body
    assert set(sms_gateway.accepted) == set(sent.index)
    for key, message in sms_gateway.accepted.items():
        row = sent.loc[key]
        if row["variant_key"] == "B" and row["personalised"]:
            assert message["aigc_metadata"] == meta
            assert message["body"].startswith("【好物小店】")  # framed, while ProduceID names the template
        else:
            assert "aigc_metadata" not in message


@pytest.mark.slow
def test_emails_carry_the_metadata_in_an_ascii_header(
    uncached, llm_server, shop_settings, engine, smtp_server
):
    llm_server.script(json_reply({"variants": [{"angle": "benefit", "text": GENERATED}]}))
    channel = {
        "name": "email",
        "variants": [{"key": "A", "subject": "新春礼遇", "text": WRITTEN}, {"key": "B"}],
    }
    spec = export_spec(shop_name="好物小店", audience={"segments": ["新客"]}, channels=[channel])
    cid, result = launch(shop_settings, spec)
    assert result.sent == result.plan.queued > 10
    sent = messages(engine, cid)
    template = used_copy(engine, cid, 1)["email"]["B"].text
    assert template.startswith(GENERATED) and "AI生成" in template  # e-mail bodies show the visible label
    meta = check_generated_metadata(sent, template, "好物小店")

    assert len(smtp_server.envelopes) == len(sent)
    for envelope in smtp_server.envelopes:
        head = re.split(rb"\r?\n\r?\n", envelope.content, maxsplit=1)[0]
        head.decode("ascii")  # every header line, the metadata's included, is plain ASCII
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        row = sent.loc[mail["Message-ID"].strip("<>").split("@")[0]]
        if row["variant_key"] == "B":
            assert json.loads(str(mail["X-AIGC"])) == meta
            assert "\\u597d\\u7269\\u5c0f\\u5e97" in str(mail["X-AIGC"])  # 好物小店, escaped
        else:
            assert mail["X-AIGC"] is None


@pytest.mark.slow
def test_a_channel_configured_without_metadata_stores_none(
    uncached, llm_server, shop_settings, engine, tmp_path, monkeypatch
) -> None:
    # Export copy follows the push channel's rules: no metadata, and a visible label on model copy.
    config = tmp_path / "marketpilot.toml"
    config.write_text("[content.ai_label.push]\nmetadata = false\nvisible = true\n", encoding="utf-8")
    monkeypatch.setenv("MARKETPILOT_CONFIG", str(config))
    llm_server.script(json_reply({"variants": [{"angle": "benefit", "text": GENERATED}]}))
    spec = export_spec(audience={}, channels=[one_written_one_generated("export")])
    cid, result = launch(shop_settings, spec)
    assert result.sent == result.plan.queued > 1000
    sent = messages(engine, cid)
    assert sent["aigc_metadata"].isna().all()
    copy = used_copy(engine, cid, 1)["export"]
    # The configured visible label goes on the model's copy only; the marketer's copy passes without it.
    assert copy["B"].text == GENERATED + "（AI生成）" and copy["A"].text == WRITTEN
    assert sent.loc[sent["variant_key"] == "B", "body"].str.endswith("（AI生成）").all()
    parts = (shop_settings.home_dir / "exports" / cid / "v1").glob("part-*.csv")
    exported = pd.concat(pd.read_csv(p, encoding="utf-8-sig") for p in parts)
    assert "aigc_metadata" in exported and exported["aigc_metadata"].isna().all()
