from __future__ import annotations

import pytest

from marketpilot.analytics.reviews.lexicon import lexicon_rows, opinion_vocabulary
from marketpilot.analytics.reviews.sentiment import load_model


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
