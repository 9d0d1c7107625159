"""`campaign plan` against a local OpenAI-protocol server: the discount the goal states is the one the
spec gets, whatever the model made of it."""

import pytest
from campaign_shop import build_shop

from llm_server import json_reply
from marketpilot.campaigns.planner import plan_campaign, stated_discount

DRAFT = {
    "name": "春节唤醒",
    "goal": "reactivation",
    "segments": ["沉睡客户"],
    "channels": ["sms"],
    "max_messages": 300,
}


@pytest.mark.parametrize(
    ("goal", "discount"),
    [
        ("春节前唤醒沉睡客户，全场8折，预算300条短信", 0.2),
        ("全场85折唤醒老客", 0.15),
        ("Win back lapsed buyers with 20% off", 0.2),
        ("春节前唤醒90天未购的高价值客户，预算5000条短信", None),
        ("第二件半价", None),  # an offer on the second item, not a discount on the order
        ("8折或7折都行", None),  # two figures: the model's choice stands
    ],
)
def test_stated_discount_reads_the_goals_own_figure(goal: str, discount: float | None) -> None:
    assert stated_discount(goal) == (pytest.approx(discount) if discount is not None else None)


@pytest.mark.parametrize("model_discount", [None, 8, 0.3])
def test_the_goals_discount_wins_over_the_models_reading(llm_settings, llm_server, model_discount) -> None:
    build_shop(llm_settings, n=300)
    llm_server.script(json_reply(DRAFT | {"discount": model_discount}))
    plan = plan_campaign(llm_settings, "春节前唤醒沉睡客户，全场8折，预算300条短信")
    assert plan.spec.offer.discount == pytest.approx(0.2)
    assert plan.draft.discount == pytest.approx(0.2)
