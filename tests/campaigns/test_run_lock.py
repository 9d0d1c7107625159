"""One run of a campaign at a time: in one home by a file lock, and on a PostgreSQL state also across
machines (each with its own home) by an advisory lock. A second run would plan the same assignments
or re-send the first run's in-flight batch."""

import datetime as dt
from pathlib import Path

import pytest
from campaign_shop import campaign_state, export_spec
from sqlalchemy import text

from marketpilot.campaigns import service
from marketpilot.campaigns.executor import _running_alone_on, run_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.config import get_settings
from marketpilot.errors import ConflictError

NOON = dt.datetime(2026, 2, 1, 4, 0, tzinfo=dt.UTC)


@pytest.mark.pg
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite state lives in one home
def test_a_run_from_another_machine_sharing_the_postgresql_state_is_refused_while_one_runs(
    shop_settings, engine, tmp_path: Path
) -> None:
    cid = service.create_campaign(engine, parse_spec(export_spec()))
    service.approve(engine, cid, approver="测试员")
    other_machine = get_settings(tmp_path / "other-home")  # its own home, the same state database
    assert other_machine.state_url == shop_settings.state_url
    with _running_alone_on(engine, cid):
        with pytest.raises(ConflictError, match=cid):
            run_campaign(other_machine, cid, clock=lambda: NOON)
        # The holder is not idle in a transaction, which a server's idle_in_transaction_session_timeout
        # would end, letting the lock go mid-run.
        with engine.connect() as con:
            states = con.execute(
                text(
                    "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE l.locktype = 'advisory' AND l.granted"
                )
            ).scalars()
            assert "idle in transaction" not in set(states)
    assert campaign_state(engine, cid)[1] == {}  # the refused run planned nothing
    done = run_campaign(shop_settings, cid, clock=lambda: NOON)  # the lock went with its holder
    assert done.sent > 0 and campaign_state(engine, cid) == ("sent", {"sent": done.sent})
