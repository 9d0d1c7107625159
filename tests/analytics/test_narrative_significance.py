"""A grounded narrative may not read a p-value it quotes on the wrong side of 0.05: the embedded model
wrote "但其p值为0.0068，说明结果不显著" in the demo's campaign report, every number of it a fact."""

from __future__ import annotations

import pytest

from llm_server import OpenAITestServer
from marketpilot.analytics.narrative import grounded_narrative, wrong_significance
from marketpilot.config import Settings

FACTS = {"lift_pp": 6.1, "p_value": 0.0068, "srm_p_value": 0.28}
DEMO = "这次活动的效果总体增量为6.1个百分点，但其p值为0.0068，说明结果不显著。因此不能确定是否值得继续。"


def test_a_p_value_called_the_wrong_way_is_named() -> None:
    assert wrong_significance(DEMO, FACTS) == ["p = 0.0068 called not significant"]
    assert wrong_significance("转化率提升6.1个百分点（p值为0.0068），结果显著。", FACTS) == []
    assert wrong_significance("分流比例检验p值为0.28，未见显著偏差。", FACTS) == []
    assert wrong_significance("分流比例检验p值为0.28，差异显著。", FACTS) == ["p = 0.28 called significant"]
    en = "The lift of 6.1 points is not statistically significant (p = 0.0068). Sample ratio p = 0.28."
    assert wrong_significance(en, FACTS) == ["p = 0.0068 called not significant"]
    fine = "The lift is significant (p = 0.0068); the split looks fine (p = 0.28)."
    assert wrong_significance(fine, FACTS) == []
    assert wrong_significance("The split is significant, p = 0.28.", FACTS) == ["p = 0.28 called significant"]
    # a sentence that quotes no p-value is not read: "显著" may mean "marked" there
    assert wrong_significance("转化率显著提升6.1个百分点。", FACTS) == []


@pytest.mark.parametrize("second_try_right", [True, False])
def test_the_model_is_asked_again_then_replaced(
    llm_server: OpenAITestServer,
    llm_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    second_try_right: bool,
) -> None:
    monkeypatch.setenv("MARKETPILOT_LLM_CACHE", "false")  # scripted replies differ for one prompt
    right = "转化率提升6.1个百分点，p值为0.0068，结果显著，建议继续。"
    llm_server.script(DEMO, right if second_try_right else DEMO)
    narrative = grounded_narrative(llm_settings, "campaign_report", "zh", FACTS, "模板", name="春节回店礼")
    retry = llm_server.requests[1]["messages"][-1]["content"]
    assert "p 值小于 0.05 才算显著" in retry and "p = 0.0068 called not significant" in retry
    if second_try_right:
        assert narrative.source == "llm" and narrative.text == right
    else:
        assert narrative.source == "template" and narrative.text == "模板"
        assert narrative.rejected == ["p = 0.0068 called not significant"]
