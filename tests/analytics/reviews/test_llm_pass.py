from __future__ import annotations

import json

import numpy as np

from llm_server import OpenAITestServer
from marketpilot.analytics.reviews.llm_pass import refine_with_llm
from marketpilot.analytics.reviews.sentiment import load_model
from marketpilot.config import Settings


def test_only_uncertain_reviews_reach_the_llm_masked(
    llm_server: OpenAITestServer, llm_settings: Settings
) -> None:
    texts = ["质量非常好，很满意，推荐", "还行吧，电话13812345678", "垃圾，退货"]
    p_pos = np.array([0.97, 0.55, 0.02])
    llm_server.script(json.dumps({"label": "neg"}))
    refined, decided = refine_with_llm(texts, p_pos, ["zh"] * 3, llm_settings)
    assert decided.tolist() == [1] and refined.tolist() == [0.97, 0.1, 0.02]
    assert len(llm_server.requests) == 1
    sent = json.dumps(llm_server.requests[0], ensure_ascii=False)
    assert "13812345678" not in sent and "<data>还行吧，电话[电话]</data>" in sent


def test_accurate_mode_agrees_on_clear_reviews() -> None:
    texts = [
        "屏幕清晰，速度很快，非常满意",
        "做工太差，用了两天就坏了，退货",
        "Love it, works perfectly",
        "Broke in a week, waste of money",
    ]
    fast = load_model().predict(texts)
    accurate = load_model().predict(texts, mode="accurate")
    assert fast.label.tolist() == accurate.label.tolist() == ["pos", "neg", "pos", "neg"]
    assert not np.allclose(fast.p_pos, accurate.p_pos)  # the e5 head does contribute
