"""The campaign page's conversion chart on two channels: a bar per channel in each arm's group, at the
arm's rate on that channel, and no bar where an arm was not sent on a channel."""

from __future__ import annotations

import json
import re

import pytest
from campaign_shop import export_spec, launch
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from marketpilot.api import create_app
from marketpilot.campaigns import service
from marketpilot.campaigns.measure import customer_outcomes
from marketpilot.campaigns.simulate import SimulationConfig, simulate_responses
from marketpilot.campaigns.tracking import ingest_file
from marketpilot.config import Settings


def chart(html: str, chart_id: str) -> dict:  # type: ignore[type-arg]
    match = re.search(rf'getElementById\("{chart_id}"\)\)\.setOption\((.*?)\)\);</script>', html, re.S)
    assert match, f"no chart {chart_id}"
    return json.loads(match.group(1))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_two_channels_chart_each_arms_rate_per_channel(
    shop_settings: Settings, engine: Engine, smtp_server, sms_gateway
) -> None:
    spec = export_spec(
        audience={},
        channels=[
            {
                "name": "email",
                "cost": 0.1,
                "variants": [
                    {"key": "A", "subject": "新春好礼", "text": "{name}您好，新春全场8折。AI生成"},
                    {"key": "B", "subject": "好久不见", "text": "{name}您好，好久不见。AI生成"},
                ],
            },
            # B is e-mail's alone: on SMS it has no customers, so no bar (a zero bar would read 0 %).
            {"name": "sms", "cost": 0.05, "variants": [{"key": "A", "text": "{name}，新春全场8折"}]},
        ],
    )
    cid, _ = launch(shop_settings, spec, campaign_id="渠道看板-0a1b2c")
    truth = simulate_responses(
        shop_settings,
        engine,
        cid,
        1,
        SimulationConfig(seed=5, channel_effects={"email": {"A": 0.3, "B": 0.15}, "sms": {"A": 0.08}}),
        spec=service.get_spec(engine, cid)[0],
    )
    ingest_file(engine, truth.events_file)
    frame = customer_outcomes(engine, cid, 1)
    rate = {
        (str(channel), str(arm)): float(round(100 * g["converted"].mean(), 2))
        for (channel, arm), g in frame.groupby(["channel", "arm"])
    }
    assert ("sms", "B") not in rate and len({rate["email", "A"], rate["sms", "A"]}) == 2

    page = TestClient(create_app(shop_settings, require_key=False)).get(f"/ui/campaigns/{cid}").text
    options = chart(page, "conversion")
    assert options["xAxis"]["data"] == ["A", "B", "holdout"] and options["yAxis"]["name"] == "%"
    assert options["series"] == [
        {"name": "email", "type": "bar", "data": [rate["email", a] for a in ("A", "B", "holdout")]},
        {"name": "sms", "type": "bar", "data": [rate["sms", "A"], None, rate["sms", "holdout"]]},
    ]
    assert options["legend"]["show"] and options["title"]["text"] == "渠道 channel"
