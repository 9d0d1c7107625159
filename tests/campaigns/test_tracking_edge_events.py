"""Conversion events as shops really send them: for customers never sent anything, naming a campaign
that does not exist, the same order twice, refunds and blank or absurd revenue, times before the send,
in the future, without a zone or in Unix milliseconds. Each is counted where it belongs, or refused
with the row and the reason; none is a traceback or a wrapped-around revenue."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from campaign_shop import export_spec, launch
from sqlalchemy import select
from typer.testing import CliRunner

from marketpilot.campaigns.measure import measure
from marketpilot.campaigns.state.models import Assignment, Outcome, TrackingEvent
from marketpilot.campaigns.tracking import ingest_events
from marketpilot.cli import app
from marketpilot.errors import ValidationFailed

SENT = dt.datetime(2026, 2, 1, 4, 0, tzinfo=dt.UTC)  # launch()'s clock: 12:00 in Shanghai


@pytest.fixture
def campaign(shop_settings, engine) -> tuple[str, list[str], list[str]]:
    """A sent campaign: its id, its assigned customers and customers it never reached."""
    cid, _ = launch(shop_settings, export_spec(audience={"segments": ["沉睡客户"]}, holdout_share=0.2))
    with engine.connect() as con:
        assigned = sorted(con.execute(select(Assignment.customer_id)).scalars())
    everyone = {f"C{i:06d}" for i in range(3000)}
    return cid, assigned, sorted(everyone - set(assigned))


def _conversion(event_id: str, customer: str, when: object = "2026-02-01T14:00:00+08:00", **more) -> dict:
    return {"event_id": event_id, "kind": "conversion", "occurred_at": when, "customer_id": customer} | more


def _outcomes(engine) -> pd.DataFrame:
    with engine.connect() as con:
        rows = con.execute(select(Outcome.event_id, Outcome.customer_id, Outcome.revenue_minor))
        return pd.DataFrame(rows.all(), columns=["event_id", "customer_id", "revenue_minor"])


def test_revenue_that_is_no_order_is_refused_with_its_row(engine, campaign) -> None:
    _, assigned, _ = campaign
    c = assigned[0]
    cases = {
        "is negative; a refund is not a conversion": _conversion("r1", c, revenue="-30"),
        "revenue is not a number": _conversion("r2", c, revenue="inf"),
        "is too large for an order": _conversion("r3", c, revenue_minor="1e30"),
        "is not a whole number of fen": _conversion("r4", c, revenue_minor="12.5"),
    }
    for said, row in cases.items():
        with pytest.raises(ValidationFailed, match=said) as raised:
            ingest_events(engine, pd.DataFrame([_conversion("ok", assigned[1], revenue="99"), row]))
        assert "row 3" in str(raised.value)  # the second data row, as a spreadsheet numbers it
    assert _outcomes(engine).empty  # nothing was written, not even the good row
    # A blank revenue is a conversion of unknown value, not an error.
    assert ingest_events(engine, pd.DataFrame([_conversion("blank", c, revenue="")])).attributed == 1


def test_unknown_campaign_and_future_times_are_refused(engine, campaign) -> None:
    cid, assigned, _ = campaign
    with pytest.raises(ValidationFailed, match=r"event 'x1': no campaign '春节唤醒-ffffff'"):
        ingest_events(engine, pd.DataFrame([_conversion("x1", assigned[0], campaign_id="春节唤醒-ffffff")]))
    named = ingest_events(engine, pd.DataFrame([_conversion("x2", assigned[0], campaign_id=cid)]))
    assert named.attributed == 1
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    with pytest.raises(ValidationFailed, match=r"column occurred_at: .* after the last send or now"):
        ingest_events(engine, pd.DataFrame([_conversion("f1", assigned[1], future.isoformat())]))


def test_the_same_order_twice_counts_once(engine, campaign) -> None:
    _, assigned, _ = campaign
    c = assigned[2]
    # The order webhook retried under a new event id, then the same order in the nightly export.
    first = ingest_events(
        engine,
        pd.DataFrame(
            [
                _conversion("wh-1", c, revenue="199", order_id="DD20260201001"),
                _conversion("wh-2", c, revenue="199", order_id="DD20260201001"),
            ]
        ),
    )
    assert (first.received, first.new, first.duplicates, first.attributed) == (2, 1, 1, 1)
    again = ingest_events(
        engine, pd.DataFrame([_conversion("export-77", c, revenue="199", order_id="DD20260201001")])
    )
    assert (again.new, again.duplicates) == (0, 1)
    # Two rows repeated within one file without ids: one event, and the report says two were read.
    twice = ingest_events(engine, pd.DataFrame([_conversion(None, assigned[3])] * 2).drop(columns="event_id"))
    assert (twice.received, twice.new, twice.duplicates) == (2, 1, 1)
    outcomes = _outcomes(engine)
    assert outcomes.groupby("customer_id").size().to_dict() == {c: 1, assigned[3]: 1}


def test_conversions_no_assignment_claims_are_counted(shop_settings, engine, campaign, tmp_path) -> None:
    _, assigned, never = campaign
    rows = [
        _conversion("n1", never[0]),  # never sent anything
        _conversion("n2", assigned[4], "2026-01-20T10:00:00+08:00"),  # before the send
        _conversion("n3", assigned[5], "2026-03-20T10:00:00+08:00"),  # past the 14-day window
        _conversion("n4", assigned[6]),
    ]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = CliRunner().invoke(app, ["track", "ingest", str(path), "--home", str(shop_settings.home_dir)])
    assert out.exit_code == 0, out.output
    said = " ".join(out.stdout.split())
    assert "1 conversion attributed" in said and "3 new conversions not attributed" in said
    assert _outcomes(engine)["event_id"].tolist() == ["n4"]


def test_times_without_a_zone_are_the_campaigns_wall_clock(shop_settings, engine) -> None:
    # A shop in Berlin: the send is at 05:00 there (04:00 UTC).
    spec = export_spec(audience={}, holdout_share=0.0, schedule={"timezone": "Europe/Berlin"})
    cid, _ = launch(shop_settings, spec)
    with engine.connect() as con:
        a, b, c, d = sorted(con.execute(select(Assignment.customer_id)).scalars())[:4]
    ingest_events(
        engine,
        pd.DataFrame(
            [
                # 04:30 in Berlin is before the send; read as UTC it would look half an hour after it.
                _conversion("z1", a, "2026-02-01 04:30:00"),
                _conversion("z2", b, "2026年2月1日 14:05"),
                _conversion("z3", c, 1769954400000),  # Unix milliseconds: 2026-02-01 14:00 UTC
                _conversion("z4", d, "2026-02-01T09:00:00-05:00"),
            ]
        ),
    )
    with engine.connect() as con:
        when = dict(con.execute(select(TrackingEvent.event_id, TrackingEvent.occurred_at)).all())
    utc = {
        k: pd.Timestamp(v).tz_localize("UTC") if pd.Timestamp(v).tz is None else v for k, v in when.items()
    }
    assert utc["z1"] == pd.Timestamp("2026-02-01 03:30", tz="UTC")
    assert utc["z2"] == pd.Timestamp("2026-02-01 13:05", tz="UTC")
    assert utc["z3"] == pd.Timestamp("2026-02-01 14:00", tz="UTC")
    assert utc["z4"] == pd.Timestamp("2026-02-01 14:00", tz="UTC")
    assert sorted(_outcomes(engine)["event_id"]) == ["z2", "z3", "z4"]
    assert measure(engine, cid).overall.converters == 3


def test_revenue_in_another_currency_is_refused_with_its_row(
    shop_settings, engine, campaign, tmp_path
) -> None:
    """A campaign's revenue is measured in the shop's currency; a USD order in a CNY shop would count
    as yuan, and no rate is known to convert it. The shop's own code in any case, or none, is fine."""
    _, assigned, _ = campaign
    rows = [
        _conversion("c1", assigned[0], revenue="99", currency="cny"),
        _conversion("c2", assigned[1], revenue="12.5", currency="USD"),
        _conversion("c3", assigned[2], revenue="50"),
    ]
    path = tmp_path / "orders.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = CliRunner().invoke(app, ["track", "ingest", str(path), "--home", str(shop_settings.home_dir)])
    assert isinstance(out.exception, ValidationFailed)  # exit code 2 under `marketpilot` (run_app)
    assert "row 3, column currency: 'USD' is not the shop's currency CNY" in str(out.exception)
    assert _outcomes(engine).empty  # nothing was written
    rows[1]["currency"] = ""
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    out = CliRunner().invoke(app, ["track", "ingest", str(path), "--home", str(shop_settings.home_dir)])
    assert out.exit_code == 0, out.output
    assert sorted(_outcomes(engine)["event_id"]) == ["c1", "c2", "c3"]
