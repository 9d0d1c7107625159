from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.reviews import corpora, evaluate
from marketpilot.analytics.reviews.sentiment import (
    NgramSentiment,
    SentimentModel,
    detect_language,
    load_model,
)
from marketpilot.errors import NotFittedError


def test_shipped_model_on_heldout_split(zh_corpus: pd.DataFrame, en_corpus: pd.DataFrame) -> None:
    """The `test` split of every corpus was never trained on (train.py fits on `train` only)."""
    model = load_model()
    for corpus, floor in ((zh_corpus, 0.87), (en_corpus, 0.87)):
        held = corpus[corpus.split == "test"]
        pred = model.predict(held.text.tolist())
        accuracy = np.mean((pred.label == "pos").to_numpy() == (held.label == 1).to_numpy())
        assert accuracy >= floor, (corpus.source.iloc[0], accuracy)


def test_language_routing_and_output_shape() -> None:
    texts = ["屏幕很清楚，运行速度快", "The battery died after two days", ""]
    assert detect_language(texts).tolist() == ["zh", "en", "en"]
    out = load_model().predict(texts)
    assert out.label.tolist()[:2] == ["pos", "neg"]
    assert ((out.probability >= 0.5) & (out.probability <= 1)).all()


def test_training_is_deterministic_and_roundtrips(zh_corpus: pd.DataFrame, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sample = zh_corpus[zh_corpus.split == "train"].sample(2000, random_state=1)
    first = NgramSentiment("zh", n_features=2**16, C=3).fit(sample.text, sample.label)
    second = NgramSentiment("zh", n_features=2**16, C=3).fit(sample.text, sample.label)
    assert np.array_equal(first.coef_, second.coef_)
    en = NgramSentiment("en", n_features=2**16).fit(["good", "bad", "great", "awful"], [1, 0, 1, 0])
    SentimentModel({"zh": first, "en": en}).save(tmp_path / "m.npz")
    loaded = SentimentModel.load(tmp_path / "m.npz")
    probe = zh_corpus.text.head(200).tolist()
    # float16 storage: probabilities agree to ~1e-2, labels nearly always.
    assert (
        np.abs(loaded.models["zh"].predict_proba(probe)[:, 1] - first.predict_proba(probe)[:, 1]).max() < 0.02
    )


def test_unfitted_model_raises() -> None:
    with pytest.raises(NotFittedError):
        NgramSentiment().predict(["好"])


def test_throughput_at_least_5000_per_second(zh_corpus: pd.DataFrame) -> None:
    texts = zh_corpus.text.head(20_000).tolist()
    model = load_model()
    start = time.perf_counter()
    model.predict(texts)
    rate = len(texts) / (time.perf_counter() - start)
    assert rate >= 5000, rate


@pytest.mark.slow
def test_methods_side_by_side_cross_domain() -> None:
    """All methods in one run on the category/shop no training row comes from (see evaluate.py).

    The issue's bar is 0.93 on such data; the bundled corpora do not allow it (see
    docs/review-insight.md: the notebook reviews are pros/cons fragments labelled by section, and even
    in-domain the same recipe reaches ~0.86). These floors pin what the methods measure today.
    """
    zh = evaluate.compare("zh")
    en = evaluate.compare("en")
    print("\n" + zh.to_string(index=False) + "\n\n" + en.to_string(index=False))
    recipe_zh = zh[zh.method.str.contains("shipped recipe")].cross_domain.iloc[0]
    recipe_en = en[en.method.str.contains("shipped recipe")].cross_domain.iloc[0]
    assert recipe_zh >= 0.74
    assert recipe_en >= 0.75
    assert zh[zh.method.str.startswith("shipped model")].heldout.iloc[0] >= 0.87
    assert en[en.method.str.startswith("shipped model")].heldout.iloc[0] >= 0.87
    assert len(corpora.cross_domain(corpora.load("zh"), "zh")[2]) > 4000
