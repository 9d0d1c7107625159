"""Thompson sampling over three versions: evidence pools over the versions that sent the same copy,
and new or rewritten copy starts from the campaign's own rate, not a flat prior that would hand it
nearly all the traffic."""

import datetime as dt

import numpy as np
import pandas as pd
from campaign_shop import export_spec, launch
from sqlalchemy import Engine, select

from marketpilot.campaigns import service
from marketpilot.campaigns.bandit import PRIOR_WEIGHT, pooled_evidence, with_priors
from marketpilot.campaigns.executor import run_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import Assignment
from marketpilot.campaigns.tracking import ingest_events
from marketpilot.config import Settings

T0 = dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC)  # noon in Shanghai
WEEK = dt.timedelta(days=8)  # past the default frequency window
RATES = {"A": 0.4, "B": 0.05}
A_TEXT, B_TEXT = "{name}，新春全场8折，回店看看", "{name}，好久不见！新春8折惊喜"


def _arms(engine: Engine, cid: str, version: int) -> pd.Series:
    with engine.connect() as con:
        rows = con.execute(
            select(Assignment.customer_id, Assignment.arm).where(
                Assignment.campaign_id == cid, Assignment.version == version
            )
        ).all()
    return pd.DataFrame(rows, columns=["customer_id", "arm"]).set_index("customer_id")["arm"]


def _convert(engine: Engine, arms: pd.Series, at: dt.datetime, seed: int) -> dict[str, tuple[int, int]]:
    """Conversions at each arm's rate; (converted, assigned) per treated arm."""
    rng = np.random.default_rng(seed)
    treated = arms[arms != "holdout"]
    converts = rng.random(len(treated)) < treated.map(RATES).to_numpy()
    events = pd.DataFrame(
        {
            "event_id": [f"v{seed}-{c}" for c in treated.index[converts]],
            "kind": "conversion",
            "occurred_at": at.isoformat(),
            "customer_id": treated.index[converts],
            "revenue": "10",
        }
    )
    ingest_events(engine, events)
    return {a: (int(converts[(treated == a).to_numpy()].sum()), int((treated == a).sum())) for a in RATES}


def _next_version(settings: Settings, engine: Engine, cid: str, spec: dict, at: dt.datetime) -> None:
    service.add_version(engine, cid, parse_spec(spec), note="next")
    service.approve(engine, cid, approver="测试员")
    run_campaign(settings, cid, clock=lambda: at)


def test_evidence_pools_over_versions_with_the_same_copy(shop_settings: Settings, engine: Engine) -> None:
    spec = export_spec(audience={})
    cid, _ = launch(shop_settings, spec, clock=lambda: T0)
    first = _convert(engine, _arms(engine, cid, 1), T0 + dt.timedelta(hours=1), seed=1)
    _next_version(shop_settings, engine, cid, {**spec, "assignment": "thompson"}, T0 + WEEK)
    second = _convert(engine, _arms(engine, cid, 2), T0 + WEEK + dt.timedelta(hours=1), seed=2)

    # v3: B rewritten, C new. A keeps its text: its evidence is v1's and v2's together.
    rewritten = [
        {"key": "A", "text": A_TEXT},
        {"key": "B", "text": "{name}，新春专享8折，今天回店"},
        {"key": "C", "text": "{name}，您的新春8折券到了"},
    ]
    v3 = {**spec, "assignment": "thompson", "channels": [{"name": "export", "variants": rewritten}]}
    _next_version(shop_settings, engine, cid, v3, T0 + 2 * WEEK)

    pooled, typical = pooled_evidence(engine, cid, 3)
    x, n = first["A"][0] + second["A"][0], first["A"][1] + second["A"][1]
    assert pooled == {"A": (1.0 + x, 1.0 + n - x)}  # B's record was of other text; C has none
    # the typical copy: the mean rate of the (version, arm) pairs measured, B's old text's included
    measured = [(c + 1) / (a + 2) for c, a in (*first.values(), *second.values()) if a]
    assert typical is not None and abs(typical - sum(measured) / len(measured)) < 1e-9
    prior = with_priors(pooled, ["A", "B", "C"], typical)["C"]
    assert sum(prior) == PRIOR_WEIGHT and abs(prior[0] / PRIOR_WEIGHT - typical) < 1e-9

    # A converts 8x as often as B did: the untested copy gets a share to learn from, not nearly all of
    # it (a flat Beta(1, 1) prior beats A's ~40% in 60% of draws, leaving A about 16% of the traffic).
    third = _arms(engine, cid, 3)
    shares = third[third != "holdout"].value_counts(normalize=True)
    assert shares["A"] > 0.5 and shares.get("B", 0) > 0.02 and shares.get("C", 0) > 0.02


def test_unchanged_copy_carries_its_evidence_across_a_version_that_left_it_out(
    shop_settings: Settings, engine: Engine
) -> None:
    spec = export_spec(audience={})
    cid, _ = launch(shop_settings, spec, clock=lambda: T0)
    first = _convert(engine, _arms(engine, cid, 1), T0 + dt.timedelta(hours=1), seed=3)
    only_a = {**spec, "channels": [{"name": "export", "variants": [{"key": "A", "text": A_TEXT}]}]}
    _next_version(shop_settings, engine, cid, only_a, T0 + WEEK)
    _next_version(shop_settings, engine, cid, {**spec, "assignment": "thompson"}, T0 + 2 * WEEK)
    # B is back with its v1 text: v1's record counts, though v2 never sent it.
    b_converted, b_assigned = first["B"]
    assert pooled_evidence(engine, cid, 3).posteriors["B"] == (
        1.0 + b_converted,
        1.0 + b_assigned - b_converted,
    )
