"""Synthetic reviews: what the LLM is asked, how its answer is read, where the rows may go."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from marketpilot.analytics.reviews import corpora, synthesize
from marketpilot.analytics.reviews.sentiment import detect_language, load_model


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_plan_draws_every_polarity_and_is_seeded(lang: corpora.Lang) -> None:
    plan = synthesize.load_plan(lang)
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


def test_english_answers_are_read_one_review_a_line() -> None:
    answer = "\n".join(
        [
            "Sure! Here are 8 negative reviews of a frying pan:",  # the model talking about its task
            "Negative reviews:",  # a header
            "1. The coating started peeling after two weeks.",
            '- "Handle got loose, would not buy again."',
            "Great pan, 很好用 for eggs.",  # a slip into the other language
            "Meh.",  # too short to say anything
            "Here's the thing: it warps on high heat and the support team never replied.",
            "1. Far too quiet. 2. The buttons are tiny. 3) Battery lasts 2.5 hours.",  # a list on one line
        ]
    )
    assert synthesize.parse_reviews(answer, "en") == [
        "The coating started peeling after two weeks.",
        "Handle got loose, would not buy again.",
        "Here's the thing: it warps on high heat and the support team never replied.",
        "Far too quiet.",
        "The buttons are tiny.",
        "Battery lasts 2.5 hours.",
    ]
    # An answer cut off at the token limit loses its half-written last review, and only that.
    assert synthesize.parse_reviews(answer + "\nThe lid cracked and the", "en", cut_off=True) == (
        synthesize.parse_reviews(answer, "en")
    )


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_synthetic_rows_only_ever_train(
    lang: corpora.Lang, data_dir: Path, request: pytest.FixtureRequest
) -> None:
    corpus = request.getfixturevalue(f"{lang}_corpus")
    synthetic = corpora.load_synthetic(lang, data_dir)
    assert len(synthetic) > 1000 and 0.35 < synthetic.label.mean() < 0.65
    assert synthetic.category.nunique() >= 50 and not synthetic.text.duplicated().any()
    assert set(synthetic.category) <= set(synthesize.load_plan(lang).categories)
    train, _, test = corpora.protocol_split(corpus, lang, "unseen_category")
    extended = corpora.with_synthetic(train, corpus, lang, data_dir)
    added = extended.iloc[len(train) :]
    assert len(added) > 1000 and set(added.source) == {"synthetic_llm"} and set(added.split) == {"train"}
    assert not set(added.text) & set(corpus.text)  # never a text any split of the corpora holds
    assert not set(extended.text) & set(test.text)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_embedded_model_writes_labelled_reviews(
    lang: corpora.Lang, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("llama_cpp")
    monkeypatch.setenv("MARKETPILOT_LLM_PROVIDER", "llamacpp")
    out = home / "synthetic.jsonl"
    written = synthesize.synthesize(out, requests=2, seed=8, home=home, lang=lang)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert written == len(rows) >= 4 and not (home / "synthetic.jsonl.partial").exists()
    plan = synthesize.load_plan(lang)
    assert {r["category"] for r in rows} <= set(plan.categories) and {r["label"] for r in rows} <= {0, 1}
    assert detect_language([r["text"] for r in rows]).tolist() == [lang] * len(rows)
    # What the request asked for labels the rows: the shipped model agrees with most of them.
    p, _ = load_model().positive_proba([r["text"] for r in rows], mode="fast", adapt=False)
    agree = [(q >= 0.5) == (r["label"] == 1) for q, r in zip(p, rows, strict=True)]
    assert sum(agree) >= 0.7 * len(rows), list(zip(p.round(2), rows, strict=True))
