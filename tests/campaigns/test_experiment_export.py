"""A campaign version as an experiment table (`campaign outcomes`), chained into `decide uplift`: the
loop's own holdout is what the next targeting learns from."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from marketpilot.campaigns.experiment import experiment_table
from marketpilot.campaigns.loop import run_campaign_loop
from marketpilot.campaigns.measure import customer_outcomes
from marketpilot.campaigns.state.db import open_state
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.sample import make_sample
from marketpilot.errors import UserError


@pytest.fixture
def ran(settings: Settings) -> str:
    make_sample(settings, customers=3000, seed=5)  # a holdout of ~400: 200+ to train on
    return run_campaign_loop(settings, use_llm=False, seed=1).campaign_id


def test_the_table_holds_every_assigned_customer_with_features_before_the_send(settings, ran) -> None:
    table = experiment_table(settings, ran, 1)
    outcomes = customer_outcomes(open_state(settings), ran, 1)
    assert len(table) == len(outcomes) and table["customer_id"].is_unique
    assert set(table["arm"]) == set(outcomes["arm"]) and "holdout" in set(table["arm"])
    assert table["converted"].sum() == outcomes["converted"].sum()
    assert table["revenue"].sum() == pytest.approx(outcomes["revenue_minor"].sum() / 100)
    features = table.attrs["features"]
    assert {"recency_days", "frequency", "monetary"} <= set(features)
    assert not table[features].isna().any().any()
    # No purchase on or after the cutoff is in the features.
    with Store.open(settings, read_only=True) as store:
        last = store.query("SELECT max(CAST(ordered_at AS DATE)) AS d FROM orders").d[0]
    cutoff = dt.date.fromisoformat(table.attrs["cutoff"])
    assert cutoff <= pd.Timestamp(last).date() + dt.timedelta(days=1)
    assert (table.loc[table["has_history"] == 1, "recency_days"] >= 0).all()


def test_outcomes_cli_feeds_decide_uplift(settings, ran, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "实验.csv"
    # Version 1 splits evenly between the variants; the optimized v2 leans on the winner.
    outcomes = ["marketpilot", "campaign", "outcomes", ran, "--version", "1", "--out", str(out), "--json"]
    monkeypatch.setattr(sys, "argv", outcomes)
    assert run_app(app) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["rows"] == len(pd.read_csv(out))
    args = ["decide", "uplift", "--input", str(out), "--treatment-col", "arm", "--control", "holdout"]
    args += [
        "--outcome-col",
        "converted",
        "--id-col",
        "customer_id",
        "--features",
        ",".join(written["features"]),
    ]
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args, "--json"])
    assert run_app(app) == 0
    report = json.loads(capsys.readouterr().out)
    assert {q["arm"] for q in report["qini"]} == set(written["arms"]) - {"holdout"}
    assert report["rows"] == written["rows"]


def test_a_campaign_that_never_ran_is_refused(settings: Settings) -> None:
    from marketpilot.campaigns import service
    from marketpilot.campaigns.loop import DEMO_SPEC
    from marketpilot.campaigns.spec import parse_spec

    cid = service.create_campaign(open_state(settings), parse_spec(DEMO_SPEC))
    with pytest.raises(UserError, match="no assigned customers yet"):
        experiment_table(settings, cid)
