"""Sample sizes for a test of two conversion rates (two-sided z-test of proportions, unpooled variance
under the alternative): how many customers each arm needs to see a given lift, and the smallest lift
a given arm size can see."""

from __future__ import annotations

import math

from scipy.stats import norm


def _check_levels(alpha: float, power: float) -> None:
    # outside (0, 1) the normal quantiles are ±inf or NaN and the sample size is no number
    if not 0 < alpha < 1:
        raise ValueError(f"alpha (the false-positive rate) must be between 0 and 1, got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power}")


def customers_per_arm(base: float, lift: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per arm to tell a conversion rate `base` from `base × (1 + lift)`."""
    _check_levels(alpha, power)
    if not 0 < base < 1:
        raise ValueError(f"base rate must be between 0 and 1, got {base}")
    treated = min(base * (1 + lift), 1 - 1e-9)
    if treated <= base:
        raise ValueError(f"lift must be positive, got {lift}")
    z_alpha, z_power = norm.ppf(1 - alpha / 2), norm.ppf(power)
    mean = (base + treated) / 2
    spread = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(
        base * (1 - base) + treated * (1 - treated)
    )
    return math.ceil((spread / (treated - base)) ** 2)


def detectable_lift(base: float, per_arm: int, *, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest relative lift `per_arm` customers per arm detect; None when no lift is, even one
    that takes the rate to 1 (a group that always buys, or never, has no lift to detect)."""
    _check_levels(alpha, power)
    if not 0 < base < 1:
        return None
    top = (1 - 1e-9) / base - 1
    if per_arm < 2 or top <= 0 or customers_per_arm(base, top, alpha=alpha, power=power) > per_arm:
        return None
    low, high = 0.0, top
    for _ in range(60):  # bisection: customers_per_arm falls as the lift grows
        mid = (low + high) / 2
        if customers_per_arm(base, mid, alpha=alpha, power=power) > per_arm:
            low = mid
        else:
            high = mid
    return high
