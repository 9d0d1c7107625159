"""Thompson sampling over versions: evidence pools per channel over the versions that sent the same
copy there, and new or rewritten copy starts optimistic: at the upper 90 % bound of a typical copy's
rate, neither buried under arms that never converted nor handed nearly all the traffic by a flat
prior when a proven arm converts well."""

import datetime as dt

import numpy as np
import pandas as pd
from campaign_shop import export_spec, launch
from sqlalchemy import Engine, select

from marketpilot.campaigns import service
from marketpilot.campaigns.assign import thompson_arms
from marketpilot.campaigns.bandit import PRIOR_WEIGHT, Evidence, channel_priors, pooled_evidence
from marketpilot.campaigns.executor import plan_messages, run_campaign
from marketpilot.campaigns.spec import parse_spec
from marketpilot.campaigns.state.models import Assignment, Outcome
from marketpilot.campaigns.tracking import ingest_events
from marketpilot.config import Settings

T0 = dt.datetime(2026, 2, 1, 4, tzinfo=dt.UTC)  # noon in Shanghai
WEEK = dt.timedelta(days=8)  # past the default frequency window
RATES = {"A": 0.4, "B": 0.05}
A_TEXT, B_TEXT = "{name}，新春全场8折，回店看看", "{name}，好久不见！新春8折惊喜"


def _plan(engine: Engine, cid: str, version: int) -> pd.DataFrame:
    """Arm and channel per assigned customer."""
    with engine.connect() as con:
        rows = con.execute(
            select(Assignment.customer_id, Assignment.arm, Assignment.channel).where(
                Assignment.campaign_id == cid, Assignment.version == version
            )
        ).all()
    return pd.DataFrame(rows, columns=["customer_id", "arm", "channel"]).set_index("customer_id")


def _arms(engine: Engine, cid: str, version: int) -> pd.Series:
    return _plan(engine, cid, version)["arm"]


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

    evidence = pooled_evidence(engine, cid, 3)
    x, n = first["A"][0] + second["A"][0], first["A"][1] + second["A"][1]
    # B's record was of other text; C has none
    assert evidence.posteriors == {"export": {"A": (1.0 + x, 1.0 + n - x)}}
    # every copy measured, each once: A's text over both versions, B's old text over both
    b_x, b_n = first["B"][0] + second["B"][0], first["B"][1] + second["B"][1]
    assert sorted(evidence.copies["export"]) == sorted([(x, n), (b_x, b_n)])
    prior = channel_priors(evidence, "export", ["A", "B", "C"])
    assert prior is not None and prior["B"] == prior["C"] and abs(sum(prior["C"]) - PRIOR_WEIGHT) < 1e-9
    # optimistic: above the typical copy's rate, below the proven arm's
    typical = (x / n + b_x / b_n) / 2
    assert typical < prior["C"][0] / PRIOR_WEIGHT < x / n

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
    assert pooled_evidence(engine, cid, 3).posteriors["export"]["B"] == (
        1.0 + b_converted,
        1.0 + b_assigned - b_converted,
    )


def _two_channel(**overrides: object) -> dict:
    """Arms A and B on e-mail and on SMS, each channel with its own copy."""
    return export_spec(
        audience={},
        channels=[
            {
                "name": "email",
                "variants": [
                    {"key": "A", "subject": "新春好礼", "text": "{name}您好，新春全场8折。AI生成"},
                    {"key": "B", "subject": "好久不见", "text": "{name}您好，好久不见，新春8折。AI生成"},
                ],
            },
            {
                "name": "sms",
                "variants": [
                    {"key": "A", "text": "{name}，新春全场8折"},
                    {"key": "B", "text": "{name}，好久不见！新春8折"},
                ],
            },
        ],
        **overrides,
    )


def test_evidence_is_kept_per_channel(shop_settings: Settings, engine: Engine) -> None:
    """A converts on e-mail and B on SMS: pooled over both channels, A's e-mail record would hand it
    the SMS traffic too; per channel, each channel's own winner takes it."""
    rates = {("email", "A"): 0.3, ("email", "B"): 0.03, ("sms", "A"): 0.03, ("sms", "B"): 0.3}
    spec = _two_channel()
    cid = service.create_campaign(engine, parse_spec(spec))
    plan_messages(shop_settings, engine, cid, 1, parse_spec(spec), T0)
    first = _plan(engine, cid, 1)
    treated = first[first["arm"] != "holdout"]
    rng = np.random.default_rng(5)
    rate = [rates[c, a] for a, c in zip(treated["arm"], treated["channel"], strict=True)]
    converts = rng.random(len(treated)) < rate
    ingest_events(
        engine,
        pd.DataFrame(
            {
                "event_id": [f"o-{c}" for c in treated.index[converts]],
                "kind": "conversion",
                "occurred_at": (T0 + dt.timedelta(hours=1)).isoformat(),
                "customer_id": treated.index[converts],
                "revenue": "10",
            }
        ),
    )
    with engine.connect() as con:
        assert con.execute(select(Outcome.event_id)).all()  # attributed
    second_spec = parse_spec({**spec, "assignment": "thompson"})
    service.add_version(engine, cid, second_spec, note="bandit")
    plan_messages(shop_settings, engine, cid, 2, second_spec, T0 + WEEK)

    evidence = pooled_evidence(engine, cid, 2)
    done = pd.Series(converts, index=treated.index)
    for (channel, arm), group in treated.groupby(["channel", "arm"]):
        x, n = int(done[group.index].sum()), len(group)
        assert evidence.posteriors[channel][arm] == (1.0 + x, 1.0 + n - x)
    second = _plan(engine, cid, 2)
    second = second[second["arm"] != "holdout"]
    email = second.loc[second["channel"] == "email", "arm"].value_counts(normalize=True)
    sms = second.loc[second["channel"] == "sms", "arm"].value_counts(normalize=True)
    assert (second["channel"] == "sms").sum() > 100
    assert email["A"] > 0.9 and sms["B"] > 0.9


def test_a_campaign_that_never_converted_explores_new_copy(shop_settings: Settings, engine: Engine) -> None:
    """A and B sent to ~1,350 customers each without one conversion: the new copy C takes over half
    of v2 (its prior sits at the upper bound of a typical copy's rate; at the mean, a Beta with
    alpha ≈ 0.01 gave C about 5 %)."""
    spec = export_spec(audience={})
    cid, _ = launch(shop_settings, spec, clock=lambda: T0)
    added = [*spec["channels"][0]["variants"], {"key": "C", "text": "{name}，您的新春8折券到了"}]
    v2 = {**spec, "assignment": "thompson", "channels": [{"name": "export", "variants": added}]}
    _next_version(shop_settings, engine, cid, v2, T0 + WEEK)
    second = _arms(engine, cid, 2)
    shares = second[second != "holdout"].value_counts(normalize=True)
    assert shares["C"] > 0.45 and min(shares["A"], shares["B"]) > 0.1


CUSTOMERS = pd.Series([f"C{i:06d}" for i in range(20_000)])


def _shares(measured: dict[str, tuple[int, int]], untested: list[str]) -> pd.Series:
    """Thompson shares of 20,000 customers (seeded) between arms with these (conversions, customers)
    on one channel and untested ones."""
    evidence = Evidence(
        {"sms": {arm: (1.0 + x, 1.0 + n - x) for arm, (x, n) in measured.items()}},
        {"sms": list(measured.values())},
    )
    priors = channel_priors(evidence, "sms", [*measured, *untested])
    assert priors is not None
    return pd.Series(thompson_arms(CUSTOMERS, "sim", 2, 0.0, priors)).value_counts(normalize=True)


def test_untested_copy_gets_a_substantial_share_where_nothing_converts() -> None:
    # Two arms that failed 3,000 sends each; with the mean as prior mean C got 2.6 %.
    shares = _shares({"A": (0, 3000), "B": (0, 3000)}, ["C"])
    assert 0.45 < shares["C"] < 0.7  # 57 %
    # Every arm at 2 %: the new one explores, without taking most of the traffic.
    shares = _shares({"A": (20, 1000), "B": (20, 1000), "C": (20, 1000)}, ["D"])
    assert 0.25 < shares["D"] < 0.5  # 40 %


def test_untested_copy_stays_a_minority_against_a_proven_arm() -> None:
    # A flat Beta(1, 1) gave the two untested arms 83 % here.
    shares = _shares({"A": (40, 100), "B": (5, 100)}, ["C", "D"])
    assert 0.1 < shares["C"] + shares["D"] < 0.4 and shares["A"] > 0.6  # 27 %
    shares = _shares({"A": (400, 1000), "B": (3, 60)}, ["C", "D"])
    assert 0.05 < shares["C"] + shares["D"] < 0.25  # 14 %
