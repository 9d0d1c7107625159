"""The CLI end to end in a subprocess-free runner, `track ingest` on CSV, JSON lines and GBK files,
and the HTTP tracking receiver, in-process and as the `track serve` process."""

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from campaign_shop import export_spec, launch
from receivers import free_port
from sqlalchemy import select
from typer.testing import CliRunner

from marketpilot.campaigns.state.models import MessageRecord, Outcome, TrackingEvent
from marketpilot.campaigns.tracking import serve
from marketpilot.cli import app
from marketpilot.errors import ValidationFailed


def test_cli_create_approve_run_status_report(shop_settings, tmp_path) -> None:
    import yaml

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(export_spec(), allow_unicode=True), encoding="gbk")
    runner = CliRunner()
    home = ["--home", str(shop_settings.home_dir)]
    created = runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home, "--json"])
    assert created.exit_code == 0, created.output
    cid = json.loads(created.stdout)["campaign_id"]
    refused = runner.invoke(app, ["campaign", "run", cid, *home, "--json"])
    assert refused.exit_code != 0
    # The hint is a command that runs as written: `approve` requires --by.
    assert f"campaign approve {cid} --by " in str(refused.exception)
    # Before its first run a campaign has no messages and nothing to measure: said, not guessed at.
    draft = runner.invoke(app, ["campaign", "status", cid, "--home", str(shop_settings.home_dir)])
    assert draft.exit_code == 0 and "no messages yet" in draft.stdout
    unmeasured = runner.invoke(app, ["campaign", "report", cid, "--no-llm", *home])
    assert unmeasured.exit_code != 0 and "has no customer to measure" in str(unmeasured.exception)
    assert runner.invoke(app, ["campaign", "approve", cid, "--by", "王经理", *home]).exit_code == 0
    ran = runner.invoke(app, ["campaign", "run", cid, *home, "--json"])
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    status = json.loads(runner.invoke(app, ["campaign", "status", cid, *home, "--json"]).stdout)
    # export is not customer-facing, so quiet hours never defer it, whatever the time of the test
    assert result["deferred_until"] is None
    assert status == [{"version": 1, "channel": "export", "status": "sent", "messages": result["sent"]}]
    listed = json.loads(runner.invoke(app, ["campaign", "list", *home, "--json"]).stdout)
    assert [c["id"] for c in listed] == [cid]
    report = runner.invoke(app, ["campaign", "report", cid, "--no-llm", *home, "--json"])
    assert report.exit_code == 0, report.output
    assert json.loads(report.stdout)["narrative"]["source"] == "template"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngoal: world_domination\nchannels: []\n", encoding="utf-8")
    failed = runner.invoke(app, ["campaign", "create", "--spec", str(bad), *home])
    # The root turns this into exit code 2 (run_app); here we see the error it would print.
    assert isinstance(failed.exception, ValidationFailed) and "goal" in str(failed.exception)


def test_cli_create_says_how_to_approve(shop_settings, tmp_path) -> None:
    """`approve` requires --by: the next step printed after `create` runs as written."""
    import yaml

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(export_spec(), allow_unicode=True), encoding="utf-8")
    home = ["--home", str(shop_settings.home_dir)]
    created = CliRunner().invoke(app, ["campaign", "create", "--spec", str(spec_file), *home])
    assert created.exit_code == 0, created.output
    cid = created.stdout.split()[1]
    assert f"`marketpilot campaign approve {cid} --by NAME`" in " ".join(created.stdout.split())


def test_cli_run_and_simulate_say_what_they_did_in_words(shop_settings, tmp_path) -> None:
    """Without --json, `campaign run` and `campaign simulate` printed a Python dict; now sentences whose
    figures are the --json ones."""
    import yaml

    from marketpilot.campaigns.service import message_counts
    from marketpilot.campaigns.state.db import open_state

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(export_spec(), allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    home = ["--home", str(shop_settings.home_dir)]
    created = runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home, "--json"])
    cid = json.loads(created.stdout)["campaign_id"]
    assert runner.invoke(app, ["campaign", "approve", cid, "--by", "王经理", *home]).exit_code == 0
    ran = runner.invoke(app, ["campaign", "run", cid, *home])
    assert ran.exit_code == 0, ran.output
    text = " ".join(ran.stdout.split())
    assert "{" not in text and "'" not in text
    [row] = message_counts(open_state(shop_settings), cid)
    sent = row["messages"]
    assert (
        f"{cid} v1: " in text and f"{sent:,} messages queued" in text and f"Sent {sent:,}, failed 0." in text
    )
    assert "held out" in text and "Arms: " in text and "Channels: export " in text
    again = " ".join(runner.invoke(app, ["campaign", "run", cid, *home]).stdout.split())
    assert again == f"{cid} v1: planned by an earlier run; resumed. Sent 0, failed 0."
    simulated = runner.invoke(app, ["campaign", "simulate", cid, "--seed", "3", *home])
    assert simulated.exit_code == 0, simulated.output
    said = " ".join(simulated.stdout.split())
    assert (
        "{" not in said and f"for {cid} v1:" in said and "True lift (what the report should find): " in said
    )
    assert " new, 0 already ingested;" in said


def test_http_receiver_ingests_and_dedupes(engine) -> None:
    server = serve(engine, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/events"
    events = [
        {
            "event_id": "e1",
            "kind": "open",
            "customer_id": "C000001",
            "occurred_at": "2026-02-01T12:00:00+08:00",
        },
        {
            "event_id": "e2",
            "kind": "unsubscribe",
            "customer_id": "C000002",
            "occurred_at": "2026-02-01T12:01:00+08:00",
        },
    ]
    first = httpx.post(url, json=events).json()
    again = httpx.post(url, json=events[0]).json()
    bad = httpx.post(url, json=[{"kind": "teleport", "customer_id": "C1", "occurred_at": "soon"}])
    server.shutdown()
    assert first["new"] == 2 and first["suppressed"] == 1
    assert again["new"] == 0 and again["duplicates"] == 1
    assert bad.status_code == 400 and "teleport" in bad.json()["error"]


def _messages(engine, cid: str) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(select(MessageRecord.__table__).where(MessageRecord.campaign_id == cid)).all()
    return pd.DataFrame(rows)


def _events(engine) -> pd.DataFrame:
    with engine.connect() as con:
        return pd.DataFrame(con.execute(select(TrackingEvent.__table__)).all())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_track_ingest_reads_csv_jsonl_and_gbk_csv_files(shop_settings, engine, tmp_path) -> None:
    cid, run = launch(shop_settings, export_spec(holdout_share=0.0))
    sent = _messages(engine, cid).head(3)
    keys, customers = sent["idempotency_key"].tolist(), sent["customer_id"].tolist()
    csv_file = tmp_path / "clicks.csv"
    pd.DataFrame(
        {
            "event_id": ["c1", "c2"],
            "kind": "click",
            "idempotency_key": keys[:2],
            "occurred_at": "2026-02-01T13:00:00+08:00",
        }
    ).to_csv(csv_file, index=False)
    jsonl_file = tmp_path / "orders.jsonl"
    jsonl_file.write_text(
        "\n".join(
            json.dumps(
                {
                    "event_id": f"o{i}",
                    "kind": "conversion",
                    "customer_id": c,
                    "revenue": 99.5,
                    "occurred_at": "2026-02-02T10:00:00+08:00",
                }
            )
            for i, c in enumerate(customers[:2])
        ),
        encoding="utf-8",
    )
    # A shop back-end export in GBK, with Chinese event ids and a column tracking does not use.
    gbk_file = tmp_path / "退订.csv"
    gbk_file.write_bytes(
        "event_id,kind,idempotency_key,occurred_at,备注\n"
        f"退订-1,unsubscribe,{keys[2]},2026-02-01 14:00:00+08:00,顾客回复TD\n".encode("gbk")
    )
    runner = CliRunner()
    home = ["--home", str(shop_settings.home_dir), "--json"]

    said = runner.invoke(app, ["track", "ingest", str(csv_file), "--home", str(shop_settings.home_dir)])
    assert said.exit_code == 0 and "2 events read: 2 new, 0 already ingested" in " ".join(said.stdout.split())

    def ingest(path) -> dict:
        out = runner.invoke(app, ["track", "ingest", str(path), *home])
        assert out.exit_code == 0, out.output
        return json.loads(out.stdout)

    assert ingest(csv_file) == {
        "received": 2,
        "new": 0,
        "duplicates": 2,
        "attributed": 0,
        "suppressed": 0,
        "unattributed": 0,
        "no_revenue": 0,
        "unknown_messages": 0,
    }
    assert ingest(jsonl_file)["attributed"] == 2
    assert ingest(gbk_file)["suppressed"] == 1
    again = ingest(gbk_file)
    assert again["new"] == 0 and again["duplicates"] == 1
    events = _events(engine).set_index("event_id")
    assert set(events.index) == {"c1", "c2", "o0", "o1", "退订-1"}
    # Events keyed by message get the customer and campaign of the message they are about.
    assert events.loc[["c1", "c2"], "customer_id"].tolist() == customers[:2]
    assert (events.loc[["c1", "c2", "退订-1"], "campaign_id"] == cid).all()
    assert events.loc["o0", "revenue_minor"] == 9950
    with engine.connect() as con:
        outcomes = pd.DataFrame(con.execute(select(Outcome.__table__)).all())
    assert sorted(outcomes["customer_id"]) == sorted(customers[:2]) and (outcomes["campaign_id"] == cid).all()
    assert run.sent > 0
    # An empty export or a folder given by mistake: what is wrong, in the user's terms.
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    for path, said in ((empty, "the file is empty"), (tmp_path, "is a folder")):
        out = runner.invoke(app, ["track", "ingest", str(path), *home])
        assert out.exit_code != 0 and said in str(out.exception)
    out = runner.invoke(app, ["campaign", "create", "--spec", str(tmp_path), *home])
    assert out.exit_code != 0 and "is a folder" in str(out.exception)


@pytest.mark.slow
def test_track_serve_runs_as_a_process_and_ingests_posted_events(shop_settings, engine) -> None:
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("marketpilot")),
        "track",
        "serve",
        "--port",
        str(port),
        "--home",
        str(shop_settings.home_dir),
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/events"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "track serve did not start listening within 30 s"
                time.sleep(0.2)
        events = [
            {
                "event_id": "h1",
                "kind": "open",
                "customer_id": "C000001",
                "occurred_at": "2026-02-01T12:00:00+08:00",
            },
            {
                "event_id": "h2",
                "kind": "bounce",
                "customer_id": "C000002",
                "occurred_at": "2026-02-01T12:01:00+08:00",
            },
        ]
        first = httpx.post(url, json=events, timeout=10).json()
        again = httpx.post(url, json=events[0], timeout=10).json()
        assert first["new"] == 2 and first["suppressed"] == 1
        assert again["new"] == 0 and again["duplicates"] == 1
        stored = _events(engine).set_index("event_id")
        assert stored.loc[["h1", "h2"], "source"].tolist() == ["http", "http"]
        assert stored.loc["h1", "customer_id"] == "C000001"
    finally:
        server.send_signal(signal.SIGINT)
        try:
            output, _ = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    assert f"127.0.0.1:{port}/events" in output and "Stopped." in output


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_cli_run_reports_held_messages_and_wait_sends_them_after_quiet_hours(
    shop_settings, engine, monkeypatch, tmp_path
) -> None:
    import datetime as dt

    import yaml
    from receivers import Gateway

    from marketpilot.campaigns.spec import parse_spec

    gateway = Gateway(shop_settings.secret())
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    zone = parse_spec(export_spec()).schedule.zone
    # Quiet hours that began an hour ago and end a few seconds from now, wherever the clock stands.
    now = dt.datetime.now(zone)
    end = (now + dt.timedelta(seconds=12)).replace(microsecond=0)
    spec = export_spec(
        audience={"segments": ["新客"], "propensity": {"min": 0.3}},
        channels=[{"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}],
        schedule={
            "quiet_start": (now - dt.timedelta(hours=1)).time().isoformat(),
            "quiet_end": end.time().isoformat(),
        },
    )
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    home = ["--home", str(shop_settings.home_dir)]
    cid = json.loads(
        runner.invoke(app, ["campaign", "create", "--spec", str(spec_file), *home, "--json"]).stdout
    )["campaign_id"]
    assert runner.invoke(app, ["campaign", "approve", cid, "--by", "王经理", *home]).exit_code == 0
    try:
        held = runner.invoke(app, ["campaign", "run", cid, *home])
        assert held.exit_code == 0, held.output
        assert gateway.accepted == {}, "sent inside quiet hours"
        queued = len(_messages(engine, cid))
        text = " ".join(held.output.split())
        assert f"Held {queued:,} messages" in text and queued > 0
        assert f"next allowed send time {end:%Y-%m-%d %H:%M:%S}" in text and "--wait" in text
        waited = runner.invoke(app, ["campaign", "run", cid, "--wait", *home])
    finally:
        gateway.close()
    assert waited.exit_code == 0, waited.output
    assert "Waiting until" in waited.output and "Held" not in waited.output
    assert dt.datetime.now(zone) >= end
    assert len(gateway.accepted) == queued
    assert set(_messages(engine, cid)["status"]) == {"sent"}
