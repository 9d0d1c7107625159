"""The Beta posteriors Thompson sampling assigns a version's customers by, one set per channel.

An arm is a variant key across channels, each channel with its own copy, and channels convert at
very different rates (an SMS is not an e-mail): evidence is kept per (channel, copy). It pools over
every earlier version in which the arm sent the same copy on that channel: the previous version alone
forgot what earlier ones learned, and credited a loser that `optimize` rewrote with its old text's
record.

An arm with no evidence on a channel (new or rewritten copy, a coupon depth `optimize` added) starts
optimistic, as exploring untested copy asks: its prior mean is the upper 90 % credible bound of a
typical copy's rate on the channel (the mean rate of the copies measured there, known from as many
customers as a copy was measured on), held as PRIOR_WEIGHT customers' worth of evidence, or as one
conversion's worth where PRIOR_WEIGHT customers would hold less than one: a Beta with alpha under 1
piles its mass at a rate of 0 and would take the new copy for worse than arms that never converted.
A flat Beta(1, 1) has mean 0.5 and wins nearly every draw against arms converting a few percent,
sending almost all traffic to untested copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from scipy import stats
from sqlalchemy import Engine

from marketpilot.campaigns.assign import HOLDOUT
from marketpilot.campaigns.copy import used_copy
from marketpilot.campaigns.measure import customer_outcomes

PRIOR_WEIGHT = 20.0
PRIOR_QUANTILE = 0.9  # the credible bound an untested copy's prior mean is put at

Posteriors = dict[str, tuple[float, float]]
Counts = tuple[int, int]  # conversions, customers
Copy = tuple[str, str, str | None] | tuple[str, int]  # arm, text, subject; arm, version if unrecorded


class Evidence(NamedTuple):
    posteriors: dict[str, Posteriors]  # channel → arm → Beta of the arm's current copy there
    copies: dict[str, list[Counts]]  # channel → each copy measured there, whatever its arm sends now


def pooled_evidence(engine: Engine, campaign_id: str, version: int) -> Evidence:
    """Per channel: Beta(1 + conversions, 1 + non-conversions) per arm, over the treated customers
    reached on that channel in every version before `version` whose copy of the arm there (text and
    subject) is the one `version` was planned with; and the counts of every copy measured there. Call
    after `version` resolved its copy."""
    now = used_copy(engine, campaign_id, version)
    counts: dict[str, dict[Copy, list[int]]] = {}
    for past in range(1, version):
        then = used_copy(engine, campaign_id, past)
        outcomes = customer_outcomes(engine, campaign_id, past)
        treated = outcomes[(outcomes["arm"] != HOLDOUT) & outcomes["channel"].notna()]
        for (channel, arm), group in treated.groupby(["channel", "arm"]):
            sent = then.get(str(channel), {}).get(str(arm))
            copy: Copy = (str(arm), sent.text, sent.subject) if sent else (str(arm), past)
            seen = counts.setdefault(str(channel), {}).setdefault(copy, [0, 0])
            seen[0] += int(group["converted"].sum())
            seen[1] += len(group)
    posteriors: dict[str, Posteriors] = {}
    for channel, variants in now.items():
        for arm, variant in variants.items():
            x, n = counts.get(channel, {}).get((arm, variant.text, variant.subject), (0, 0))
            if n:
                posteriors.setdefault(channel, {})[arm] = (1.0 + x, 1.0 + n - x)
    copies = {channel: [(x, n) for x, n in found.values()] for channel, found in counts.items()}
    return Evidence(posteriors, copies)


def given_evidence(posteriors: Posteriors, channels: Iterable[str]) -> Evidence:
    """Posteriors given by hand (Beta(1 + x, 1 + n − x) per arm), the same on every channel."""
    copies = [(round(a - 1), round(a + b - 2)) for a, b in posteriors.values()]
    return Evidence(dict.fromkeys(channels, posteriors), dict.fromkeys(channels, copies))


def channel_priors(evidence: Evidence, channel: str, arms: Iterable[str]) -> Posteriors | None:
    """What Thompson draws from on `channel` for `arms`: each arm's posterior there, `untested_prior`
    for arms without one; None while no arm has one (the variant weights assign then)."""
    measured = evidence.posteriors.get(channel, {})
    if not measured:
        return None
    prior = untested_prior(evidence.copies.get(channel, []))
    return {arm: measured.get(arm, prior) for arm in arms}


def untested_prior(copies: Sequence[Counts]) -> tuple[float, float]:
    """Beta of a copy not measured yet, from the (conversions, customers) of the copies that were."""
    measured = [(x, n) for x, n in copies if n > 0]
    if not measured:
        return 1.0, 1.0  # nothing measured: every arm is untested, and any prior splits them evenly
    # Each copy counts once: Thompson sends the winner most, and pooled customers would take its rate
    # for the typical one.
    rate = sum(x / n for x, n in measured) / len(measured)
    size = sum(n for _, n in measured) / len(measured)
    bound = float(stats.beta.ppf(PRIOR_QUANTILE, 1.0 + rate * size, 1.0 + (1.0 - rate) * size))
    if PRIOR_WEIGHT * bound < 1.0:
        return 1.0, (1.0 - bound) / bound
    return PRIOR_WEIGHT * bound, PRIOR_WEIGHT * (1.0 - bound)
