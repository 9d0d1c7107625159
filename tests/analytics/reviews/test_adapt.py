from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.adapt import (
    FAST_FOLDS,
    MIN_ROWS,
    adapt_fast,
    adapt_to_batch,
    pseudo_labelled,
)
from marketpilot.analytics.reviews.sentiment import (
    E5_WEIGHT,
    NgramSentiment,
    embed_for_sentiment,
    load_model,
    make_vectorizer,
)


def test_pseudo_labels_are_the_most_confident_share_of_each_predicted_class() -> None:
    p = np.array([0.99, 0.6, 0.8, 0.01, 0.4, 0.3, 0.2, 0.9, 0.55, 0.45])
    # positives 0.99, 0.9, 0.8, 0.6, 0.55 and negatives 0.01, 0.2, 0.3, 0.4, 0.45: two of each
    assert pseudo_labelled(p, keep=0.5).tolist() == [0, 3, 6, 7]
    lopsided = np.r_[np.full(90, 0.9), np.full(10, 0.1)]
    assert np.sum(lopsided[pseudo_labelled(lopsided)] < 0.5) == 7  # the minority class keeps its share


def test_small_or_one_sided_batches_keep_their_scores(zh_corpus: pd.DataFrame) -> None:
    texts = zh_corpus.text.head(MIN_ROWS).tolist()
    flat = np.zeros((MIN_ROWS, 384), dtype=np.float32)  # never read: both batches return early
    p = np.linspace(0.05, 0.95, MIN_ROWS)
    assert np.array_equal(adapt_to_batch(texts[:-1], flat[:-1], p[:-1], "zh"), p[:-1])
    all_positive = np.full(MIN_ROWS, 0.8)
    assert np.array_equal(adapt_to_batch(texts, flat, all_positive, "zh"), all_positive)


def test_a_fold_without_the_minority_class_keeps_its_scores(zh_corpus: pd.DataFrame) -> None:
    texts = zh_corpus.text.head(MIN_ROWS).tolist()
    x = np.random.default_rng(0).normal(size=(MIN_ROWS, 8))
    p = np.full(MIN_ROWS, 0.9)
    p[[0, 5, 10]] = 0.01, 0.02, 0.3  # the two pseudo-labelled negatives both sit in fold 0
    adapted = adapt_to_batch(texts, x, p, "zh")
    fold0 = np.arange(MIN_ROWS) % 5 == 0
    assert np.array_equal(adapted[fold0], p[fold0])
    assert not np.array_equal(adapted[~fold0], p[~fold0])


@pytest.mark.slow
def test_adapting_to_a_batch_from_an_unseen_source_lifts_the_accurate_mode(zh_corpus: pd.DataFrame) -> None:
    """1,000 book and notebook reviews from a source no model here trained on (protocol unseen_source:
    the n-gram model and the e5 head learnt from waimai and hotel reviews only)."""
    train, _, test = corpora.protocol_split(zh_corpus, "zh", "unseen_source")
    batch = test.sample(MIN_ROWS, random_state=7)
    fit = pd.concat(group.sample(300, random_state=0) for _, group in train.groupby("source"))
    ngram = NgramSentiment("zh").fit(train.text, train.label)
    head = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
    head.fit(embed_for_sentiment(fit.text.tolist()), fit.label)
    texts = batch.text.tolist()
    x = embed_for_sentiment(texts)
    p = (1 - E5_WEIGHT) * ngram.predict_proba(texts)[:, 1] + E5_WEIGHT * head.predict_proba(x)[:, 1]
    adapted = adapt_to_batch(texts, x, p, "zh")
    gold = batch.label.to_numpy() == 1
    before, after = np.mean((p >= 0.5) == gold), np.mean((adapted >= 0.5) == gold)
    print(f"accurate {before:.3f} -> adapted {after:.3f}")
    assert after >= before + 0.01, (before, after)
    assert after >= 0.83, after


def test_fast_adaptation_leaves_small_english_and_one_sided_batches_alone(
    zh_corpus: pd.DataFrame, en_corpus: pd.DataFrame
) -> None:
    model = load_model()
    p = np.linspace(0.05, 0.95, MIN_ROWS)
    zh = make_vectorizer("zh", model.models["zh"].n_features).transform(zh_corpus.text.head(MIN_ROWS))
    en = make_vectorizer("en", model.models["en"].n_features).transform(en_corpus.text.head(MIN_ROWS))
    assert np.array_equal(adapt_fast(zh[:-1], p[:-1], model.models["zh"]), p[:-1])  # under MIN_ROWS
    assert np.array_equal(adapt_fast(en, p, model.models["en"]), p)  # English: measured not to pay
    assert np.array_equal(adapt_fast(zh, np.full(MIN_ROWS, 0.8), model.models["zh"]), np.full(MIN_ROWS, 0.8))
    adapted = adapt_fast(zh, p, model.models["zh"])
    assert not np.array_equal(adapted, p) and np.all((adapted > 0) & (adapted < 1))
    assert np.array_equal(adapted, adapt_fast(zh, p, model.models["zh"]))  # the same batch, the same scores


def test_fast_adaptation_fold_without_the_minority_class_keeps_its_scores(zh_corpus: pd.DataFrame) -> None:
    model = load_model().models["zh"]
    features = make_vectorizer("zh", model.n_features).transform(zh_corpus.text.head(MIN_ROWS))
    p = np.full(MIN_ROWS, 0.9)
    p[[0, 2, 4]] = 0.01, 0.02, 0.3  # the pseudo-labelled negatives sit in fold 0: only fold 1 learns
    adapted = adapt_fast(features, p, model)
    fold0 = np.arange(MIN_ROWS) % FAST_FOLDS == 0
    assert np.array_equal(adapted[fold0], p[fold0])
    assert not np.array_equal(adapted[~fold0], p[~fold0])
