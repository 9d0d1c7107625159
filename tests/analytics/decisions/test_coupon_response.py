"""The depth of most profit from two measured coupon depths: the spec's break-evens give back what each
depth costs, the measured growths the response curve."""

import numpy as np
import pytest

from marketpilot.analytics.coupon_response import (
    MeasuredDepth,
    depth_label,
    depth_response,
    economics,
)

W, K = 0.3, 0.5  # a third of the orders reach the threshold anyway; an added order earns half of it


def _arm(name: str, depth: float, growth: float, half_width: float) -> MeasuredDepth:
    return MeasuredDepth(
        arm=name,
        depth=depth,
        break_even=W * depth / (K - depth),
        growth=growth,
        low=growth - half_width,
        high=growth + half_width,
    )


def _truth(depth: float) -> float:
    return 1.2 * depth**0.5


def test_the_break_evens_give_back_deadweight_and_margin() -> None:
    arms = [_arm("shallow", 0.05, 0.1, 0.05), _arm("deep", 0.1, 0.2, 0.05)]
    w, k = economics(arms)  # type: ignore[misc]
    assert (w, k) == (pytest.approx(W), pytest.approx(K))
    # One depth, or break-evens that fall with depth (no deadweight and margin explain them): nothing.
    assert economics(arms[:1]) is None
    assert economics([_arm("a", 0.05, 0.1, 0.05), _arm("b", 0.1, 0.2, 0.05).model_copy(
        update={"break_even": 0.01})]) is None  # fmt: skip


def test_a_precisely_measured_curve_gives_its_analytic_optimum() -> None:
    """g = 1.2·√d and profit g·(0.5 − d) − 0.3·d peak at d = 1/9 (d/dd = 0 at √d = 1/3), just past the
    deeper of the two tested depths."""
    arms = [_arm("shallow", 0.05, _truth(0.05), 0.002), _arm("deep", 0.1, _truth(0.1), 0.002)]
    r = depth_response(arms)
    assert r is not None
    assert r.exponent == 0.5 and r.scale == pytest.approx(1.2, abs=0.01)
    assert r.best_depth == pytest.approx(1 / 9, abs=0.002)
    assert r.beyond_tested and r.no_offer_share == 0
    assert r.low_depth <= r.best_depth <= r.high_depth and r.high_depth - r.low_depth < 0.02


def test_noisier_measurements_widen_the_interval() -> None:
    """A weaker response, g = 0.4·√d, peaks at d ≈ 0.052 (√d = (√0.33 − 0.3) / 1.2); measured loosely,
    some draws fall below every break-even."""
    weak = [(0.05, _truth(0.05) / 3), (0.1, _truth(0.1) / 3)]
    tight = depth_response([_arm(f"{d}", d, g, 0.01) for d, g in weak])
    loose = depth_response([_arm(f"{d}", d, g, 0.2) for d, g in weak])
    assert tight is not None and loose is not None
    assert tight.best_depth == loose.best_depth == pytest.approx(0.0523, abs=0.001)
    assert not tight.beyond_tested and tight.low_depth < tight.best_depth < tight.high_depth
    assert loose.high_depth - loose.low_depth > 2 * (tight.high_depth - tight.low_depth)
    assert loose.no_offer_share > tight.no_offer_share


def test_growth_below_every_break_even_means_no_offer() -> None:
    arms = [_arm("shallow", 0.05, 0.01, 0.005), _arm("deep", 0.1, 0.02, 0.005)]
    assert all(a.growth < a.break_even for a in arms)
    r = depth_response(arms)
    assert r is not None and r.best_depth == 0 and r.no_offer_share > 0.95
    assert depth_label(r.best_depth, 300, "zh") == "不发优惠"


def test_a_convex_pair_is_read_as_proportional_at_most() -> None:
    """Growth 4× for depth 2×: two noisy points do not make increasing returns; b stops at 1."""
    r = depth_response([_arm("s", 0.05, 0.05, 0.02), _arm("d", 0.1, 0.2, 0.02)])
    assert r is not None and r.exponent == 1.0


def test_same_seed_same_answer_and_labels_people_read() -> None:
    arms = [_arm("s", 0.05, 0.2, 0.1), _arm("d", 0.1, 0.3, 0.1)]
    assert depth_response(arms) == depth_response(arms)
    assert (
        depth_label(35 / 300, 300, "zh") == "满300减35" and depth_label(35 / 300, 300, "en") == "35 off 300"
    )
    assert depth_label(0.15, None, "zh") == "8.5折" and depth_label(0.2, None, "zh") == "8折"
    assert depth_label(0.15, None, "en") == "15% off"
    assert np.isclose(depth_response(arms).best_depth, depth_response(arms, seed=1).best_depth)  # type: ignore[union-attr]
