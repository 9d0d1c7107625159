"""Audience rules evaluated by `AudienceSource` against the intel files they name, each compared with
the same rule applied in pandas to the files themselves."""

import numpy as np
import pandas as pd
import pytest
from campaign_shop import build_shop

from marketpilot.campaigns.audience import AudienceSource
from marketpilot.campaigns.spec import AudienceRules, Band
from marketpilot.errors import UserError


@pytest.fixture
def shop(settings) -> pd.DataFrame:
    """The campaign test shop plus intel's churn scores and CLV, one row per customer."""
    frame = build_shop(settings, n=1000, seed=3)
    intel = settings.home_dir / "intel"
    rng = np.random.default_rng(5)
    churn = pd.DataFrame({"customer_id": frame["customer_id"], "p_churn_90d": rng.random(len(frame))})
    churn.to_parquet(intel / "propensity_churn.parquet")
    clv = pd.DataFrame({"customer_id": frame["customer_id"], "clv": rng.gamma(2.0, 300.0, len(frame))})
    clv.to_parquet(intel / "clv.parquet")
    return frame.merge(churn, on="customer_id").merge(clv, on="customer_id").set_index("customer_id")


def selected(settings, **rules: object) -> set[str]:
    return set(AudienceSource(settings).select(AudienceRules(**rules))["customer_id"])


def ids(mask: pd.Series) -> set[str]:
    return set(mask.index[mask])


def test_churn_band_selects_by_intels_churn_score(settings, shop) -> None:
    high = selected(settings, churn=Band(min=0.7))
    assert high == ids(shop["p_churn_90d"] >= 0.7) and 200 < len(high) < 400
    low = selected(settings, churn=Band(max=0.2))
    assert low == ids(shop["p_churn_90d"] <= 0.2)
    # The band is closed: a customer exactly on the edge is in.
    edge = float(shop["p_churn_90d"].iloc[0])
    assert shop.index[0] in selected(settings, churn=Band(min=edge, max=edge))


def test_clv_band_selects_by_predicted_value_and_combines_with_segments(settings, shop) -> None:
    band = selected(settings, clv=Band(min=300.0, max=900.0))
    assert band == ids(shop["clv"].between(300.0, 900.0)) and 0 < len(band) < len(shop)
    both = selected(settings, segments=["高价值"], clv=Band(min=600.0))
    assert both == ids((shop["segment"] == "高价值") & (shop["clv"] >= 600.0))
    assert AudienceSource(settings).count(AudienceRules(clv=Band(min=600.0))) == int(
        (shop["clv"] >= 600.0).sum()
    )


def test_include_adds_customers_outside_the_rules(settings, shop) -> None:
    sleepers = shop.index[shop["segment"] == "沉睡客户"][:25].tolist()
    chosen = selected(settings, segments=["新客"], include=sleepers)
    assert chosen == ids(shop["segment"] == "新客") | set(sleepers)


def test_exclude_removes_customers_and_beats_include(settings, shop) -> None:
    new = shop.index[shop["segment"] == "新客"]
    dropped = new[:30].tolist()
    assert selected(settings, segments=["新客"], exclude=dropped) == set(new) - set(dropped)
    sleeper = shop.index[shop["segment"] == "沉睡客户"][0]
    chosen = selected(settings, segments=["新客"], include=[sleeper, new[0]], exclude=[sleeper, new[0]])
    assert sleeper not in chosen and new[0] not in chosen and len(chosen) == len(new) - 1


def test_a_rule_on_a_missing_intel_file_names_the_command(settings, shop) -> None:
    (settings.home_dir / "intel" / "clv.parquet").unlink()
    with pytest.raises(UserError, match="clv") as raised:
        selected(settings, clv=Band(min=100.0))
    assert "marketpilot clv predict" in str(raised.value.hint)
    # Rules that do not need the file still work.
    assert selected(settings, churn=Band(min=0.7)) == ids(shop["p_churn_90d"] >= 0.7)
