"""Variant weights are relative shares of traffic: one that is not a finite number above 0, or is
absurdly large, is refused at validation naming its variant, before it can send every customer to one
arm (two weights of 1e308 overflow their sum)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from campaign_shop import export_spec

from marketpilot.campaigns.assign import HOLDOUT, assign_arms
from marketpilot.campaigns.spec import MAX_WEIGHT, parse_spec
from marketpilot.errors import ValidationFailed

IDS = pd.Series([f"C{i:06d}" for i in range(4000)])


def _with_weights(a: object, b: object) -> dict:
    spec = export_spec()
    spec["channels"][0]["variants"][0]["weight"] = a
    spec["channels"][0]["variants"][1]["weight"] = b
    return spec


@pytest.mark.parametrize("weight", [1e308, float("inf"), float("nan"), -1.0, 0, "1e308", MAX_WEIGHT * 2])
def test_weights_that_are_no_share_of_traffic_are_refused_naming_the_variant(weight: object) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_spec(_with_weights(1.0, weight))
    text = str(raised.value)
    assert "channels.0.variants.1" in text and "variant 'B': weight" in text
    assert "finite number above 0 and at most 1e+06" in text and "variant 'A'" not in text


def test_yaml_infinity_is_refused_too() -> None:
    text = yaml.safe_dump(_with_weights(1.0, 2.0), allow_unicode=True).replace("weight: 2.0", "weight: .inf")
    with pytest.raises(ValidationFailed, match=r"variant 'B': weight inf must be a finite number"):
        parse_spec(text)


def test_weights_up_to_the_bound_still_split_traffic_by_ratio() -> None:
    spec = parse_spec(_with_weights(MAX_WEIGHT, MAX_WEIGHT))
    weights = {v.key: v.weight for v in spec.channels[0].variants}
    arms = assign_arms(IDS, "w-1", 0.0, weights)
    assert set(arms) == {"A", "B"} and HOLDOUT not in set(arms)
    assert abs(np.mean(arms == "A") - 0.5) < 0.05
    small = parse_spec(_with_weights(1e-3, 3e-3)).channels[0].variants
    assert [v.weight for v in small] == [1e-3, 3e-3]  # relative: tiny weights are still weights


def test_a_yes_no_value_is_no_weight_nor_any_other_number() -> None:
    # JSON true and YAML yes were read as 1: weight 1.0, a budget of one message, a zero-day-old band.
    with pytest.raises(ValidationFailed, match=r"variant 'B': weight true is a yes/no value, not a number"):
        parse_spec(_with_weights(1.0, True))
    text = yaml.safe_dump(_with_weights(1.0, 2.0), allow_unicode=True).replace("weight: 2.0", "weight: yes")
    with pytest.raises(ValidationFailed, match=r"variant 'B': weight true is a yes/no value"):
        parse_spec(text)
    spec = _with_weights(1.0, 3) | {"caps": {"max_messages": True}, "holdout_share": False}
    with pytest.raises(ValidationFailed) as raised:
        parse_spec(spec)
    assert "caps.max_messages: Value error, true is a yes/no value, not a number" in str(raised.value)
    assert "holdout_share: Value error, false is a yes/no value, not a number" in str(raised.value)
    assert parse_spec(_with_weights(1, 3)).channels[0].variants[1].weight == 3.0  # integers still read
