import numpy as np
import pandas as pd

from marketpilot.campaigns.assign import HOLDOUT, assign_arms, choose_channels, thompson_arms, unit_hash
from marketpilot.campaigns.spec import ChannelPlan

IDS = pd.Series([f"C{i:06d}" for i in range(20_000)])


def test_holdout_share_and_variant_split_follow_the_spec() -> None:
    arms = assign_arms(IDS, "camp-1", 0.10, {"A": 1.0, "B": 3.0})
    share = (arms == HOLDOUT).mean()
    # binomial sd at n=20000, p=0.1 is 0.0021: ±4 sd
    assert abs(share - 0.10) < 0.0085
    treated = arms[arms != HOLDOUT]
    assert abs((treated == "B").mean() - 0.75) < 0.015


def test_assignment_depends_only_on_campaign_and_customer() -> None:
    full = pd.Series(assign_arms(IDS, "camp-1", 0.1, {"A": 1, "B": 1}), index=IDS)
    # A different audience (subset, shuffled) gives every customer the same arm.
    subset = IDS.sample(frac=0.3, random_state=1)
    again = pd.Series(assign_arms(subset, "camp-1", 0.1, {"A": 1, "B": 1}), index=subset)
    assert (again == full[subset]).all()
    other = assign_arms(IDS, "camp-2", 0.1, {"A": 1, "B": 1})
    assert (other != full.to_numpy()).mean() > 0.3


def test_unit_hash_is_uniform() -> None:
    u = unit_hash(IDS, "salt")
    counts, _ = np.histogram(u, bins=10, range=(0, 1))
    assert counts.min() > 1800 and counts.max() < 2200


def test_thompson_is_reproducible_keeps_the_holdout_and_favours_the_better_arm() -> None:
    posterior = {"A": (11.0, 991.0), "B": (41.0, 961.0)}
    first = thompson_arms(IDS, "camp-1", 2, 0.1, posterior)
    assert (
        first == thompson_arms(IDS.iloc[::-1].reset_index(drop=True), "camp-1", 2, 0.1, posterior)[::-1]
    ).all()
    fixed = assign_arms(IDS, "camp-1", 0.1, {"A": 1, "B": 1})
    assert ((first == HOLDOUT) == (fixed == HOLDOUT)).all()
    treated = first[first != HOLDOUT]
    assert (treated == "B").mean() > 0.95


def test_rate_limiter_holds_the_average_rate() -> None:
    import time

    from marketpilot.campaigns.channels import RateLimiter

    limiter = RateLimiter(50)
    start = time.monotonic()
    for _ in range(100):
        limiter.acquire()
    elapsed = time.monotonic() - start
    # One second's burst (50) at once, the next 50 at 50 per second.
    assert 0.9 <= elapsed < 1.6


def test_channels_that_tie_share_the_customers() -> None:
    # With no history and equal costs, email and webhook tied and argmax sent everyone by e-mail: the
    # campaign never learnt how webhook (or any second channel) does.
    n = 4_000
    audience = pd.DataFrame({"customer_id": IDS[:n], "has_email": np.arange(n) % 4 != 0, "has_phone": True})
    permissions = pd.DataFrame(
        {"email": True, "sms": True, "webhook": True, "personalised": True}, index=IDS[:n]
    )
    history = pd.DataFrame(columns=["customer_id", "channel", "sent", "responded"])
    plans = [ChannelPlan(name="email"), ChannelPlan(name="webhook")]
    chosen = choose_channels(audience, permissions, plans, history)
    reachable = audience["has_email"].to_numpy()
    # customers without an e-mail address have one candidate; the others split about evenly (sd 0.009)
    assert (chosen["channel"][~reachable] == "webhook").all()
    assert abs((chosen["channel"][reachable] == "email").mean() - 0.5) < 0.04
    assert chosen["reason"][reachable].str.contains("tied with another channel").all()
    assert chosen.equals(choose_channels(audience.iloc[::-1], permissions, plans, history).iloc[::-1])
    # a cheaper channel is no tie: it takes everyone it can reach
    cheap = choose_channels(
        audience, permissions, [plans[0], ChannelPlan(name="webhook", cost=0.01)], history
    )
    assert (cheap["channel"][reachable] == "email").all()
