"""Synthetic reviews: what the LLM is asked, how its answer is read, where the rows may go."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest

from marketpilot.analytics.reviews import corpora, synthesize
from marketpilot.analytics.reviews.sentiment import load_model


def test_the_plan_draws_every_polarity_and_is_seeded() -> None:
    plan = synthesize.load_plan()
    first = list(itertools.islice(synthesize.draws(plan, seed=3), 200))
    assert first == list(itertools.islice(synthesize.draws(plan, seed=3), 200))
    assert first != list(itertools.islice(synthesize.draws(plan, seed=4), 200))
    assert {d.label for d in first} == {0, 1}
    assert all(d.style in plan.styles[d.label] for d in first)
    assert len({d.category for d in first}) > 40


def test_answers_are_read_one_review_a_line() -> None:
    answer = "\n".join(
        [
            "好的，我来写一条差评。",  # the model talking about its task
            "1. 收到就坏了，客服也不理人",
            "- “颜色和图片差太多”",
            "优点：",  # a header, not a review
            "屏幕很 boring，没有亮点。",  # an English word slipped into Chinese
            "XP系统装不上，USB接口松",  # short upper-case tokens are real review text
            "好",  # too short to say anything
            "",
        ]
    )
    assert synthesize.parse_reviews(answer) == [
        "收到就坏了，客服也不理人",
        "颜色和图片差太多",
        "XP系统装不上，USB接口松",
    ]


def test_synthetic_rows_only_ever_train(zh_corpus: pd.DataFrame, data_dir: Path) -> None:
    synthetic = corpora.load_synthetic("zh", data_dir)
    assert len(synthetic) > 3000 and 0.35 < synthetic.label.mean() < 0.65
    assert synthetic.category.nunique() >= 50 and not synthetic.text.duplicated().any()
    assert corpora.load_synthetic("en", data_dir).empty
    train, _, test = corpora.protocol_split(zh_corpus, "zh", "unseen_source")
    extended = corpora.with_synthetic(train, zh_corpus, "zh", data_dir)
    added = extended.iloc[len(train) :]
    assert set(added.source) == {"synthetic_llm"} and set(added.split) == {"train"}
    assert not set(added.text) & set(zh_corpus.text)  # never a text any split of the corpora holds
    assert not set(extended.text) & set(test.text)


@pytest.mark.slow
def test_the_embedded_model_writes_labelled_reviews(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "llamacpp")
    out = home / "synthetic.jsonl"
    written = synthesize.synthesize(out, requests=2, seed=8, home=home)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == len(rows) >= 4 and not (home / "synthetic.jsonl.partial").exists()
    plan = synthesize.load_plan()
    assert {r["category"] for r in rows} <= set(plan.categories) and {r["label"] for r in rows} <= {0, 1}
    # What the request asked for labels the rows: the shipped model agrees with most of them.
    p, _ = load_model().positive_proba([r["text"] for r in rows], mode="fast", adapt=False)
    agree = [(q >= 0.5) == (r["label"] == 1) for q, r in zip(p, rows, strict=True)]
    assert sum(agree) >= 0.7 * len(rows), list(zip(p.round(2), rows, strict=True))
