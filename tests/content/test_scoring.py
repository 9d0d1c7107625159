"""Quality score components and the CTR model trained on past outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketpilot.content.briefs import Brief
from marketpilot.content.scoring import CTRModel, length_fit, quality_scores, readability
from marketpilot.embed import embed
from marketpilot.errors import NotFittedError, ValidationFailed


def passage(texts):
    return embed(texts, kind="passage")


@pytest.fixture
def brief() -> Brief:
    return Brief.model_validate(
        {"name": "羊毛大衣", "price": 399, "promo_price": 319, "brand": {"shop_name": "暖冬小铺"}}
    )


def test_components(brief):
    assert length_fit("羊毛大衣现价319元，轻盈保暖，通勤约会都好看，冬天就穿它", brief) == 1.0
    assert length_fit("大衣", brief) < 0.3
    assert length_fit("羊毛大衣现价319元" * 12, brief) < 1.0  # spills into extra billed segments
    assert readability("轻盈保暖。通勤约会都好看！", "zh") == 1.0
    assert (
        readability(
            "这是一句没有任何停顿而且非常非常长的句子它让人读起来很累也很难抓住重点究竟想说什么呢真的不知道",
            "zh",
        )
        < 0.5
    )


def test_quality_ranks_clean_varied_copy_first(brief):
    texts = [
        "{name}，羊毛大衣现价319元。轻盈保暖，通勤约会都好看",
        "全网最低！羊毛大衣只要299元",
        "羊毛大衣现价319元。轻盈保暖，通勤约会都好看",
    ]
    scores = quality_scores(texts, brief, embedder=passage)
    assert scores["guardrails"].tolist() == [1.0, 0.0, 1.0]
    assert scores["quality"].idxmin() == 1
    assert (scores[["length_fit", "readability", "diversity", "quality"]].to_numpy() <= 1).all()


def test_ctr_model_learns_from_outcomes():
    rng = np.random.default_rng(0)
    personal = [
        f"{{name}}，{p}现价{n}元，专属好价"
        for p, n in zip(["大衣", "围巾", "手套", "毛衣", "帽子", "靴子"], range(99, 600, 100), strict=True)
    ]
    generic = [
        f"{p}现价{n}元，欢迎选购"
        for p, n in zip(["大衣", "围巾", "手套", "毛衣", "帽子", "靴子"], range(99, 600, 100), strict=True)
    ]
    sends = rng.integers(2000, 5000, size=12)
    ctr = np.r_[np.full(6, 0.06), np.full(6, 0.02)]
    history = pd.DataFrame({"text": personal + generic, "sends": sends, "clicks": (sends * ctr).astype(int)})
    model = CTRModel(C=10.0, embedder=passage).fit(history)
    assert 0.03 < model.base_ctr_ < 0.05
    predicted = model.predict_ctr(["{name}，裤子现价199元，专属好价", "裤子现价199元，欢迎选购"])
    assert predicted[0] > predicted[1]


def test_ctr_model_validates_history():
    with pytest.raises(NotFittedError):
        CTRModel(embedder=passage).predict_ctr(["x"])
    with pytest.raises(ValidationFailed, match="clicks"):
        CTRModel(embedder=passage).fit(pd.DataFrame({"text": ["a"], "sends": [10]}))
    with pytest.raises(ValidationFailed, match="rows 0"):
        CTRModel(embedder=passage).fit(pd.DataFrame({"text": ["a"], "sends": [10], "clicks": [20]}))
