"""The CLI end to end in a subprocess-free runner, and the HTTP tracking receiver."""

import json
import threading

import httpx
from campaign_shop import export_spec
from typer.testing import CliRunner

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
