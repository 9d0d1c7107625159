"""Sample sizes for a test of two conversion rates (two-sided z-test of proportions, unpooled variance
under the alternative): how many customers each arm needs to see a given lift, and the smallest lift
a given arm size can see."""

from __future__ import annotations

import math

from scipy.stats import norm


def customers_per_arm(base: float, lift: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Customers per arm to tell a conversion rate `base` from `base × (1 + lift)`."""
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
    that takes the rate to 1."""
    top = (1 - 1e-9) / base - 1
    if per_arm < 2 or customers_per_arm(base, top, alpha=alpha, power=power) > per_arm:
        return None
    low, high = 0.0, top
    for _ in range(60):  # bisection: customers_per_arm falls as the lift grows
        mid = (low + high) / 2
        if customers_per_arm(base, mid, alpha=alpha, power=power) > per_arm:
            low = mid
        else:
            high = mid
    return high
