from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketpilot.analytics.reviews import corpora
from marketpilot.analytics.reviews.lexicon import lexicon_rows, opinion_vocabulary, vader_rows, word_rows
from marketpilot.analytics.reviews.sentiment import NgramSentiment, load_model


def test_vocabulary_keeps_opinion_words_and_drops_nouns() -> None:
    words = opinion_vocabulary()
    assert 15_000 < len(words) < 30_000
    assert {"失望", "不错", "满意", "糟糕", "划算"} <= set(words)
    assert not {"手机", "桌子", "电池"} & set(words)  # nouns carry no opinion of their own
    assert all(2 <= len(w) <= 4 for w in words)


@pytest.mark.slow
def test_the_shipped_head_rates_clear_opinion_words_on_the_right_side() -> None:
    """Embeds the 20,817 words once (about 90 s on 2 cores, then cached)."""
    rows = lexicon_rows(*load_model().heads["zh"], per_class=1000)
    assert len(rows) == 2000 and rows.text.is_unique and rows.label.mean() == 0.5
    positive, negative = set(rows[rows.label == 1].text), set(rows[rows.label == 0].text)
    assert {"不错", "满意", "完美", "惊喜"} <= positive
    assert {"失望", "糟糕"} <= negative
    assert rows.equals(lexicon_rows(*load_model().heads["zh"], per_class=1000))


def test_vader_rows_are_its_rated_words_labelled_by_sign() -> None:
    rows = vader_rows()
    assert 6_000 < len(rows) < 7_000 and rows.text.is_unique  # "lol", "ok"… are listed twice in the file
    label = dict(zip(rows.text, rows.label, strict=True))
    assert [label[w] for w in ("great", "gorgeous", "disappointed", "bad", "dreadful")] == [1, 1, 0, 0, 0]
    assert not {":)", ":(", "<3"} & set(label)  # emoticons and symbols are left out
    assert "meh" not in label  # rated −0.3: too close to neutral
    assert "fine" in label and "fine" not in set(vader_rows(min_valence=1.0).text)  # rated 0.8
    assert word_rows("en", None).equals(rows)
    assert word_rows("zh", None) is None  # the Chinese words need an e5 head to rate them


def test_the_shipped_english_model_knows_words_its_corpora_rarely_use() -> None:
    model = load_model().models["en"]
    # Before VADER's words: gorgeous 0.32, splendid 0.21, dreadful 0.21 (an unknown word's score).
    assert model.predict(["gorgeous", "splendid", "superb"]).tolist() == [1, 1, 1]
    assert model.predict(["dreadful", "heartbreaking", "lousy"]).tolist() == [0, 0, 0]


@pytest.mark.slow
def test_vader_words_carry_the_english_fast_mode_to_unseen_sources() -> None:
    """Each UCI source held out in turn, C = 10 (bench/reviews_en_words.py chooses C on `valid`): measured
    +0.3 (amazon-cells), +1.4 (yelp), +3.3 (imdb) points. About 15 s."""
    df, words = corpora.load("en"), vader_rows()
    gains = []
    for held in ("uci_amazon_cells", "uci_yelp", "uci_imdb"):
        rest = df[df.source != held]
        train = corpora.with_synthetic(rest[rest.split == "train"], df, "en")
        test = df[df.source == held]
        accuracy = [
            float(np.mean(NgramSentiment("en", C=10.0).fit(r.text, r.label).predict(test.text) == test.label))
            for r in (train, pd.concat([train, words]))
        ]
        gains.append(accuracy[1] - accuracy[0])
    assert min(gains) >= 0 and sum(gains) >= 0.03, gains
