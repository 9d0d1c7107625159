"""A receiver that fails mid-run (HTTP 500, a timeout, nothing listening): the run stops sending on that
channel at once, says why, leaves the unsent messages queued and the campaign running, and the re-run
after the fix delivers every message exactly once at the receiver. Before, each message was retried
three times at once and then marked `failed` for good, a down gateway turned the whole campaign into
failures in a second (or, timing out, took 3 × timeout per message), `campaign run` exited 0 with
"Sent 0, failed N" and the campaign was marked `sent`, and no re-run would ever send them."""

import datetime as dt
import json
import os

import yaml
from campaign_shop import campaign_state, export_spec, launch
from receivers import Gateway, free_port
from typer.testing import CliRunner

from marketpilot.campaigns.executor import run_campaign
from marketpilot.cli import app

NOON = dt.datetime(2026, 2, 1, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
SMS = [{"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}]
NO_QUIET_HOURS = {"quiet_start": "00:00", "quiet_end": "00:00"}  # the CLI runs at the real time


def _posted_keys(gateway: Gateway) -> list[str]:
    return [p["payload"]["message"]["idempotency_key"] for p in gateway.posts]


def test_a_gateway_answering_500_mid_run_stops_the_channel_and_the_rerun_resumes(
    shop_settings, engine, monkeypatch
) -> None:
    gateway = Gateway(shop_settings.secret())
    gateway.fail_after = 30
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url + "?token=s3cret")
    cid, broken = launch(shop_settings, export_spec(audience={"segments": ["新客"]}, channels=SMS))
    queued = broken.plan.queued
    assert queued > 100
    # The first 500 stops the channel: 30 sent, one refused, no other POST, nothing failed for good.
    assert (broken.sent, broken.failed, broken.pending) == (30, 0, queued - 30)
    assert len(gateway.posts) == 31
    assert broken.errors["sms"].startswith(f"{gateway.url}: HTTP 500")
    assert "s3cret" not in broken.errors["sms"]
    assert broken.deferred_until is None  # nothing waits for the schedule: it waits for a re-run
    assert campaign_state(engine, cid) == ("running", {"sent": 30, "queued": queued - 30})

    gateway.fail_after = None
    resumed = run_campaign(shop_settings, cid, clock=lambda: NOON)
    gateway.close()
    assert not resumed.planned and not resumed.errors
    assert (resumed.sent, resumed.failed, resumed.pending) == (queued - 30, 0, 0)
    assert campaign_state(engine, cid) == ("sent", {"sent": queued})
    keys = _posted_keys(gateway)
    # Every message reached the gateway once; only the one answered 500 was POSTed twice.
    assert len(gateway.accepted) == queued and len(keys) == queued + 1
    assert gateway.bad_signatures == 0


def test_a_gateway_that_times_out_costs_one_timeout_not_three_per_message(
    shop_settings, engine, monkeypatch
) -> None:
    gateway = Gateway(shop_settings.secret())
    gateway.delay_s = 1.0
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_TIMEOUT_S", "0.2")
    cid, stalled = launch(shop_settings, export_spec(audience={"segments": ["新客"]}, channels=SMS))
    assert stalled.sent == 0 and stalled.pending == stalled.plan.queued > 100
    assert "ReadTimeout" in stalled.errors["sms"] and len(gateway.posts) <= 1
    assert campaign_state(engine, cid) == ("running", {"queued": stalled.plan.queued})

    gateway.delay_s = 0.0
    resumed = run_campaign(shop_settings, cid, clock=lambda: NOON)
    gateway.close()
    assert resumed.sent == stalled.plan.queued and resumed.pending == 0 and not resumed.errors
    # The timed-out POST may have arrived too (at-least-once): the gateway dedupes it by its key.
    assert set(gateway.accepted) == set(_posted_keys(gateway))
    assert len(gateway.accepted) == stalled.plan.queued


def test_cli_run_against_a_gateway_that_is_down_exits_3_and_resumes_once_it_is_up(
    shop_settings, engine, monkeypatch, tmp_path
) -> None:
    port = free_port()
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", f"http://127.0.0.1:{port}/sms")
    spec = export_spec(audience={"segments": ["新客"]}, channels=SMS, schedule=NO_QUIET_HOURS)
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    home = ["--home", str(shop_settings.home_dir)]
    created = runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home, "--json"])
    cid = json.loads(created.stdout)["campaign_id"]
    assert runner.invoke(app, ["campaign", "approve", cid, "--by", "王经理", *home]).exit_code == 0

    for _ in range(3):  # down for longer than a message's three attempts: none is given up
        down = runner.invoke(app, ["campaign", "run", cid, *home])
        assert down.exit_code == 3, down.output
    said = " ".join(down.stderr.split())
    assert f"error: sms: http://127.0.0.1:{port}/sms: ConnectError" in said
    assert "stay queued; the campaign stays running" in said and f"campaign run {cid}" in said
    status, counts = campaign_state(engine, cid)
    assert status == "running" and set(counts) == {"queued"}
    as_json = runner.invoke(app, ["campaign", "run", cid, *home, "--json"])
    assert as_json.exit_code == 3 and json.loads(as_json.stdout)["errors"]["sms"].endswith("refused")

    gateway = Gateway(shop_settings.secret(), port=port)
    up = runner.invoke(app, ["campaign", "run", cid, *home])
    gateway.close()
    assert up.exit_code == 0, up.output
    assert campaign_state(engine, cid) == ("sent", {"sent": counts["queued"]})
    assert len(_posted_keys(gateway)) == len(gateway.accepted) == counts["queued"]


def test_an_smtp_server_that_is_down_leaves_the_mail_queued_for_the_rerun(
    shop_settings, engine, smtp_server, monkeypatch
) -> None:
    listening = os.environ["MARKETPILOT_SMTP_PORT"]
    monkeypatch.setenv("MARKETPILOT_SMTP_PORT", str(free_port()))  # nothing there
    email = [
        {"name": "email", "variants": [{"key": "A", "subject": "新春礼遇", "text": "{name}您好，新春8折"}]}
    ]
    cid, down = launch(shop_settings, export_spec(audience={"segments": ["新客"]}, channels=email))
    assert down.sent == down.failed == 0 and down.pending == down.plan.queued > 100
    assert down.errors["email"].startswith("SMTP 127.0.0.1:")
    assert campaign_state(engine, cid) == ("running", {"queued": down.plan.queued})

    monkeypatch.setenv("MARKETPILOT_SMTP_PORT", listening)
    resumed = run_campaign(shop_settings, cid, clock=lambda: NOON)
    assert resumed.sent == down.plan.queued and not resumed.errors
    assert campaign_state(engine, cid) == ("sent", {"sent": down.plan.queued})
    assert len(smtp_server.envelopes) == down.plan.queued


def test_an_export_format_other_than_csv_or_parquet_is_refused_before_planning(
    shop_settings, engine, monkeypatch
) -> None:
    """MARKETPILOT_EXPORT_FORMAT=xlsx wrote CSV files named part-….xlsx; now the run is refused naming
    the variable, with the campaign still approved."""
    import pytest

    from marketpilot.errors import UserError

    monkeypatch.setenv("MARKETPILOT_EXPORT_FORMAT", "xlsx")
    with pytest.raises(UserError, match="MARKETPILOT_EXPORT_FORMAT"):
        launch(shop_settings, export_spec(), campaign_id="导出")
    assert campaign_state(engine, "导出") == ("approved", {})
    assert not (shop_settings.home_dir / "exports").exists()


def test_a_chinese_subject_with_a_line_break_arrives_encoded_on_one_line(
    shop_settings, engine, smtp_server, monkeypatch
) -> None:
    """A subject written as a YAML block (or by a model) with a line break made the e-mail library raise
    ValueError mid-dispatch: the run crashed with its batch `sending`, and every re-run crashed again.
    And List-Unsubscribe, too long to fold at 78 columns, went out as encoded words."""
    import email
    import email.policy

    monkeypatch.setenv("MARKETPILOT_MAIL_FROM", "好物小店 <shop@example.cn>")
    subject = "新春礼遇：\n全场8折，仅此一周"
    channels = [
        {"name": "email", "variants": [{"key": "A", "subject": subject, "text": "{name}您好，新春8折"}]}
    ]
    cid, result = launch(shop_settings, export_spec(audience={"segments": ["新客"]}, channels=channels))
    assert result.sent == result.plan.queued == len(smtp_server.envelopes) > 100 and not result.errors
    raw = smtp_server.envelopes[0].content
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()  # encoded words (RFC 2047), readable by any mail client
    # … but never in List-Unsubscribe: providers read its <URI>s as written, or show no unsubscribe button.
    [unsubscribe] = [h for h in head.split(b"\r\n") if h.startswith(b"List-Unsubscribe:")]
    assert unsubscribe.startswith(b"List-Unsubscribe: <https://") and b"=?" not in unsubscribe
    assert b", <mailto:" in unsubscribe
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert mail["Subject"] == "新春礼遇： 全场8折，仅此一周"
    assert mail["From"].addresses[0].display_name == "好物小店"
    assert mail.get_content_charset() == "utf-8" and "新春8折" in mail.get_content()
    assert campaign_state(engine, cid) == ("sent", {"sent": result.sent})
