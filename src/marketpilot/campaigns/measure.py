"""Measurement of one campaign version: funnel per arm, incremental lift vs the holdout with
confidence intervals, revenue lift by bootstrap, MDE and sample-size advice, a sample-ratio-mismatch
check on the assignment, and the bandit posterior per variant.

An arm is a variant key across channels: each channel chooses its customers first, then assigns them
to its own variants (its own copy and weights, or Thompson draws from that channel's evidence). So an
arm's "A" is a different text on each channel, and arms reach the channels in different mixes. Copy
is compared per (channel, variant), as the bandit keeps its evidence: pooled over channels, an arm
sent mostly on the channel that converts best wins without being better anywhere (Simpson's paradox),
and one key's texts on two channels are no one copy to rank. An arm-level comparison is kept where the
arm is one thing across channels (the only channel, or an offer of its own), standardised to one
channel mix.

Lift is intent-to-treat: every customer assigned to a variant counts, sent or not, so it compares
like with like against the holdout (which was drawn from the same eligible customers).

The holdout is drawn at the same share on every channel, so the pooled lift always compares like with
like. An arm's share of a channel may differ between channels, though: an arm without copy on one
(campaigns/copy.py) is left out of it and its share goes to the others there. Each arm's customers then
come from their own mix of channels, and channels convert at different rates; its lift is measured
against the holdout of the channels it ran on, reweighted to its own mix (post-stratified by channel).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, model_validator
from scipy import stats
from sqlalchemy import Engine, func, select

from marketpilot.campaigns import service
from marketpilot.campaigns.assign import HOLDOUT
from marketpilot.campaigns.spec import CampaignSpec
from marketpilot.campaigns.state.models import Assignment, MessageRecord, Outcome, TrackingEvent
from marketpilot.data.money import minor_digits, to_major

Z95 = stats.norm.ppf(0.975)
UNSEGMENTED = "—"  # customers intel has no segment for
NO_CHANNEL = "—"  # assignments recorded without a channel
Z80 = stats.norm.ppf(0.80)


class ArmMetrics(BaseModel):
    arm: str
    customers: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    converters: int
    conversion_rate: float
    revenue: float  # major units
    revenue_per_customer: float
    cost: float


class Lift(BaseModel):
    arm: str  # a variant key, or "treatment" for all variants pooled
    rate_treated: float
    rate_holdout: float
    absolute: float
    ci_low: float
    ci_high: float
    relative: float | None
    p_value: float
    revenue_per_customer_diff: float
    revenue_ci_low: float
    revenue_ci_high: float
    # Orders per customer (a converter may order twice): the growth an offer's break-even is stated in.
    orders_treated: float = 0.0
    orders_holdout: float = 0.0
    orders_relative: float | None = None
    orders_relative_ci_low: float | None = None
    orders_relative_ci_high: float | None = None
    # Group sizes and conversions behind the rates, so a reader can tell an estimate from an anecdote.
    customers_treated: int = 0
    customers_holdout: int = 0
    converters_treated: int = 0
    converters_holdout: int = 0


class SampleRatio(BaseModel):
    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool  # p < 0.001: assignment is broken, do not trust the lift


class Posterior(BaseModel):
    """Beta(alpha, beta) of one variant's conversion rate on `channel`, and its probability of being
    the best of the variants on that channel: Beta(1 + converters, 1 + customers − converters).

    A record saved before posteriors were kept per channel (`campaign report --json`, the REST report,
    the HTML report's metrics.json) has no `channel`, `customers` or `converters`: it is the arm pooled
    over every channel, and its counts are recovered from alpha and beta, since `measure` has always
    written Beta(1 + conversions, 1 + non-conversions). Read as 0 they would pass for an arm without
    data."""

    arm: str
    alpha: float
    beta: float
    mean: float
    prob_best: float
    channel: str | None = None  # None: pooled over every channel (a record from before channels)
    customers: int
    converters: int

    @model_validator(mode="before")
    @classmethod
    def _counts_of_old_records(cls, data: Any) -> Any:
        if not isinstance(data, dict) or {"customers", "converters"} <= data.keys():
            return data
        alpha, beta = data.get("alpha"), data.get("beta")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (alpha, beta)):
            return data  # pydantic names what is missing or wrong
        converters, customers = alpha - 1, alpha + beta - 2
        counts = (converters, customers)
        if converters < 0 or beta < 1 or not all(math.isclose(v, round(v), abs_tol=1e-6) for v in counts):
            raise ValueError(
                f"posterior of {data.get('arm')!r} has no customers or converters, and Beta({alpha}, "
                f"{beta}) is not Beta(1 + conversions, 1 + non-conversions): its counts cannot be "
                "recovered; measure the campaign again"
            )
        return {"customers": round(customers), "converters": round(converters)} | data


class ChannelArm(BaseModel):
    """One arm's customers on one channel, holdout included: conversion by channel, where pooled
    rates favour the arm sent mostly on the channel that converts best."""

    channel: str
    arm: str
    customers: int
    converters: int
    conversion_rate: float


class ArmPosterior(BaseModel):
    """An arm's conversion rate standardised to the campaign's channel mix (Σ share of channel ×
    the arm's rate there, over `channels`, those that carry every arm), and its probability of being
    the best arm on that common mix."""

    arm: str
    mean: float
    prob_best: float
    channels: list[str]
    customers: int
    converters: int


class CampaignMetrics(BaseModel):
    campaign_id: str
    version: int
    currency: str
    arms: list[ArmMetrics]
    overall: ArmMetrics
    lift: Lift | None
    variant_lift: list[Lift]
    # Absolute conversion-rate difference detectable with 80 % power at α=0.05; None without a holdout
    # or without a conversion in it (no baseline rate).
    mde: float | None
    sample_size_per_group: int | None  # to detect the observed lift (or the MDE) with 80 % power
    srm: SampleRatio | None
    posteriors: list[Posterior]  # per (channel, variant): P(best) among the variants of one channel
    # Per arm across channels, only where an arm is one thing on every channel: the campaign's only
    # channel, or arms that carry their own offers. Empty for copy compared on several channels.
    arm_posteriors: list[ArmPosterior] = []
    by_channel: list[ChannelArm] = []  # per (channel, arm), holdout included
    roi: float | None
    incremental_revenue: float
    total_cost: float
    segments: list[dict[str, object]]


def _frame(engine: Engine, stmt) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    with engine.connect() as con:
        result = con.execute(stmt)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def customer_outcomes(engine: Engine, campaign_id: str, version: int) -> pd.DataFrame:
    """One row per assigned customer: arm, channel, segment, converted, revenue (minor), orders."""
    assigned = _frame(
        engine,
        select(Assignment.customer_id, Assignment.arm, Assignment.channel, Assignment.segment).where(
            Assignment.campaign_id == campaign_id, Assignment.version == version
        ),
    )
    outcomes = _frame(
        engine,
        select(
            Outcome.customer_id,
            func.sum(Outcome.revenue_minor).label("revenue_minor"),
            func.count().label("orders"),
        )
        .where(Outcome.campaign_id == campaign_id, Outcome.version == version)
        .group_by(Outcome.customer_id),
    )
    merged = assigned.merge(outcomes, on="customer_id", how="left")
    merged["converted"] = merged["revenue_minor"].notna()
    merged["revenue_minor"] = merged["revenue_minor"].fillna(0).astype("int64")
    merged["orders"] = merged["orders"].fillna(0).astype("int64")
    return merged


def _funnel(engine: Engine, campaign_id: str, version: int) -> pd.DataFrame:
    messages = _frame(
        engine,
        select(
            MessageRecord.idempotency_key,
            MessageRecord.variant_key,
            MessageRecord.status,
            MessageRecord.channel,
        ).where(MessageRecord.campaign_id == campaign_id, MessageRecord.version == version),
    )
    events = _frame(
        engine,
        select(TrackingEvent.idempotency_key, TrackingEvent.kind)
        .where(TrackingEvent.campaign_id == campaign_id, TrackingEvent.idempotency_key.is_not(None))
        .distinct(),
    )
    flags = (
        pd.crosstab(events["idempotency_key"], events["kind"]).clip(upper=1)
        if len(events)
        else pd.DataFrame()
    )
    messages = messages.merge(flags, left_on="idempotency_key", right_index=True, how="left")
    for kind in ("delivered", "open", "click"):
        if kind not in messages:
            messages[kind] = 0
    messages[["delivered", "open", "click"]] = messages[["delivered", "open", "click"]].fillna(0)
    messages["sent"] = messages["status"].eq("sent")
    return messages


ChannelPosteriors = dict[str, dict[str, tuple[float, float]]]  # channel → variant → Beta(alpha, beta)


def beta_posteriors(frame: pd.DataFrame) -> ChannelPosteriors:
    """Beta(1 + conversions, 1 + non-conversions) per (channel, variant) over the treated customers:
    a variant key is a different copy on each channel, so its evidence is kept per channel."""
    treated = frame[frame["arm"] != HOLDOUT]
    grouped = treated.groupby([_channels(treated), "arm"])["converted"].agg(["sum", "count"])
    out: ChannelPosteriors = {}
    for (channel, arm), r in grouped.iterrows():
        out.setdefault(str(channel), {})[str(arm)] = (1.0 + r["sum"], 1.0 + r["count"] - r["sum"])
    return out


def _channels(frame: pd.DataFrame) -> pd.Series:
    # An assignment without a channel (a row imported from elsewhere) is still a customer of its arm.
    return frame["channel"].fillna(NO_CHANNEL).rename("channel")


def prob_best(
    posteriors: dict[str, tuple[float, float]], *, draws: int = 20_000, seed: int = 0
) -> dict[str, float]:
    if not posteriors:
        return {}
    rng = np.random.default_rng(seed)
    keys = list(posteriors)
    samples = np.column_stack([rng.beta(a, b, draws) for a, b in posteriors.values()])
    wins = np.bincount(samples.argmax(axis=1), minlength=len(keys)) / draws
    return dict(zip(keys, wins.tolist(), strict=True))


def standardised_prob_best(
    posteriors: ChannelPosteriors, shares: dict[str, float], *, draws: int = 20_000, seed: int = 0
) -> tuple[list[str], dict[str, float], dict[str, float]]:
    """Arms compared on one channel mix: each arm's rate is Σ w_c · rate(c, arm) with the same weights
    w_c (`shares`, normalised) for every arm, over the channels that carry every arm, and P(best) is
    taken on those sums. Returns (the channels used, mean per arm, P(best) per arm); no channels, and
    nothing else, when no channel carries every arm. On one channel it is `prob_best` there."""
    arms = sorted({arm for variants in posteriors.values() for arm in variants})
    channels = [c for c, variants in posteriors.items() if set(arms) <= set(variants)]
    total = sum(shares.get(c, 0.0) for c in channels)
    if not arms or not channels or total <= 0:
        return [], {}, {}
    rng = np.random.default_rng(seed)
    samples = np.zeros((draws, len(arms)))
    means = dict.fromkeys(arms, 0.0)
    for channel in channels:
        weight = shares.get(channel, 0.0) / total
        betas = [posteriors[channel][arm] for arm in arms]
        samples += weight * np.column_stack([rng.beta(a, b, draws) for a, b in betas])
        for arm, (a, b) in zip(arms, betas, strict=True):
            means[arm] += weight * a / (a + b)
    wins = np.bincount(samples.argmax(axis=1), minlength=len(arms)) / draws
    return channels, means, dict(zip(arms, wins.tolist(), strict=True))


# Fewer conversions (or non-conversions) than this in a group and the normal approximation behind the
# Wald interval and the z-test fails: 0 of 400 against 0 of 100 gives "0 ± 0", 1 of 3 an interval past
# 100 %. The usual np ≥ 5 rule.
MIN_NORMAL_COUNT = 5


def wilson(x: float, n: float) -> tuple[float, float]:
    """95 % Wilson score interval of the proportion x / n."""
    z2 = Z95**2
    centre = (x + z2 / 2) / (n + z2)
    half = Z95 * math.sqrt(x * (n - x) / n + z2 / 4) / (n + z2)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def two_proportion(x1: float, n1: float, x0: float, n0: float) -> tuple[float, float, float, float]:
    """Difference p1 − p0, its 95 % CI and a two-sided p-value: the Wald CI (unpooled) and the pooled
    z-test where every group has at least MIN_NORMAL_COUNT conversions and non-conversions, else
    Newcombe's score interval (from the groups' Wilson intervals, never outside ±100 % nor of zero
    width) and Fisher's exact test."""
    p1, p0 = x1 / n1, x0 / n0
    diff = p1 - p0
    if min(x1, n1 - x1, x0, n0 - x0) < MIN_NORMAL_COUNT:
        (l1, u1), (l0, u0) = wilson(x1, n1), wilson(x0, n0)
        low = diff - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        high = diff + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
        # a post-stratified control's counts are effective ones, not whole: Fisher's test takes whole
        table = np.rint([[x1, n1 - x1], [x0, n0 - x0]]).astype(int)
        _, fisher_p = stats.fisher_exact(table)
        return diff, low, high, float(min(fisher_p, 1.0))
    se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    pooled = (x1 + x0) / (n1 + n0)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    p_value = 2 * stats.norm.sf(abs(diff) / se0) if se0 > 0 else 1.0
    return diff, diff - Z95 * se, diff + Z95 * se, float(p_value)


def _bootstrap_means(values: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Means of `resamples` bootstrap resamples. Outcomes are mostly zero, so each resample draws how
    many non-zero values it picks (binomial), then which ones: the same distribution as resampling
    all n values, at the cost of the non-zero ones only."""
    n = len(values)
    nonzero = values[values != 0]
    if n == 0 or len(nonzero) == 0:
        return np.zeros(resamples)
    picks = rng.binomial(n, len(nonzero) / n, size=resamples)
    idx = rng.integers(0, len(nonzero), size=int(picks.sum()))
    owner = np.repeat(np.arange(resamples), picks)
    sums = np.bincount(owner, weights=nonzero[idx], minlength=resamples)
    return sums / n


Control = np.ndarray | Sequence[tuple[np.ndarray, float]]


def _control_means(control: Control, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Bootstrap means of the control: of one sample, or of strata resampled each on its own and
    weighted (a post-stratified mean)."""
    strata = [(control, 1.0)] if isinstance(control, np.ndarray) else control
    return np.sum([w * _bootstrap_means(v.astype(float), rng, resamples) for v, w in strata], axis=0)


def bootstrap_mean_diff(
    treated: np.ndarray, control: Control, *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile CI of mean(treated) − mean(control); `control` may be (values, weight) strata."""
    rng = np.random.default_rng(seed)
    diff = _bootstrap_means(treated.astype(float), rng, resamples) - _control_means(control, rng, resamples)
    low, high = np.percentile(diff, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_relative(
    treated: np.ndarray, control: Control, *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float] | None:
    """95 % percentile CI of mean(treated) / mean(control) − 1; None when the control has no outcome.
    `control` may be (values, weight) strata."""
    strata = [(control, 1.0)] if isinstance(control, np.ndarray) else control
    if not any(v.any() for v, _ in strata):
        return None
    rng = np.random.default_rng(seed)
    t = _bootstrap_means(treated.astype(float), rng, resamples)
    c = _control_means(strata, rng, resamples)
    ratio = t[c > 0] / c[c > 0] - 1
    low, high = np.percentile(ratio, [2.5, 97.5])
    return float(low), float(high)


def mde(p0: float, n1: int, n0: int) -> float:
    return float((Z95 + Z80) * math.sqrt(max(p0 * (1 - p0), 1e-12) * (1 / n1 + 1 / n0)))


def sample_size(p0: float, diff: float) -> int:
    """Customers per group to detect `diff` with 80 % power at α = 0.05 (two-sided)."""
    p1 = min(max(p0 + diff, 1e-9), 1 - 1e-9)
    return math.ceil((Z95 + Z80) ** 2 * (p0 * (1 - p0) + p1 * (1 - p1)) / max(diff**2, 1e-12))


def sample_ratio(observed: dict[str, int], expected_share: dict[str, float]) -> SampleRatio:
    total = sum(observed.values())
    # An arm nobody was meant to be in and nobody is (the holdout at holdout_share 0) tests nothing;
    # left in, its 0/0 turns the whole test into NaN.
    arms = [a for a, share in expected_share.items() if share > 0 or observed.get(a, 0)]
    obs = np.array([observed.get(a, 0) for a in arms], dtype=float)
    exp = np.array([expected_share[a] for a in arms]) * total
    chi2, p = stats.chisquare(obs, exp) if len(arms) > 1 and total else (0.0, 1.0)
    return SampleRatio(
        observed={a: int(o) for a, o in zip(arms, obs, strict=True)},
        expected={a: float(e) for a, e in zip(arms, exp, strict=True)},
        chi2=float(chi2),
        p_value=float(p),
        mismatch=bool(p < 0.001),
    )


Strata = list[tuple[pd.DataFrame, float]]  # holdout customers of one channel, the arm's share of it


def _control_counts(strata: Strata) -> tuple[float, float]:
    """Conversions and customers of the control as two_proportion reads them. One stratum: its counts.
    Several: the post-stratified rate Σ w·p with its variance Σ w²·p(1−p)/n, as the counts of a
    simple sample with that rate and variance (Kish's effective sample size)."""
    if len(strata) == 1:
        ((c, _),) = strata
        return float(c["converted"].sum()), float(len(c))
    rates = np.array([c["converted"].mean() for c, _ in strata])
    sizes = np.array([len(c) for c, _ in strata], dtype=float)
    weights = np.array([w for _, w in strata])
    rate = float(weights @ rates)
    variance = float((weights**2 * rates * (1 - rates) / sizes).sum())
    n = rate * (1 - rate) / variance if variance > 0 else float(sizes.sum())
    return rate * n, n


def _lift(arm: str, t: pd.DataFrame, strata: Strata, seed: int, currency: str) -> Lift:
    """`arm`'s customers `t` against the control `strata` (the whole holdout with weight 1, or per
    channel with the arm's share of its customers there)."""
    x1 = int(t["converted"].sum())
    x0, n0 = _control_counts(strata)
    diff, low, high, p = two_proportion(x1, len(t), x0, n0)
    unit = 10.0 ** minor_digits(currency)  # revenue is stored in the shop currency's minor units
    rt = t["revenue_minor"].to_numpy() / unit
    rc = [(c["revenue_minor"].to_numpy() / unit, w) for c, w in strata]
    rlow, rhigh = bootstrap_mean_diff(rt, rc, seed=seed)
    rate_c = x0 / n0
    ot = t["orders"].to_numpy()
    oc = [(c["orders"].to_numpy(), w) for c, w in strata]
    oc_mean = sum(w * o.mean() for o, w in oc)
    orders_ci = bootstrap_relative(ot, oc, seed=seed)
    return Lift(
        arm=arm,
        rate_treated=float(t["converted"].mean()),
        rate_holdout=rate_c,
        absolute=diff,
        ci_low=low,
        ci_high=high,
        relative=diff / rate_c if rate_c > 0 else None,
        p_value=p,
        revenue_per_customer_diff=float(rt.mean() - sum(w * r.mean() for r, w in rc)),
        revenue_ci_low=rlow,
        revenue_ci_high=rhigh,
        orders_treated=float(ot.mean()),
        orders_holdout=float(oc_mean),
        orders_relative=float(ot.mean() / oc_mean - 1) if oc_mean > 0 else None,
        orders_relative_ci_low=orders_ci[0] if orders_ci else None,
        orders_relative_ci_high=orders_ci[1] if orders_ci else None,
        customers_treated=len(t),
        customers_holdout=sum(len(c) for c, _ in strata),
        converters_treated=x1,
        converters_holdout=sum(int(c["converted"].sum()) for c, _ in strata),
    )


def channel_shares(spec: CampaignSpec, frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Channel → arm → its share of the channel's treated customers by design: by weight among the
    arms assigned there under fixed assignment, equal under Thompson sampling (which fixes none, so
    only which arms ran on a channel tells channels apart)."""
    weights = {plan.name: {v.key: v.weight for v in plan.variants} for plan in spec.channels}
    out: dict[str, dict[str, float]] = {}
    for channel, group in frame[frame["arm"] != HOLDOUT].groupby("channel"):
        arms = sorted(set(group["arm"]))
        fixed = spec.assignment == "fixed"
        w = {a: weights.get(str(channel), {}).get(a, 1.0) if fixed else 1.0 for a in arms}
        out[str(channel)] = {a: v / sum(w.values()) for a, v in w.items()}
    return out


def _arm_strata(arm: pd.DataFrame, control: pd.DataFrame, balanced: bool) -> tuple[pd.DataFrame, Strata]:
    """The arm's customers and the control they are measured against: the whole holdout where every
    channel gave every arm the same share, else per channel the arm ran on (and the holdout has
    customers), weighted by the arm's customers there."""
    if balanced:
        return arm, [(control, 1.0)]
    held = control.groupby("channel")
    channels = [c for c in arm["channel"].dropna().unique() if c in held.groups]
    arm = arm[arm["channel"].isin(channels)]
    sizes = arm["channel"].value_counts()
    return arm, [(held.get_group(c), sizes[c] / len(arm)) for c in channels]


def _fixed_shares(spec: CampaignSpec, frame: pd.DataFrame) -> dict[str, float]:
    """Expected share of customers per arm under fixed weights. Each channel splits its own customers
    by its own variants' weights (channels are chosen before arms), so an arm's share is the sum over
    channels of the channel's share × the arm's share of it: one set of weights summed over channels
    expects a mix no channel planned. Variant keys a channel used without a weight in the spec (copy
    the model added) weigh 1."""
    channels = _channels(frame)
    plans = {plan.name: {v.key: v.weight for v in plan.variants} for plan in spec.channels}
    expected: dict[str, float] = {}
    for channel, share in channels.value_counts(normalize=True).items():
        used = set(frame.loc[channels == channel, "arm"]) - {HOLDOUT}
        weights = {k: plans.get(str(channel), {}).get(k, 1.0) for k in used}
        total = sum(weights.values())
        for key, weight in weights.items():
            expected[key] = expected.get(key, 0.0) + share * (1 - spec.holdout_share) * weight / total
    return {HOLDOUT: spec.holdout_share} | {k: expected[k] for k in sorted(expected)}


def _arm_posteriors(post: ChannelPosteriors, shares: dict[str, float], seed: int) -> list[ArmPosterior]:
    channels, means, best = standardised_prob_best(post, shares, seed=seed)
    return [
        ArmPosterior(
            arm=arm,
            mean=means[arm],
            prob_best=best[arm],
            channels=channels,
            customers=sum(round(post[c][arm][0] + post[c][arm][1] - 2) for c in channels),
            converters=sum(round(post[c][arm][0] - 1) for c in channels),
        )
        for arm in means
    ]


def measure(
    engine: Engine, campaign_id: str, version: int | None = None, *, currency: str = "CNY"
) -> CampaignMetrics:
    spec, version = service.get_spec(engine, campaign_id, version)
    frame = customer_outcomes(engine, campaign_id, version)
    funnel = _funnel(engine, campaign_id, version)
    costs = {c.name: c.cost for c in spec.channels}
    funnel["cost"] = funnel["channel"].map(costs).fillna(0) * funnel["sent"]

    def arm_metrics(arm: str, customers: pd.DataFrame, messages: pd.DataFrame) -> ArmMetrics:
        n = len(customers)
        revenue = to_major(float(customers["revenue_minor"].sum()), currency)
        converters = int(customers["converted"].sum())
        cost = float(messages["cost"].sum()) + (
            0 if arm == HOLDOUT else converters * spec.offer_for(arm).cost_per_conversion
        )
        return ArmMetrics(
            arm=arm,
            customers=n,
            sent=int(messages["sent"].sum()),
            delivered=int(messages["delivered"].sum()),
            opened=int(messages["open"].sum()),
            clicked=int(messages["click"].sum()),
            converters=converters,
            conversion_rate=converters / n if n else 0.0,
            revenue=revenue,
            revenue_per_customer=revenue / n if n else 0.0,
            cost=cost,
        )

    arms = [
        arm_metrics(str(arm), group, funnel[funnel["variant_key"] == arm])
        for arm, group in frame.groupby("arm", sort=True)
    ]
    # Offer costs are per arm (arms may carry their own offers) and the holdout redeems none.
    overall = arm_metrics("overall", frame, funnel).model_copy(update={"cost": sum(a.cost for a in arms)})
    treated, control = frame[frame["arm"] != HOLDOUT], frame[frame["arm"] == HOLDOUT]
    lift = variant_lift = None
    mde_value = size = None
    incremental = 0.0
    shares = channel_shares(spec, frame)
    balanced = len({tuple(sorted(s.items())) for s in shares.values()}) <= 1
    if len(treated) and len(control):
        lift = _lift("treatment", treated, [(control, 1.0)], version, currency)
        variant_lift = []
        for i, (a, g) in enumerate(treated.groupby("arm")):
            arm, strata = _arm_strata(g, control, balanced)
            if len(arm):  # not when no channel it ran on has a holdout customer
                variant_lift.append(_lift(str(a), arm, strata, version + i + 1, currency))
        # A holdout without conversions (or all of it converting) gives no baseline variance: at 0 % the
        # formulas promise an MDE of 0.00 pp and millions of customers per group, numbers of nothing.
        if 0 < lift.rate_holdout < 1:
            mde_value = mde(lift.rate_holdout, len(treated), len(control))
            size = sample_size(lift.rate_holdout, lift.absolute if abs(lift.absolute) > 1e-9 else mde_value)
        incremental = lift.revenue_per_customer_diff * len(treated)
    total_cost = overall.cost

    srm = None
    if len(frame):
        if spec.assignment == "fixed":
            expected, observed = _fixed_shares(spec, frame), frame["arm"].value_counts().to_dict()
        else:
            expected = {HOLDOUT: spec.holdout_share, "treatment": 1 - spec.holdout_share}
            observed = {HOLDOUT: len(control), "treatment": len(treated)}
        srm = sample_ratio(observed, expected)
    post = beta_posteriors(frame)
    posteriors = []
    for channel, variants in post.items():
        best = prob_best(variants, seed=version)
        posteriors += [
            Posterior(
                arm=a,
                alpha=ab[0],
                beta=ab[1],
                mean=ab[0] / (ab[0] + ab[1]),
                prob_best=best[a],
                channel=channel,
                customers=round(ab[0] + ab[1] - 2),
                converters=round(ab[0] - 1),
            )
            for a, ab in variants.items()
        ]
    arm_posteriors = (
        _arm_posteriors(post, _channels(frame).value_counts(normalize=True).to_dict(), version)
        if len(post) == 1 or spec.has_arm_offers
        else []
    )
    cells = frame.groupby([_channels(frame), "arm"])["converted"].agg(["sum", "count"])
    by_channel = [
        ChannelArm(
            channel=str(channel),
            arm=str(arm),
            customers=int(r["count"]),
            converters=int(r["sum"]),
            conversion_rate=float(r["sum"] / r["count"]),
        )
        for (channel, arm), r in cells.iterrows()
    ]
    segments = (
        frame.assign(segment=frame["segment"].fillna(UNSEGMENTED), treated=frame["arm"] != HOLDOUT)
        .groupby(["segment", "treated"])["converted"]
        .agg(["mean", "count"])
        .reset_index()
    )
    seg_rows = []
    for name, group in segments.groupby("segment"):
        t = group[group["treated"]]
        c = group[~group["treated"]]
        seg_rows.append(
            {
                "segment": str(name),
                "customers": int(group["count"].sum()),
                "rate_treated": float(t["mean"].iloc[0]) if len(t) else None,
                "rate_holdout": float(c["mean"].iloc[0]) if len(c) else None,
                "lift": float(t["mean"].iloc[0] - c["mean"].iloc[0]) if len(t) and len(c) else None,
            }
        )
    return CampaignMetrics(
        campaign_id=campaign_id,
        version=version,
        currency=currency,
        arms=arms,
        overall=overall,
        lift=lift,
        variant_lift=variant_lift or [],
        mde=mde_value,
        sample_size_per_group=size,
        srm=srm,
        posteriors=posteriors,
        arm_posteriors=arm_posteriors,
        by_channel=by_channel,
        roi=(incremental - total_cost) / total_cost if total_cost > 0 else None,
        incremental_revenue=incremental,
        total_cost=total_cost,
        segments=seg_rows,
    )
