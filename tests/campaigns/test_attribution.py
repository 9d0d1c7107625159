"""Conversions are attributed to the assignment before them only within the campaign's own window."""

import datetime as dt

import pandas as pd
from campaign_shop import export_spec, launch
from sqlalchemy import select

from marketpilot.campaigns.state.models import Assignment, Outcome
from marketpilot.campaigns.tracking import ingest_events

T0 = dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC)  # when `launch` plans, so every assigned_at
WINDOW = dt.timedelta(days=7)
SECOND = dt.timedelta(seconds=1)


def test_attribution_window_boundary(shop_settings, engine) -> None:
    spec = export_spec(audience={"segments": ["新客"]}, attribution_window_days=7)
    cid, _ = launch(shop_settings, spec, clock=lambda: T0)
    with engine.connect() as con:
        arms = dict(con.execute(select(Assignment.customer_id, Assignment.arm)).all())
    customers = sorted(arms)[:4]
    when = {
        "inside": T0 + WINDOW - SECOND,
        "at-edge": T0 + WINDOW,  # the window is closed: its last instant still counts
        "outside": T0 + WINDOW + SECOND,  # inside the default 14 days, so the campaign's own 7 apply
        "before": T0 - SECOND,  # bought before the campaign reached them
    }
    events = pd.DataFrame(
        [
            {
                "event_id": name,
                "kind": "conversion",
                "customer_id": customer,
                "occurred_at": at.isoformat(),
                "revenue": "99.5",
            }
            for (name, at), customer in zip(when.items(), customers, strict=True)
        ]
    )
    result = ingest_events(engine, events)
    assert result.new == 4 and result.attributed == 2
    with engine.connect() as con:
        outcomes = pd.DataFrame(con.execute(select(Outcome.__table__)).all()).set_index("event_id")
    assert sorted(outcomes.index) == ["at-edge", "inside"]
    assert (outcomes["campaign_id"] == cid).all() and (outcomes["version"] == 1).all()
    assert (outcomes["revenue_minor"] == 9950).all()
    assert outcomes.loc["inside", "arm"] == arms[customers[0]]
    # Conversions left out stay out when attribution runs again on the next ingest.
    assert ingest_events(engine, events).attributed == 0
