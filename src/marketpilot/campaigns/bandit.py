"""The Beta posteriors Thompson sampling assigns a version's customers by.

Evidence pools over every earlier version in which an arm sent the same copy: the previous version
alone forgot what earlier ones learned, and credited a loser that `optimize` rewrote with its old text's
record. An arm with no evidence yet (new or rewritten copy, a coupon depth `optimize` added) starts from
the mean rate of the copies this campaign has measured, held as PRIOR_WEIGHT customers' worth of
evidence (empirical Bayes: a new copy is taken for a typical one until it shows otherwise); a flat
Beta(1, 1) has mean 0.5 and wins nearly every draw against arms converting a few percent, sending
almost all traffic to untested copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Engine

from marketpilot.campaigns.assign import HOLDOUT
from marketpilot.campaigns.copy import UsedVariant, used_copy
from marketpilot.campaigns.measure import customer_outcomes

PRIOR_WEIGHT = 20.0

Posteriors = dict[str, tuple[float, float]]


class Evidence(NamedTuple):
    posteriors: Posteriors  # arms whose current copy was measured
    typical_rate: float | None  # mean conversion rate of every copy measured; None before any


def pooled_evidence(engine: Engine, campaign_id: str, version: int) -> Evidence:
    """Beta(1 + conversions, 1 + non-conversions) per arm, over the treated customers of every version
    before `version` whose copy of the arm (text and subject, on each channel both have it) is the copy
    `version` was planned with; and the mean rate of every (version, arm) measured, whatever its copy.
    Call after `version` resolved its copy."""
    now = _by_arm(used_copy(engine, campaign_id, version))
    counts: dict[str, list[int]] = {}
    rates: list[float] = []
    for past in range(1, version):
        then = _by_arm(used_copy(engine, campaign_id, past))
        outcomes = customer_outcomes(engine, campaign_id, past)
        treated = outcomes[outcomes["arm"] != HOLDOUT]
        for arm, group in treated.groupby("arm"):
            converted = int(group["converted"].sum())
            rates.append((converted + 1.0) / (len(group) + 2.0))
            if str(arm) in now and _same(now[str(arm)], then.get(str(arm), {})):
                seen = counts.setdefault(str(arm), [0, 0])
                seen[0] += converted
                seen[1] += len(group)
    posteriors = {arm: (1.0 + x, 1.0 + n - x) for arm, (x, n) in counts.items()}
    return Evidence(posteriors, sum(rates) / len(rates) if rates else None)


def with_priors(posteriors: Posteriors, arms: Iterable[str], typical_rate: float | None = None) -> Posteriors:
    """`posteriors` for `arms`; an arm without evidence gets Beta(PRIOR_WEIGHT × rate, PRIOR_WEIGHT ×
    (1 − rate)), the rate `typical_rate`, else the mean of the given posteriors'."""
    if typical_rate is None:
        means = [a / (a + b) for a, b in posteriors.values()]
        typical_rate = sum(means) / len(means) if means else 0.5
    prior = (PRIOR_WEIGHT * typical_rate, PRIOR_WEIGHT * (1.0 - typical_rate))
    return {arm: posteriors.get(arm, prior) for arm in arms}


def _by_arm(used: dict[str, dict[str, UsedVariant]]) -> dict[str, dict[str, tuple[str, str | None]]]:
    """arm → channel → (text, subject)."""
    out: dict[str, dict[str, tuple[str, str | None]]] = {}
    for channel, variants in used.items():
        for key, variant in variants.items():
            out.setdefault(key, {})[channel] = (variant.text, variant.subject)
    return out


def _same(now: dict[str, tuple[str, str | None]], then: dict[str, tuple[str, str | None]]) -> bool:
    shared = now.keys() & then.keys()
    return bool(shared) and all(now[channel] == then[channel] for channel in shared)
