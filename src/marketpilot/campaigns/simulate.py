"""A seeded response simulator, so the whole loop runs offline and the measurement can be checked
against a known truth.

Each assigned customer has a base conversion probability (intel's propensity when present, else a
stable per-customer draw). A delivered message adds the offer's effect and a hidden per-variant
effect (per channel where given: a variant key is another text on each channel); holdout and
undelivered customers convert at the base rate. The true intent-to-treat lift is returned with the
events so tests can check that the report's confidence interval covers it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select

from marketpilot.atomic import atomic_path
from marketpilot.campaigns.assign import HOLDOUT, unit_hash
from marketpilot.campaigns.audience import INTEL_COLUMNS, AudienceSource
from marketpilot.campaigns.spec import CampaignSpec
from marketpilot.campaigns.state.models import Assignment, MessageRecord
from marketpilot.config import Settings
from marketpilot.data.money import minor_digits


class SimulationConfig(BaseModel):
    seed: int = 0
    effects: dict[str, float] = Field(default_factory=lambda: {"A": 0.02, "B": 0.05})
    default_effect: float = 0.02  # variants not named in `effects`
    # channel → variant key → effect, over `effects`: a key is another text on each channel.
    channel_effects: dict[str, dict[str, float]] = Field(default_factory=dict)
    offer_boost: float = 0.5  # relative increase of the base rate per unit of discount (0.2 off → +10 %)
    delivery_rate: float = 0.97
    open_rate: float = 0.35
    click_rate: float = 0.25  # of opens, for customers who do not convert
    mean_order: float = 180.0  # major units of the shop's currency; order values are log-normal around it
    window_days: float = 10.0


class SimulationResult(BaseModel):
    events_file: Path
    events: int
    true_lift: float  # intent-to-treat: all variants pooled vs holdout
    true_variant_lift: dict[str, float]
    true_channel_lift: dict[str, dict[str, float]] = Field(default_factory=dict)  # channel → variant


def simulate_responses(
    settings: Settings,
    engine: Engine,
    campaign_id: str,
    version: int,
    config: SimulationConfig | None = None,
    *,
    spec: CampaignSpec | None = None,
    out: Path | None = None,
) -> SimulationResult:
    config = config or SimulationConfig()
    with engine.connect() as con:
        assigned = pd.DataFrame(
            con.execute(
                select(
                    Assignment.customer_id, Assignment.arm, Assignment.channel, Assignment.assigned_at
                ).where(Assignment.campaign_id == campaign_id, Assignment.version == version)
            ).all(),
            columns=["customer_id", "arm", "channel", "assigned_at"],
        )
        messages = pd.DataFrame(
            con.execute(
                select(MessageRecord.customer_id, MessageRecord.idempotency_key, MessageRecord.status).where(
                    MessageRecord.campaign_id == campaign_id, MessageRecord.version == version
                )
            ).all(),
            columns=["customer_id", "idempotency_key", "status"],
        )
    frame = assigned.merge(messages, on="customer_id", how="left").sort_values(
        "customer_id", ignore_index=True
    )
    rng = np.random.default_rng(
        [config.seed, version, int(unit_hash(pd.Series([campaign_id]), "sim")[0] * 1e9)]
    )
    n = len(frame)

    base = _base_rates(settings, frame["customer_id"])
    effect = frame["arm"].map(lambda a: config.effects.get(a, config.default_effect)).to_numpy(float)
    for channel, by_arm in config.channel_effects.items():
        own = frame["arm"].map(by_arm).to_numpy(float)  # NaN for keys the channel does not name
        effect = np.where((frame["channel"] == channel).to_numpy() & ~np.isnan(own), own, effect)
    treated = (frame["arm"] != HOLDOUT).to_numpy()
    # The deeper an arm's offer (its own, or the campaign's), the more its customers buy.
    arms = frame.loc[frame["arm"] != HOLDOUT, "arm"].unique()
    depths = {a: spec.offer_for(a).depth for a in arms} if spec else {}
    depth = frame["arm"].map(depths).fillna(0.0).to_numpy(float)
    boost = 1 + config.offer_boost * depth
    p_treated = np.clip(base * boost + effect, 0, 1)
    sent = frame["status"].eq("sent").to_numpy() & treated
    delivered = sent & (rng.random(n) < config.delivery_rate)
    p = np.where(delivered, p_treated, base)
    converted = rng.random(n) < p
    opened = delivered & ((rng.random(n) < config.open_rate) | converted)
    clicked = opened & ((rng.random(n) < config.click_rate) | converted)

    # The truth the report must recover: expected treated rate minus holdout rate, per customer.
    itt_gain = config.delivery_rate * (p_treated - base) * frame["status"].eq("sent").to_numpy()
    true_variant = {
        str(arm): float(itt_gain[(frame["arm"] == arm).to_numpy()].mean())
        for arm in frame.loc[treated, "arm"].unique()
    }
    true_channel: dict[str, dict[str, float]] = {}
    for (channel, arm), rows in frame[treated].groupby(["channel", "arm"]).groups.items():
        true_channel.setdefault(str(channel), {})[str(arm)] = float(itt_gain[rows].mean())
    true_lift = float(itt_gain[treated].mean()) if treated.any() else 0.0

    start = pd.to_datetime(frame["assigned_at"], utc=True).dt.tz_convert(None).to_numpy("datetime64[ns]")
    offsets = pd.to_timedelta(rng.random((4, n)).cumsum(axis=0).T.ravel() * config.window_days / 4, unit="D")
    offsets = offsets.to_numpy().reshape(n, 4)
    unit = 10 ** minor_digits(settings.currency)  # tracking stores the shop currency's minor units
    revenue = np.round(rng.lognormal(np.log(config.mean_order), 0.5, n) * unit).astype("int64")
    records = []
    for kind, mask, step, keyed in (
        ("delivered", delivered, 0, True),
        ("open", opened, 1, True),
        ("click", clicked, 2, True),
        ("conversion", converted, 3, False),
    ):
        idx = np.flatnonzero(mask)
        when = start[idx] + offsets[idx, step]
        part = pd.DataFrame(
            {
                "event_id": f"sim-{campaign_id}-v{version}-{kind}-"
                + frame["customer_id"].iloc[idx].astype(str),
                "kind": kind,
                "customer_id": frame["customer_id"].iloc[idx].to_numpy(),
                "idempotency_key": frame["idempotency_key"].iloc[idx].to_numpy() if keyed else None,
                "occurred_at": pd.DatetimeIndex(when).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "revenue_minor": revenue[idx] if kind == "conversion" else 0,
            }
        )
        records.append(part)
    events = pd.concat(records, ignore_index=True)
    target = out or settings.path("simulations", f"{campaign_id}-v{version}-seed{config.seed}.jsonl")
    with atomic_path(target) as tmp, tmp.open("w", encoding="utf-8") as fh:
        for row in events.astype(object).where(events.notna(), None).to_dict("records"):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return SimulationResult(
        events_file=target,
        events=len(events),
        true_lift=true_lift,
        true_variant_lift=true_variant,
        true_channel_lift=true_channel,
    )


def _base_rates(settings: Settings, customer_ids: pd.Series) -> np.ndarray:
    """Intel's propensity when present (clipped to a plausible conversion range), else 2–10 %."""
    fallback = 0.02 + 0.08 * unit_hash(customer_ids, "sim-base")
    source = AudienceSource(settings)
    if not source.available()["propensity"]:
        return fallback
    column = source.column("propensity")
    scores = pd.read_parquet(
        source.intel_file(INTEL_COLUMNS["propensity"].file), columns=["customer_id", column]
    )
    mapped = customer_ids.map(scores.set_index(scores["customer_id"].astype(str))[column])
    return np.where(mapped.notna(), np.clip(mapped.to_numpy(float) * 0.3, 0.005, 0.5), fallback)


__all__ = ["SimulationConfig", "SimulationResult", "simulate_responses"]
