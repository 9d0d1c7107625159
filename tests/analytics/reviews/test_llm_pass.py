from __future__ import annotations

import json

import numpy as np

from llm_server import OpenAITestServer, Reply, logprob_reply
from marketpilot.analytics.reviews.llm_pass import llm_label_logits, llm_positive_proba, refine_with_llm
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


def _by_phrasing(request: dict) -> Reply:  # type: ignore[type-arg]
    """Label probabilities in the labels each prompt asks for; the 好评/差评 phrasing is surer."""
    if "好评" in request["messages"][0]["content"]:
        return logprob_reply([("好评", {"好评": -0.1, "差": -2.4})])
    return logprob_reply([('{"label": "', {'{"label": "': -0.01}), ("pos", {"pos": -0.5, "neg": -1.0})])


def test_chinese_reviews_are_asked_both_ways_one_phrasing_at_a_time(
    llm_server: OpenAITestServer, llm_settings: Settings
) -> None:
    texts = ["还行吧", "Works fine", "一般般"]
    llm_server.script(*[_by_phrasing] * 10)  # five requests, twice
    logits = llm_label_logits(texts, ["zh", "en", "zh"], llm_settings)
    assert np.allclose(logits[:, 0], 0.5) and np.allclose(logits[[0, 2], 1], 2.3)
    assert np.isnan(logits[1, 1])  # English has one phrasing
    systems = [r["messages"][0]["content"] for r in llm_server.requests]
    # Grouped by prompt (zh pos/neg, zh 好评/差评, en), so the embedded model keeps each prefix cached.
    assert ["好评" in s for s in systems] == [False, False, True, True, False]
    p_pos = llm_positive_proba(texts, ["zh", "en", "zh"], llm_settings)
    assert np.allclose(p_pos, 1 / (1 + np.exp(-np.array([1.4, 0.5, 1.4]))))
