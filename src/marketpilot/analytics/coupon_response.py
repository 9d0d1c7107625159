"""How orders answered the depth of an offer, from a campaign that tested two or more depths against one
holdout (the arms `decide promo` designs), and the depth that would earn most.

`decide promo` states each arm's break-even growth in orders, be = w·d / (k − d), for depth d (the
coupon's amount over its threshold, or the discount), w the share of orders that get the offer anyway
(deadweight; 1 for a plain discount) and k the margin an added order earns, over the threshold. Two
arms give w and k back (`economics`), so the spec alone says what each depth costs.

Growth in orders is modelled as g(d) = a·d^b through the holdout's (0, 0) and the measured arms, with b
in [0.2, 1]: returns that diminish or stay proportional; a convex curve drawn through two noisy points
is not believed. The profit of depth d over sending no offer, per order the group places anyway, is
g(d)·(k − d) − w·d. Its uncertainty: the arms' growths are drawn from their 95 % intervals (normal,
independently — the shared holdout correlates them, so the spread is if anything too wide), and the
best depth of each draw gives the interval and the share of draws in which no offer pays at all.
The search covers half the shallowest to 1.5 × the deepest depth tested: the curve says nothing
outside that (below, any b < 1 would make a token coupon pay on an infinite response)."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

EXPONENTS = np.round(np.arange(0.2, 1.0001, 0.05), 2)
DRAWS = 2000
STRETCH = 1.5  # how far past the deepest tested depth the search goes, and 1 / how far below
Z95 = 1.959964


class MeasuredDepth(BaseModel):
    """One arm: its depth, the break-even its spec states, and the growth in orders measured over the
    holdout with its 95 % interval."""

    arm: str
    depth: float = Field(gt=0, lt=1)
    break_even: float = Field(gt=0)
    growth: float
    low: float
    high: float


class DepthResponse(BaseModel):
    exponent: float = Field(description="b in g(d) = a·d^b")
    scale: float = Field(description="a in g(d) = a·d^b")
    deadweight: float = Field(description="w: share of orders that get the offer anyway")
    margin_ratio: float = Field(description="k: margin an added order earns, over the threshold")
    best_depth: float = Field(description="the depth of most profit on the measured growths; 0 = none")
    low_depth: float = Field(description="10th percentile of the best depth over the draws")
    high_depth: float = Field(description="90th percentile")
    no_offer_share: float = Field(description="share of the draws in which no depth pays")
    beyond_tested: bool = Field(description="the best depth lies past the deepest one tested")


def economics(arms: list[MeasuredDepth]) -> tuple[float, float] | None:
    """(w, k) from be_i·(k − d_i) = w·d_i over the arms (least squares); None when the arms do not pin
    them down (one depth, or break-evens no deadweight and margin explain)."""
    depths = np.array([a.depth for a in arms])
    bes = np.array([a.break_even for a in arms])
    if len(np.unique(depths)) < 2:
        return None
    system = np.column_stack([bes, -depths])
    (k, w), *_ = np.linalg.lstsq(system, bes * depths, rcond=None)
    if not (0 < w <= 1.0001 and k > depths.max()):
        return None
    return float(min(w, 1.0)), float(k)


def fit_curve(depths: np.ndarray, growths: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of g = a·d^b through the origin: for each allowed b the weighted least-squares a, then
    the b of the smallest error. Works on a batch: `growths` may be (draws, arms)."""
    growths = np.atleast_2d(growths)
    best_err = np.full(len(growths), np.inf)
    best_a, best_b = np.zeros(len(growths)), np.ones(len(growths))
    for b in EXPONENTS:
        x = depths**b
        a = (growths * weights * x).sum(axis=1) / (weights * x * x).sum()
        err = (weights * (growths - a[:, None] * x) ** 2).sum(axis=1)
        better = err < best_err - 1e-15
        best_err[better], best_a[better], best_b[better] = err[better], a[better], b
    return best_a, best_b


def _best_depths(a: np.ndarray, b: np.ndarray, w: float, k: float, grid: np.ndarray) -> np.ndarray:
    profit = a[:, None] * grid[None, :] ** b[:, None] * (k - grid[None, :]) - w * grid[None, :]
    best = profit.argmax(axis=1)
    return np.where(profit[np.arange(len(a)), best] > 0, grid[best], 0.0)


def depth_response(arms: list[MeasuredDepth], seed: int = 0) -> DepthResponse | None:
    """The response curve and the depth of most profit; None without two depths whose economics the
    break-evens pin down."""
    found = economics(arms)
    if found is None:
        return None
    w, k = found
    depths = np.array([a.depth for a in arms])
    growths = np.array([a.growth for a in arms])
    se = np.array([max((a.high - a.low) / (2 * Z95), 1e-6) for a in arms])
    weights = 1 / se**2
    top = min(STRETCH * depths.max(), k)
    grid = np.linspace(depths.min() / STRETCH, top, 600)
    a, b = fit_curve(depths, growths, weights)
    best = float(_best_depths(a, b, w, k, grid)[0])
    draws = np.random.default_rng(seed).normal(growths, se, size=(DRAWS, len(arms)))
    da, db = fit_curve(depths, draws, weights)
    bests = _best_depths(da, db, w, k, grid)
    return DepthResponse(
        exponent=round(float(b[0]), 2),
        scale=round(float(a[0]), 4),
        deadweight=round(w, 4),
        margin_ratio=round(k, 4),
        best_depth=round(best, 4),
        low_depth=round(float(np.quantile(bests, 0.1)), 4),
        high_depth=round(float(np.quantile(bests, 0.9)), 4),
        no_offer_share=round(float((bests == 0).mean()), 3),
        beyond_tested=best > depths.max() * 1.0001,
    )


def depth_label(depth: float, threshold: float | None, language: str) -> str:
    """A depth as shoppers read it: 满300减35 for a coupon (a round amount), 8.5折 / 15% off for a
    discount; "no offer" for 0."""
    from marketpilot.analytics.promo import coupon_amount

    if depth <= 0:
        return "不发优惠" if language == "zh" else "no offer"
    if threshold:
        amount = coupon_amount(depth * threshold)
        return f"满{threshold:g}减{amount:g}" if language == "zh" else f"{amount:g} off {threshold:g}"
    return (
        f"{(1 - depth) * 10:.1f}".rstrip("0").rstrip(".") + "折" if language == "zh" else f"{depth:.0%} off"
    )
