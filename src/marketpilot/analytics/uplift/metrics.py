"""How good a targeting score is, measured on held-out rows of a randomised experiment.

- Qini curve: customers sorted by score; at each depth k, the incremental outcome of treating the top
  k, estimated as treated outcome − control outcome × (treated / control) among them.
- `captured`: the share of the whole arm's incremental outcome the top 10/20/30/50 % deliver. A
  random order captures 10/20/30/50 %.
- `qini`: the area between the curve and the random line, per treated customer (0 = no better than
  random). `p_value`: the share of random orderings (permutations of the score) reaching that area.
- `policy_value`: the mean outcome per customer if every customer got the arm a policy picks,
  estimated by self-normalised inverse propensity weighting on randomised data (no model involved).
- `bootstrap_policy_values`: the same values on resamples of the rows, one resample shared by every
  policy, so that the difference of two policies has a paired interval (the noise of the held-out rows).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import BaseModel

DEPTHS = (0.1, 0.2, 0.3, 0.5)


class QiniSummary(BaseModel):
    arm: str
    treated: int
    control: int
    average_uplift: float
    qini: float
    p_value: float
    captured: dict[str, float]
    uplift_at: dict[str, float]


def qini_curve(score: np.ndarray, treated: np.ndarray, outcome: np.ndarray) -> np.ndarray:
    """Incremental outcome of treating the top k, for k = 1 … n. Customers with the same score have no
    order among them: the curve runs straight across a tie, so a constant score (a model that learnt
    nothing) is the random line, not whatever order the rows came in."""
    order = np.argsort(-score, kind="stable")
    t, y = treated[order].astype(float), outcome[order].astype(float)
    n_t, n_c = np.cumsum(t), np.cumsum(1 - t)
    y_t, y_c = np.cumsum(y * t), np.cumsum(y * (1 - t))
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = np.where(n_c > 0, y_t - y_c * n_t / n_c, 0.0)
    ranked = score[order]
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])  # the last row of each tie
    if len(ends) == len(curve):
        return curve
    return np.interp(np.arange(len(curve)), np.r_[-1, ends], np.r_[0.0, curve[ends]])


def _area(curve: np.ndarray) -> float:
    """Mean height of the curve above the straight line to its end point."""
    n = len(curve)
    random = curve[-1] * np.arange(1, n + 1) / n
    return float(np.mean(curve - random))


def qini_summary(
    arm: str,
    score: np.ndarray,
    treated: np.ndarray,
    outcome: np.ndarray,
    *,
    permutations: int = 200,
    seed: int = 0,
) -> QiniSummary:
    """Qini area, permutation p-value, captured share and observed uplift at each depth in DEPTHS.
    `treated`: True for the arm's rows, False for the control's (other arms' rows left out)."""
    treated = np.asarray(treated, dtype=bool)
    outcome = np.asarray(outcome, dtype=float)
    curve = qini_curve(score, treated, outcome)
    n, n_treated = len(curve), int(treated.sum())
    area = _area(curve) / max(n_treated, 1)
    rng = np.random.default_rng(seed)
    beaten = sum(
        _area(qini_curve(rng.permutation(score), treated, outcome)) / max(n_treated, 1) >= area
        for _ in range(permutations)
    )
    order = np.argsort(-score, kind="stable")
    captured, uplift_at = {}, {}
    for depth in DEPTHS:
        k = max(round(depth * n), 1)
        top = order[:k]
        t, c = treated[top], ~treated[top]
        label = f"{depth:.0%}"
        captured[label] = round(float(curve[k - 1] / curve[-1]), 4) if curve[-1] else 0.0
        both = t.any() and c.any()
        uplift_at[label] = round(float(outcome[top][t].mean() - outcome[top][c].mean()), 6) if both else 0.0
    return QiniSummary(
        arm=arm,
        treated=n_treated,
        control=n - n_treated,
        average_uplift=round(float(outcome[treated].mean() - outcome[~treated].mean()), 6),
        qini=round(area, 6) + 0.0,  # no "-0.0" for a flat curve
        p_value=round((beaten + 1) / (permutations + 1), 4),
        captured=captured,
        uplift_at=uplift_at,
    )


def policy_value(chosen: pd.Series, arms: pd.Series, outcome: pd.Series, costs: dict[str, float]) -> float:
    """Mean outcome minus arm cost per customer had each customer received `chosen` (an arm per row),
    by inverse propensity weighting on randomly assigned `arms` (the arm shares are the propensities)."""
    share = arms.value_counts(normalize=True)
    match = (chosen.to_numpy() == arms.to_numpy()).astype(float)
    weights = match / arms.map(share).to_numpy()
    gain = outcome.to_numpy(dtype=float) - arms.map(lambda a: costs.get(a, 0.0)).to_numpy(dtype=float)
    return float(np.sum(weights * gain) / np.sum(weights)) if weights.any() else 0.0


def bootstrap_policy_values(
    chosen: list[np.ndarray],
    arms: np.ndarray,
    gain: np.ndarray,
    *,
    resamples: int = 400,
    seed: int = 0,
    cells: int = 2_000_000,
) -> np.ndarray:
    """`policy_value` of each policy in `chosen` (an arm per row) on `resamples` bootstrap resamples of
    the rows, as a resamples × policies array. Every policy is valued on the same resamples (paired), and
    the arm shares are re-estimated in each, as `policy_value` does on the rows it is given. `gain`: the
    outcome less the cost of the row's own arm. Resampled rows are counts, as many resamples at a time
    as fit in `cells` row draws (~16 MB), besides rows × (arms + 2 × policies × arms) floats of sums.
    A policy none of whose arms' rows a resample drew has no value there: NaN, not 0."""
    n = len(arms)
    block = max(1, min(100, cells // max(n, 1)))
    labels, arm_index = np.unique(arms, return_inverse=True)
    one_hot = np.eye(len(labels))[arm_index]  # rows × arms
    matched = [(np.asarray(c) == arms)[:, None] * one_hot for c in chosen]
    # Per resample, sums over its rows of: arm membership, then per policy the rows where the policy
    # picks the row's own arm, and their gain — all a policy's self-normalised IPW value needs.
    columns = np.hstack([one_hot, *matched, *(m * gain[:, None] for m in matched)])
    rng = np.random.default_rng(seed)
    values = np.empty((resamples, len(chosen)))
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        rows = rng.integers(0, n, size=(size, n)) + (np.arange(size) * n)[:, None]
        counts = np.bincount(rows.ravel(), minlength=size * n).reshape(size, n).astype(float)
        sums = counts @ columns
        share, picked = sums[:, : len(labels)], sums[:, len(labels) :].reshape(size, 2, len(chosen), -1)
        # an arm no row of the resample got has no weight (none of its rows are there to weigh)
        inverse = np.divide(n, share, out=np.zeros_like(share), where=share > 0)[:, None, :]
        weight, weighted_gain = (picked[:, 0] * inverse).sum(-1), (picked[:, 1] * inverse).sum(-1)
        values[start : start + size] = np.divide(
            weighted_gain, weight, out=np.full_like(weight, np.nan), where=weight > 0
        )
    return values
