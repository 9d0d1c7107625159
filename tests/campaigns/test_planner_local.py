"""`campaign plan` with the real embedded model (llama.cpp, schema-constrained output)."""

import pandas as pd
import pytest

from marketpilot.campaigns.planner import plan_campaign
from marketpilot.config import get_settings

pytest.importorskip("llama_cpp", reason="the llm-local extra is part of `make test`")


@pytest.mark.slow
def test_plan_a_chinese_goal_with_the_embedded_model(home) -> None:
    from campaign_shop import build_shop

    settings = get_settings(home, llm_provider="llamacpp")
    build_shop(settings, n=2000)
    plan = plan_campaign(settings, "春节前唤醒沉睡客户，全场8折，预算300条短信")
    assert plan.language == "zh" and plan.spec.goal == "reactivation"
    assert [c.name for c in plan.spec.channels] == ["sms"]
    assert plan.spec.caps.max_messages == 300
    assert plan.spec.offer.discount == pytest.approx(0.2)
    # The audience size is the real query's, whatever rules the model chose.
    intel = settings.home_dir / "intel"
    frame = pd.read_parquet(intel / "segments.parquet").merge(
        pd.read_parquet(intel / "rfm.parquet")[["customer_id", "recency_days"]], on="customer_id"
    )
    rules = plan.spec.audience
    mask = pd.Series(True, index=frame.index)
    if rules.segments:
        mask &= frame["segment"].isin(rules.segments)
    if rules.recency_days and rules.recency_days.min is not None:
        mask &= frame["recency_days"] >= rules.recency_days.min
    assert plan.audience_size == int(mask.sum())
