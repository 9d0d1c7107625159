"""Measurement of one campaign version: funnel per arm, incremental lift vs the holdout with
confidence intervals, revenue lift by bootstrap, MDE and sample-size advice, a sample-ratio-mismatch
check on the assignment, and the bandit posterior per variant.

Lift is intent-to-treat: every customer assigned to a variant counts, sent or not, so it compares
like with like against the holdout (which was drawn from the same eligible customers).

The holdout is drawn at the same share on every channel, so the pooled lift always compares like with
like. An arm's share of a channel may differ between channels, though: an arm without copy on one
(campaigns/copy.py) is left out of it and its share goes to the others there. Each arm's customers then
come from their own mix of channels, and channels convert at different rates; its lift is measured
against the holdout of the channels it ran on, reweighted to its own mix (post-stratified by channel),
and arms are compared with one another (posteriors, P(best)) on the channels where all of them ran.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel
from scipy import stats
from sqlalchemy import Engine, func, select

from marketpilot.campaigns import service
from marketpilot.campaigns.assign import HOLDOUT
from marketpilot.campaigns.spec import CampaignSpec
from marketpilot.campaigns.state.models import Assignment, MessageRecord, Outcome, TrackingEvent
from marketpilot.data.money import minor_digits, to_major

Z95 = stats.norm.ppf(0.975)
UNSEGMENTED = "—"  # customers intel has no segment for
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
    arm: str
    alpha: float
    beta: float
    mean: float
    prob_best: float


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
    posteriors: list[Posterior]
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


def beta_posteriors(frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
    treated = frame[frame["arm"] != HOLDOUT]
    grouped = treated.groupby("arm")["converted"].agg(["sum", "count"])
    return {str(a): (1.0 + r["sum"], 1.0 + r["count"] - r["sum"]) for a, r in grouped.iterrows()}


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
            # Expected shares per channel, from the weights of the variants it assigned (an arm left
            # without copy on a channel had none there), added up by the channel's share of customers.
            expected = {HOLDOUT: spec.holdout_share}
            sizes = frame["channel"].value_counts()
            for channel, arm_shares in shares.items():
                for k, share in arm_shares.items():
                    part = (1 - spec.holdout_share) * share * sizes[channel] / len(frame)
                    expected[k] = expected.get(k, 0.0) + part
            total = sum(expected.values())  # short of 1 only for a channel where all were held out
            expected = {k: v / total for k, v in expected.items()}
            observed = frame["arm"].value_counts().to_dict()
        else:
            expected = {HOLDOUT: spec.holdout_share, "treatment": 1 - spec.holdout_share}
            observed = {HOLDOUT: len(control), "treatment": len(treated)}
        srm = sample_ratio(observed, expected)
    # Arms are compared on the channels where all of them ran, where there are such channels.
    arm_sets = frame[frame["arm"] != HOLDOUT].groupby("channel")["arm"].agg(frozenset)
    everywhere = arm_sets[arm_sets == frozenset(set(treated["arm"]))].index
    compared = frame if balanced or everywhere.empty else frame[frame["channel"].isin(everywhere)]
    post = beta_posteriors(compared)
    best = prob_best(post, seed=version)
    posteriors = [
        Posterior(arm=a, alpha=ab[0], beta=ab[1], mean=ab[0] / (ab[0] + ab[1]), prob_best=best[a])
        for a, ab in post.items()
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
        roi=(incremental - total_cost) / total_cost if total_cost > 0 else None,
        incremental_revenue=incremental,
        total_cost=total_cost,
        segments=seg_rows,
    )
