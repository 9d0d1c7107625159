"""Exactly-once under a real crash: `kill -9` a dispatching subprocess, run again, and check at the
receiver that every message arrived exactly once after dedupe by idempotency key, and none is lost."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time

import pytest
from campaign_shop import export_spec
from receivers import Gateway
from sqlalchemy import select

from marketpilot.campaigns import service
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import MessageRecord

RUN = (
    "import datetime as dt, sys\n"
    "from marketpilot.config import get_settings\n"
    "from marketpilot.campaigns.executor import run_campaign\n"
    "run_campaign(get_settings(), sys.argv[1], clock=lambda: dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC))\n"
)


def statuses(engine, cid: str) -> dict[str, str]:
    with engine.connect() as con:
        rows = con.execute(
            select(MessageRecord.idempotency_key, MessageRecord.status).where(
                MessageRecord.campaign_id == cid
            )
        ).all()
    return dict(rows)


@pytest.mark.slow
def test_kill_dash_nine_mid_dispatch_then_resume_delivers_each_message_once(
    shop_settings, engine, monkeypatch
) -> None:
    gateway = Gateway(shop_settings.secret())
    monkeypatch.setenv("MARKETPILOT_WEBHOOK_URL", gateway.url)
    monkeypatch.setenv("MARKETPILOT_DISPATCH_RATE_PER_S", "150")  # slow enough to be caught mid-way
    spec = export_spec(
        audience={"segments": ["新客"]},
        channels=[{"name": "sms", "variants": [{"key": "A", "text": "{name}，新春全场8折"}]}],
    )
    cid = service.create_campaign(engine, parse_spec(spec))
    service.approve(engine, cid, approver="测试员")

    child = subprocess.Popen([sys.executable, "-c", RUN, cid], env=os.environ.copy())
    deadline = time.monotonic() + 90
    while len(gateway.posts) < 150 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    assert child.poll() is None, "the run finished before it could be killed; slow it down"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = statuses(engine, cid)
    assert 150 <= len(gateway.accepted) < len(before)
    assert set(before.values()) - {"sent"}  # killed with work left: queued and/or sending rows

    result = run_campaign(shop_settings, cid, clock=lambda: dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC))
    after = statuses(engine, cid)
    gateway.close()
    assert not result.planned  # the plan written before the crash was reused, not redone
    assert set(after.values()) == {"sent"}
    # None lost and nothing unknown: the receiver saw exactly the planned keys …
    assert set(gateway.accepted) == set(after)
    # … and only messages caught in 'sending' at the kill could reach it twice (deduped there).
    keys = [m["idempotency_key"] for p in gateway.posts for m in [p["payload"]["message"]]]
    duplicates = len(keys) - len(set(keys))
    assert duplicates <= result.resent_after_crash <= 100
    assert gateway.bad_signatures == 0
