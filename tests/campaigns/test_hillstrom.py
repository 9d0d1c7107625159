"""Measurement on a real randomised e-mail experiment (Hillstrom, 64,000 customers, 1/3 holdout): the
campaign's assignments and conversions go through state and tracking, and `measure` must reproduce the
published conversion rates, put the men's e-mail lift clearly above zero, and see no sample-ratio
mismatch — until the holdout is tampered with."""

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import delete, insert

from marketpilot.campaigns import service
from marketpilot.campaigns.measure import measure
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import Assignment
from marketpilot.campaigns.tracking import ingest_events

ARMS = {"Mens E-Mail": "mens", "Womens E-Mail": "womens", "No E-Mail": "holdout"}
SENT = dt.datetime(2008, 3, 1, 4, tzinfo=dt.UTC)


@pytest.fixture
def hillstrom(data_dir) -> pd.DataFrame:
    frame = pd.read_csv(data_dir / "hillstrom" / "hillstrom.csv.gz", compression="gzip")
    frame["customer_id"] = "H" + frame.index.astype(str).str.zfill(5)
    frame["arm"] = frame["segment"].map(ARMS)
    return frame


def test_measurement_reproduces_the_hillstrom_experiment(backend, settings, hillstrom) -> None:
    from marketpilot.campaigns.state.db import open_state

    engine = open_state(settings)
    spec = parse_spec(
        {
            "name": "Hillstrom e-mail test",
            "goal": "cross_sell",
            "language": "en",
            "holdout_share": 1 / 3,
            "channels": [
                {"name": "email", "variants": [{"key": "mens", "text": "x"}, {"key": "womens", "text": "y"}]}
            ],
        }
    )
    cid = service.create_campaign(engine, spec, campaign_id="hillstrom")
    rows = [
        {
            "campaign_id": cid,
            "version": 1,
            "customer_id": c,
            "arm": a,
            "channel": "email",
            "channel_reason": "experiment",
            "personalised": True,
            "segment": s,
            "assigned_at": SENT,
        }
        for c, a, s in zip(
            hillstrom["customer_id"], hillstrom["arm"], hillstrom["history_segment"], strict=True
        )
    ]
    with engine.begin() as con:
        con.execute(insert(Assignment), rows)
    buyers = hillstrom[hillstrom["conversion"] == 1]
    ingested = ingest_events(
        engine,
        pd.DataFrame(
            {
                "event_id": "conv-" + buyers["customer_id"],
                "kind": "conversion",
                "customer_id": buyers["customer_id"],
                "occurred_at": (SENT + dt.timedelta(days=3)).isoformat(),
                "revenue": buyers["spend"],
            }
        ),
        source="hillstrom",
    )
    assert ingested.attributed == 578

    m = measure(engine, cid)
    rates = {a.arm: a.conversion_rate for a in m.arms}
    assert rates["mens"] == pytest.approx(0.0125, abs=5e-5)
    assert rates["womens"] == pytest.approx(0.0088, abs=5e-5)
    assert rates["holdout"] == pytest.approx(0.0057, abs=5e-5)
    lift = {v.arm: v for v in m.variant_lift}
    assert lift["mens"].absolute == pytest.approx(0.0125 - 0.0057, abs=1e-4)
    assert 0 < lift["mens"].ci_low < lift["mens"].absolute < lift["mens"].ci_high
    assert lift["mens"].p_value < 1e-6
    # Revenue per customer: $1.42 vs $0.65, and the bootstrap CI excludes zero.
    assert lift["mens"].revenue_per_customer_diff == pytest.approx(1.42 - 0.65, abs=0.02)
    assert lift["mens"].revenue_ci_low > 0
    assert not m.srm.mismatch and m.srm.p_value > 0.01
    assert m.sample_size_per_group is not None and m.mde < lift["mens"].absolute
    assert max(m.posteriors, key=lambda p: p.prob_best).arm == "mens"

    # Losing 3 % of the holdout (a broken assignment or logging) must trip the sample-ratio check.
    lost = hillstrom[hillstrom["arm"] == "holdout"]["customer_id"].iloc[:640].tolist()
    with engine.begin() as con:
        con.execute(delete(Assignment).where(Assignment.customer_id.in_(lost)))
    assert measure(engine, cid).srm.mismatch
