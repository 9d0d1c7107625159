import datetime as dt

import pandas as pd
import pytest
from campaign_shop import export_spec
from sqlalchemy import insert, inspect
from sqlalchemy.exc import IntegrityError

from marketpilot.campaigns import service
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import MessageRecord, utcnow
from marketpilot.privacy.consent import contact_permissions, latest_consent, record_consent, suppress


def test_migrations_create_every_table(engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {
        "campaigns",
        "campaign_versions",
        "approvals",
        "briefs",
        "variants",
        "assignments",
        "messages",
        "consent_records",
        "suppressions",
        "tracking_events",
        "outcomes",
        "alembic_version",
    } <= tables


def test_idempotency_key_is_unique(engine) -> None:
    cid = service.create_campaign(engine, parse_spec(export_spec()))
    row = {
        "idempotency_key": "k1",
        "campaign_id": cid,
        "version": 1,
        "customer_id": "C1",
        "channel": "sms",
        "variant_key": "A",
        "body": "你好",
        "status": "queued",
        "attempts": 0,
        "not_before": utcnow(),
    }
    with engine.begin() as con:
        con.execute(insert(MessageRecord), [row])
    with pytest.raises(IntegrityError), engine.begin() as con:
        con.execute(insert(MessageRecord), [row | {"customer_id": "C2"}])


def test_latest_consent_wins_and_suppression_beats_consent(engine) -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    record_consent(engine, ["C1", "C2"], "sms", "granted", source="注册表单", at=t0)
    record_consent(engine, ["C1"], "sms", "revoked", source="短信回复R", at=t0 + dt.timedelta(days=1))
    record_consent(engine, ["C3"], "personalisation", "revoked", source="隐私设置", at=t0)
    assert suppress(engine, ["C2", "C2"], "complained", source="运营商投诉") == 1
    suppress(engine, ["C2"], "complained", source="again")  # a second time is a no-op
    latest = latest_consent(engine).set_index(["customer_id", "channel"])["status"]
    assert latest[("C1", "sms")] == "revoked"
    perms = contact_permissions(engine, pd.Series(["C1", "C2", "C3", "C4"]), ["sms", "email"])
    assert perms["sms"].tolist() == [False, False, True, True]
    assert perms["email"].tolist() == [True, False, True, True]
    assert perms["personalised"].tolist() == [True, True, False, True]
    opt_in = contact_permissions(engine, pd.Series(["C1", "C3", "C4"]), ["sms"], require_opt_in=True)
    assert opt_in["sms"].tolist() == [False, False, False]


@pytest.mark.parametrize(
    ("name", "start"),
    [
        ("春节唤醒 满300减40", "春节唤醒-满300减40-"),
        ("Spring  Sale!", "spring-sale-"),
        ("!!!", "reactivation-"),
    ],
)
def test_campaign_ids_keep_the_names_words(engine, name: str, start: str) -> None:
    cid = service.create_campaign(engine, parse_spec(export_spec(name=name)))
    assert cid.startswith(start) and len(cid) == len(start) + 6
    assert service.get_spec(engine, cid)[0].name == name


def test_approval_is_per_version(engine) -> None:
    spec = parse_spec(export_spec())
    cid = service.create_campaign(engine, spec)
    service.approve(engine, cid, approver="王经理")
    assert service.is_approved(engine, cid, 1)
    version = service.add_version(engine, cid, spec, note="test")
    assert version == 2 and not service.is_approved(engine, cid, 2)
    assert service.get_spec(engine, cid)[1] == 2


def test_a_new_version_and_its_rewrite_audit_rows_commit_together(engine) -> None:
    from marketpilot.campaigns.copy import audit_row

    cid = service.create_campaign(engine, parse_spec(export_spec()))
    spec, _ = service.get_spec(engine, cid)
    good = audit_row(cid, 0, "export", "B", None, "{name}，新春8折好礼", True, "", "optimize")
    broken = good | {"text": None}  # variants.text is NOT NULL: the audit insert fails
    with pytest.raises(IntegrityError):
        service.add_version(engine, cid, spec, note="rewrite B", variants=[good, broken])
    trail = service.audit_trail(engine, cid)
    # Neither the version nor any of its audit rows was kept, and version 1 is still current.
    assert trail["versions"]["version"].tolist() == [1] and trail["variants"].empty
    assert service.get_spec(engine, cid)[1] == 1
    assert service.add_version(engine, cid, spec, note="rewrite B", variants=[good]) == 2
    variants = service.audit_trail(engine, cid)["variants"]
    assert variants[["version", "variant_key", "source"]].values.tolist() == [[2, "B", "optimize"]]


def test_a_home_removed_and_made_again_gets_fresh_state(tmp_path, monkeypatch) -> None:
    """A long-running process (`marketpilot serve`) outlives `rm -rf home`: the next open must not reuse
    pooled connections to the deleted SQLite file, nor skip the migrations of the new one."""
    import shutil

    from marketpilot.campaigns.state.db import open_state
    from marketpilot.config import get_settings

    monkeypatch.delenv("MARKETPILOT_DATABASE_URL", raising=False)
    settings = get_settings(tmp_path / "home")
    first = open_state(settings)
    assert open_state(settings) is first
    service.create_campaign(first, parse_spec(export_spec()))
    assert len(service.list_campaigns(first)) == 1
    shutil.rmtree(tmp_path / "home")
    settings = get_settings(tmp_path / "home")
    again = open_state(settings)
    assert again is not first and service.list_campaigns(again).empty
    service.create_campaign(again, parse_spec(export_spec()))
    assert len(service.list_campaigns(open_state(settings))) == 1
