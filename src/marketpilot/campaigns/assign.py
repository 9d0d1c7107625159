"""Who gets what: reproducible holdout/variant assignment and the per-customer channel choice.

Assignment hashes campaign id + customer id (SipHash via pandas, keyed by the campaign), so a customer
lands in the same arm on every run and every machine, and the holdout stays the holdout across
versions of one campaign. Thompson sampling draws per customer from each variant's Beta posterior,
seeded by campaign and version, so a re-run reproduces it too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from marketpilot.campaigns.spec import ChannelPlan

HOLDOUT = "holdout"


def unit_hash(customer_ids: pd.Series, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per id, fixed by (salt, id) alone."""
    key = hashlib.sha256(salt.encode()).hexdigest()[:16]
    hashed = pd.util.hash_pandas_object(customer_ids.astype(str), index=False, hash_key=key)
    return (hashed.to_numpy(np.uint64) >> np.uint64(11)).astype(np.float64) / float(2**53)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")


def assign_arms(
    customer_ids: pd.Series,
    campaign_id: str,
    holdout_share: float,
    variants: Mapping[str, float],
) -> np.ndarray:
    """'holdout' for a `holdout_share` of customers, else a variant key in proportion to its weight."""
    keys = np.array(list(variants), dtype=object)
    weights = np.array(list(variants.values()), dtype=float)
    cumulative = np.cumsum(weights / weights.sum())
    u_holdout = unit_hash(customer_ids, f"{campaign_id}:holdout")
    u_variant = unit_hash(customer_ids, f"{campaign_id}:variant")
    index = np.minimum(np.searchsorted(cumulative, u_variant, side="right"), len(keys) - 1)
    return np.where(u_holdout < holdout_share, HOLDOUT, keys[index])


def thompson_arms(
    customer_ids: pd.Series,
    campaign_id: str,
    version: int,
    holdout_share: float,
    posteriors: Mapping[str, tuple[float, float]],
) -> np.ndarray:
    """Holdout as in `assign_arms`; treated customers get the variant with the highest draw from its
    Beta(alpha, beta) posterior, so traffic follows the probability of being best."""
    keys = np.array(list(posteriors), dtype=object)
    alpha = np.array([a for a, _ in posteriors.values()], dtype=float)
    beta = np.array([b for _, b in posteriors.values()], dtype=float)
    order = np.argsort(customer_ids.astype(str).to_numpy(), kind="stable")
    rng = np.random.default_rng(_seed(campaign_id, version, "thompson"))
    draws = rng.beta(alpha, beta, size=(len(customer_ids), len(keys)))
    chosen = np.empty(len(customer_ids), dtype=object)
    chosen[order] = keys[draws.argmax(axis=1)]
    u_holdout = unit_hash(customer_ids, f"{campaign_id}:holdout")
    return np.where(u_holdout < holdout_share, HOLDOUT, chosen)


# Which contact detail a channel needs; None = reachable by customer id alone.
CHANNEL_CONTACT: dict[str, str | None] = {
    "email": "has_email",
    "sms": "has_phone",
    "push": None,
    "webhook": None,
    "export": None,
}


def eligible_channels(
    audience: pd.DataFrame, permissions: pd.DataFrame, channels: Sequence[ChannelPlan]
) -> np.ndarray:
    """(customers × channels) booleans: consented (`permissions`) and reachable (the contact detail
    the channel needs), in the order of `audience` and `channels`."""
    n = len(audience)
    perm = permissions.reindex(audience["customer_id"].astype(str).to_numpy())
    eligible = np.zeros((n, len(channels)), dtype=bool)
    for j, plan in enumerate(channels):
        contact = CHANNEL_CONTACT[plan.name]
        reach = audience[contact].fillna(False).to_numpy(bool) if contact else np.ones(n, bool)
        eligible[:, j] = perm[plan.name].fillna(False).to_numpy(bool) & reach
    return eligible


def choose_channels(
    audience: pd.DataFrame,
    permissions: pd.DataFrame,
    channels: Sequence[ChannelPlan],
    history: pd.DataFrame,
    *,
    overrides: Mapping[str, str] | None = None,
    value_per_response: float = 50.0,
    prior_strength: float = 2.0,
) -> pd.DataFrame:
    """One channel per customer, with the reason in words.

    Only channels the customer consented to and can be reached on are candidates. Among them, the
    expected value is (smoothed past response rate on that channel) × value_per_response − cost; the
    rate is the customer's own (responses + k·channel rate) / (sends + k). Customers who opted out of
    personalisation are scored on the channel-wide rate only: no profiling of their history.
    Channels that tie (no history yet and equal costs) split the customers evenly by a hash of the
    id. Returns columns channel (None when no channel is possible) and reason, indexed like `audience`."""
    ids = audience["customer_id"].astype(str).to_numpy()
    names = [c.name for c in channels]
    n, k = len(ids), len(names)
    eligible = eligible_channels(audience, permissions, channels)
    perm = permissions.reindex(ids)
    personalised = perm["personalised"].fillna(True).to_numpy(bool)

    sent = np.zeros((n, k))
    responded = np.zeros((n, k))
    global_rate = np.full(k, 0.05)
    if len(history):
        totals = history.groupby("channel")[["sent", "responded"]].sum()
        for j, name in enumerate(names):
            if name in totals.index and totals.loc[name, "sent"] > 0:
                global_rate[j] = totals.loc[name, "responded"] / totals.loc[name, "sent"]
        position = pd.Series(np.arange(n), index=ids)
        hist = history[history["customer_id"].isin(position.index) & history["channel"].isin(names)]
        rows = position.reindex(hist["customer_id"]).to_numpy()
        cols = pd.Index(names).get_indexer(hist["channel"])
        sent[rows, cols] = hist["sent"].to_numpy()
        responded[rows, cols] = hist["responded"].to_numpy()
    sent[~personalised] = 0
    responded[~personalised] = 0
    rate = (responded + prior_strength * global_rate) / (sent + prior_strength)
    cost = np.array([c.cost for c in channels])
    value = np.where(eligible, rate * value_per_response - cost, -np.inf)
    possible = eligible.any(axis=1)
    # Channels that tie (no history yet, equal costs) share the customers, split by a hash of the id:
    # taking the first would send everyone on one channel, and the campaign would never learn the other.
    tied = eligible & (value >= value.max(axis=1, keepdims=True) - 1e-9) if k else eligible
    ties = tied.sum(axis=1)
    pick = np.floor(unit_hash(pd.Series(ids), "channel-tie") * np.maximum(ties, 1)).astype(int)
    best = (np.cumsum(tied, axis=1) <= pick[:, None]).sum(axis=1) if k else np.zeros(n, int)
    best = np.where(possible, np.minimum(best, max(k - 1, 0)), 0)

    chosen = np.where(possible, np.array(names, dtype=object)[best], None)
    take = np.arange(n)
    pick_rate = rate[take, best]
    pick_sent = pd.Series(sent[take, best].astype(int)).astype(str)
    pick_responded = pd.Series(responded[take, best].astype(int)).astype(str)
    basis = np.where(
        personalised,
        "own history: " + pick_responded + " clicked or converted of " + pick_sent + " sent",
        "channel-wide rate only: opted out of personalisation, own history not used",
    )
    reason = (
        pd.Series(chosen).astype(str)
        + ": best expected value among consented+reachable ["
        + _eligible_names(eligible, names)
        + "], response "
        + pd.Series(np.round(pick_rate * 100, 2)).astype(str)
        + "% ("
        + pd.Series(basis).astype(str)
        + "), cost "
        + pd.Series(cost[best] if k else np.zeros(n)).astype(str)
        + np.where(ties > 1, " (tied with another channel: split evenly)", "")
    ).to_numpy(dtype=object)
    reason = np.where(possible, reason, "no consented and reachable channel")
    out = pd.DataFrame({"channel": chosen, "reason": reason}, index=audience.index)
    if overrides:
        # An override picks among permitted channels; it never bypasses consent or reachability.
        override = audience["customer_id"].astype(str).map(overrides)
        column = pd.Index(names).get_indexer(override.fillna(""))
        wanted = override.notna().to_numpy()
        allowed = wanted & (column >= 0) & eligible[np.arange(n), np.maximum(column, 0)]
        out.loc[allowed, "channel"] = override[allowed].to_numpy()
        out.loc[allowed, "reason"] = "override: " + override[allowed].astype(str)
        refused = wanted & ~allowed
        out.loc[refused, "reason"] = (
            "override to " + override[refused].astype(str) + " refused (no consent or contact); "
        ) + out.loc[refused, "reason"]
    return out


def _eligible_names(eligible: np.ndarray, names: Sequence[str]) -> pd.Series:
    joined = pd.Series([""] * len(eligible), dtype=object)
    for j, name in enumerate(names):
        joined = joined + np.where(eligible[:, j], name + " ", "")
    return joined.str.strip()
