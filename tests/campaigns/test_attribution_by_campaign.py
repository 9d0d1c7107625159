"""A customer reached by two campaigns: a conversion that names its campaign (campaign_id, or the key of
one of its messages) goes to that campaign, not to whichever reached the customer last. And what an
ingest does not use is said: conversions without revenue, events about messages never sent from here."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from campaign_shop import export_spec, launch
from sqlalchemy import select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from marketpilot.campaigns import service
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import Assignment, MessageRecord, Outcome
from marketpilot.campaigns.tracking import ingest_events
from marketpilot.cli import app
from marketpilot.config import Settings

T0 = dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC)  # noon in Shanghai
DAY = dt.timedelta(days=1)
SECOND = dt.timedelta(seconds=1)
# Three sends in two days: the default cap (2 a week) would keep the customers out of the last one.
CAPS = {"frequency_max": 10}


def _conversion(event_id: str, at: dt.datetime, **more: object) -> dict[str, object]:
    return {"event_id": event_id, "kind": "conversion", "occurred_at": at.isoformat(), "revenue": "10"} | more


def _outcomes(engine: Engine) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(select(Outcome.event_id, Outcome.campaign_id, Outcome.version, Outcome.arm))
        return pd.DataFrame(rows.all(), columns=["event_id", "campaign_id", "version", "arm"]).set_index(
            "event_id"
        )


def test_a_conversion_naming_its_campaign_goes_to_that_campaign(
    shop_settings: Settings, engine: Engine
) -> None:
    audience = {"segments": ["沉睡客户"]}
    spec = export_spec(audience=audience, caps=CAPS, attribution_window_days=7)
    x, _ = launch(shop_settings, spec, campaign_id="x-0a1b2c", clock=lambda: T0)
    # Version 2 of X a day later, then Y a day after that: Y is every customer's latest assignment.
    service.add_version(engine, x, parse_spec(spec), note="v2")
    service.approve(engine, x, approver="测试员")
    run_campaign(shop_settings, x, clock=lambda: T0 + DAY)
    y_spec = export_spec(name="元宵", audience=audience, caps=CAPS)
    y, _ = launch(shop_settings, y_spec, campaign_id="y-0a1b2c", clock=lambda: T0 + 2 * DAY)

    with engine.connect() as con:
        assigned = pd.DataFrame(
            con.execute(select(Assignment.campaign_id, Assignment.version, Assignment.customer_id)).all()
        )
        messages = pd.DataFrame(
            con.execute(
                select(MessageRecord.customer_id, MessageRecord.idempotency_key).where(
                    MessageRecord.campaign_id == x, MessageRecord.version == 2
                )
            ).all()
        )
        arms = {
            (c, v): a
            for c, v, a in con.execute(
                select(Assignment.campaign_id, Assignment.version, Assignment.arm).where(
                    Assignment.customer_id == messages["customer_id"].iloc[0]
                )
            )
        }
    customer, key = messages.iloc[0]["customer_id"], messages.iloc[0]["idempotency_key"]
    runs = set(
        assigned.loc[assigned["customer_id"] == customer, ["campaign_id", "version"]].itertuples(index=False)
    )
    assert runs == {(x, 1), (x, 2), (y, 1)}

    events = pd.DataFrame(
        [
            _conversion("x-tagged", T0 + 3 * DAY, customer_id=customer, campaign_id=x),
            _conversion("untagged", T0 + 3 * DAY, customer_id=customer),
            _conversion("y-tagged", T0 + 3 * DAY, customer_id=customer, campaign_id=y),
            # Tagged X but past X v2's 7 days (inside Y's 14): no X assignment claims it, Y does.
            _conversion("x-too-late", T0 + 8 * DAY + SECOND, customer_id=customer, campaign_id=x),
            # Tagged X before X v2 was sent: X v1, the latest version of X before it.
            _conversion("x-before-v2", T0 + DAY - SECOND, customer_id=customer, campaign_id=x),
        ]
    )
    # The key of the customer's X v2 message names X, though the row names no campaign or customer.
    keyed = pd.DataFrame([_conversion("x-keyed", T0 + 3 * DAY, idempotency_key=key)])
    result = ingest_events(engine, pd.concat([events, keyed], ignore_index=True))
    assert result.attributed == 6 and result.unattributed == 0
    outcomes = _outcomes(engine)
    where = {e: (r.campaign_id, int(r.version)) for e, r in outcomes.iterrows()}
    assert where == {
        "x-tagged": (x, 2),
        "untagged": (y, 1),
        "y-tagged": (y, 1),
        "x-too-late": (y, 1),
        "x-before-v2": (x, 1),
        "x-keyed": (x, 2),
    }
    assert outcomes.loc["x-tagged", "arm"] == arms[(x, 2)] and outcomes.loc["untagged", "arm"] == arms[(y, 1)]
    # Attribution runs again on the next ingest; what it gave stays given, once.
    assert ingest_events(engine, events).attributed == 0 and len(_outcomes(engine)) == 6


def test_conversions_without_revenue_and_unknown_messages_are_counted(
    shop_settings: Settings, engine: Engine, tmp_path
) -> None:
    launch(shop_settings, export_spec(audience={"segments": ["沉睡客户"]}))
    with engine.connect() as con:
        sent = con.execute(select(MessageRecord.customer_id, MessageRecord.idempotency_key)).all()
    (c1, k1), (c2, _), (c3, _) = sent[:3]
    after = T0 + DAY
    rows = [
        _conversion("blank", after, customer_id=c1, revenue=""),
        {"event_id": "missing", "kind": "conversion", "occurred_at": after.isoformat(), "customer_id": c2},
        _conversion("paid", after, customer_id=c3),
        _conversion("click-blank", after, customer_id=c3, kind="click", revenue=""),  # a click has none
        {"event_id": "ours", "kind": "open", "occurred_at": after.isoformat(), "idempotency_key": k1},
        {"event_id": "theirs", "kind": "open", "occurred_at": after.isoformat(), "idempotency_key": "m-zz9"},
        {
            "event_id": "theirs-2",
            "kind": "click",
            "occurred_at": after.isoformat(),
            "idempotency_key": "m-zz9",
        },
    ]
    result = ingest_events(engine, pd.DataFrame(rows))
    assert result.new == 7 and result.attributed == 3  # blank revenue is still a conversion
    assert result.no_revenue == 2 and result.unknown_messages == 2
    again = ingest_events(engine, pd.DataFrame(rows))
    assert again.duplicates == 7 and again.no_revenue == 0 and again.unknown_messages == 0
    with engine.connect() as con:
        revenue = dict(con.execute(select(Outcome.event_id, Outcome.revenue_minor)).all())
    assert revenue == {"blank": 0, "missing": 0, "paid": 1000}

    # A file with revenue_minor: a blank cell there is no revenue either; `track ingest` says both.
    path = tmp_path / "events.csv"
    pd.DataFrame(
        [
            {"event_id": "m1", "kind": "conversion", "occurred_at": after.isoformat(), "customer_id": c1,
             "idempotency_key": "", "revenue_minor": ""},
            {"event_id": "m2", "kind": "conversion", "occurred_at": after.isoformat(), "customer_id": c2,
             "idempotency_key": "", "revenue_minor": "990"},
            {"event_id": "m3", "kind": "delivered", "occurred_at": after.isoformat(), "customer_id": "",
             "idempotency_key": "other-system-1", "revenue_minor": ""},
        ]
    ).to_csv(path, index=False)  # fmt: skip
    out = CliRunner().invoke(app, ["track", "ingest", str(path), "--home", str(shop_settings.home_dir)])
    assert out.exit_code == 0, out.output
    said = " ".join(out.stdout.split())
    assert "1 new conversion has no revenue: counted as conversions worth 0" in said
    assert "1 new event names a message never sent from here (idempotency_key)" in said


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_ingest_json_counts_are_all_there(shop_settings: Settings, engine: Engine, tmp_path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"event_id": "e1", "kind": "conversion", "occurred_at": "2026-02-02T10:00:00+08:00", '
        '"idempotency_key": "never-sent"}\n',
        encoding="utf-8",
    )
    home = ["--home", str(shop_settings.home_dir), "--json"]
    out = CliRunner().invoke(app, ["track", "ingest", str(path), *home])
    assert out.exit_code == 0, out.output
    # No customer: the conversion is nobody's, and said so three ways.
    assert json.loads(out.stdout) == {
        "received": 1,
        "new": 1,
        "duplicates": 0,
        "attributed": 0,
        "suppressed": 0,
        "unattributed": 1,
        "no_revenue": 1,
        "unknown_messages": 1,
    }
