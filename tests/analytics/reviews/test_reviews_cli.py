from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_server import OpenAITestServer, Reply, logprob_reply
from marketpilot.analytics.reviews.sentiment import llm_rows, load_model
from marketpilot.cli import app, run_app
from marketpilot.config import Settings

runner = CliRunner()


def _heldout_csv(corpus: pd.DataFrame, path: Path, encoding: str) -> pd.DataFrame:
    # both classes of every source: the first rows of the held-out split are all positive
    rows = corpus[corpus.split == "test"].groupby(["source", "label"]).head(50)
    frame = pd.DataFrame({"评价": rows.text, "情感": rows.label.map({1: "正面", 0: "负面"})})
    frame.to_csv(path, index=False, encoding=encoding)
    return frame


def test_sentiment_gbk_csv_with_gold_labels(zh_corpus: pd.DataFrame, tmp_path: Path) -> None:
    source, out = tmp_path / "reviews_gbk.csv", tmp_path / "scored.csv"
    frame = _heldout_csv(zh_corpus, source, "gb18030")
    args = ["reviews", "sentiment", "--input", str(source), "--text-col", "评价", "--label-col", "情感"]
    result = runner.invoke(app, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"rows", "pos", "neg", "accuracy"}
    assert summary["rows"] == len(frame) == summary["pos"] + summary["neg"]
    assert summary["accuracy"] >= 0.8
    scored = pd.read_csv(out)
    assert set(scored.label) == {"pos", "neg"} and scored.probability.between(0.5, 1).all()


def test_sentiment_parquet_english(en_corpus: pd.DataFrame, tmp_path: Path) -> None:
    rows = en_corpus[en_corpus.source == "uci_amazon_cells"].head(200)
    path = tmp_path / "en.parquet"
    rows[["text"]].assign(gold=rows.label.map({1: "positive", 0: "negative"})).to_parquet(path)
    result = runner.invoke(
        app,
        ["reviews", "sentiment", "--input", str(path), "--text-col", "text", "--label-col", "gold", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] >= 0.7


@pytest.mark.parametrize(
    "gold", [{1: 1, 0: 0}, {1: "pos", 0: "neg"}, {1: "Positive", 0: "NEGATIVE"}, {1: "好评", 0: "差评"}]
)
def test_gold_label_formats(zh_corpus: pd.DataFrame, tmp_path: Path, gold: dict[int, object]) -> None:
    rows = zh_corpus[zh_corpus.split == "test"].groupby(["source", "label"]).head(25)
    path = tmp_path / "gold.csv"
    pd.DataFrame({"text": rows.text, "y": rows.label.map(gold)}).to_csv(path, index=False)
    args = ["reviews", "sentiment", "--input", str(path), "--text-col", "text", "--label-col", "y", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"rows", "pos", "neg", "accuracy"} and summary["rows"] == len(rows)
    assert summary["accuracy"] >= 0.8


def test_json_without_gold_has_exactly_rows_pos_neg(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    pd.DataFrame({"text": ["质量很好，很满意", "太差了，退货"]}).to_csv(path, index=False)
    result = runner.invoke(
        app, ["reviews", "sentiment", "--input", str(path), "--text-col", "text", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rows": 2, "pos": 1, "neg": 1}


def test_label_col_help_lists_every_format() -> None:
    result = runner.invoke(app, ["reviews", "sentiment", "--help"], env={"COLUMNS": "200"})
    assert all(
        word in result.stdout for word in ("1/0", "pos/neg", "positive/negative", "正面/负面", "好评/差评")
    )


def test_written_file_masks_pii_and_keeps_the_column_name(tmp_path: Path) -> None:
    secrets = [
        "13812345678",
        "zhang.wei@example.com",
        "11010519491231002X",
        "北京市朝阳区建国路88号3栋1201室",
    ]
    texts = [
        f"手机坏了，客服不回，回电{secrets[0]}",
        f"发票寄到邮箱 {secrets[1]}，很满意",
        f"实名登记用的身份证{secrets[2]}，物流很快",
        f"送到{secrets[3]}，包装完好，好评",
    ]
    source, out = tmp_path / "pii.csv", tmp_path / "scored.csv"
    pd.DataFrame({"review_id": range(4), "评价": texts}).to_csv(source, index=False)
    args = ["reviews", "sentiment", "--input", str(source), "--text-col", "评价", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    written = out.read_text(encoding="utf-8")
    assert not [s for s in secrets if s in written]
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["review_id", "评价", "label", "probability"]
    assert [
        m in t for m, t in zip(["[电话]", "[邮箱]", "[身份证]", "[地址]"], scored["评价"], strict=True)
    ] == [True] * 4


def test_input_columns_named_like_the_scores_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["很好", "很差"], "label": [1, 0]}).to_csv(path, index=False)
    monkeypatch.setattr(
        sys, "argv", ["marketpilot", "reviews", "sentiment", "--input", str(path), "--text-col", "text"]
    )
    assert run_app(app) == 2
    err = capsys.readouterr().err
    assert "'label'" in err and "overwritten" in err
    # Named as the gold labels (the public corpora call them `label`), it is kept beside the scores.
    out = tmp_path / "scored.csv"
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--label-col", "label", "--out", str(out), "--json"])
    assert run_app(app) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == 1.0
    assert list(pd.read_csv(out).columns) == ["text", "gold_label", "label", "probability"]


def _said(capsys: pytest.CaptureFixture[str]) -> str:
    """stderr with the terminal's line wrapping undone."""
    return " ".join(capsys.readouterr().err.split())


def test_out_is_never_the_input_nor_left_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "评价.csv"
    original = "text\n电话13812345678，东西很好\n"
    path.write_text(original, encoding="utf-8")
    base = ["marketpilot", "reviews", "sentiment", "--input", str(path), "--text-col", "text", "--out"]
    monkeypatch.setattr(sys, "argv", [*base, str(tmp_path / "." / "评价.csv")])
    assert run_app(app) == 2
    assert "is the input file" in _said(capsys) and path.read_text(encoding="utf-8") == original
    folder = tmp_path / "folder"
    folder.mkdir()
    monkeypatch.setattr(sys, "argv", [*base, str(folder)])
    assert run_app(app) == 2
    assert "is a folder" in _said(capsys) and list(tmp_path.glob("*.tmp")) == []
    nested = tmp_path / "new" / "dir" / "scored.csv"  # missing folders are made
    monkeypatch.setattr(sys, "argv", [*base, str(nested)])
    assert run_app(app) == 0 and pd.read_csv(nested)["text"].tolist() == ["电话[电话]，东西很好"]
    for flag, value in (("--mode", "bogus"), ("--lang", "fr")):
        monkeypatch.setattr(sys, "argv", [*base[:-1], flag, value])
        assert run_app(app) == 2 and f"{flag} must be" in _said(capsys)


def test_bad_label_names_the_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame({"text": ["很好", "很差"], "y": ["pos", "maybe"]}).to_csv(path, index=False)
    base = ["marketpilot", "reviews", "sentiment", "--input", str(path), "--text-col"]
    monkeypatch.setattr(sys, "argv", [*base, "text", "--label-col", "y"])
    assert run_app(app) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "maybe" in err
    monkeypatch.setattr(sys, "argv", [*base, "评论"])
    assert run_app(app) == 2
    assert "评论" in capsys.readouterr().err


def test_insight_writes_html_and_markdown(llm_server: OpenAITestServer, review_store: Settings) -> None:
    result = runner.invoke(app, ["reviews", "insight", "--product", "P-NB-1", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    md = Path(payload["files"]["markdown"]).read_text(encoding="utf-8")
    assert "评价洞察" in md and "价格" in md
    assert Path(payload["files"]["html"]).read_text(encoding="utf-8").startswith("<!doctype html>")
    assert Path(payload["files"]["chart"]).stat().st_size > 1000
    assert payload["insight"]["n_reviews"] > 0


def test_insight_by_category(llm_server: OpenAITestServer, review_store: Settings) -> None:
    result = runner.invoke(
        app, ["reviews", "insight", "--category", "电脑", "--lang", "zh", "--no-llm", "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["insight"]["scope"] == "类目 电脑" and payload["insight"]["n_reviews"] == 40
    assert payload["insight"]["needs"] == [] and not llm_server.requests
    md = Path(payload["files"]["markdown"]).read_text(encoding="utf-8")
    assert "类目 电脑" in md and "| 维度 | n | 好评 | 差评 | 中性 | 例 |" in md
    # Mentions with no clear opinion get their own column: every mention is praise, complaint or neutral.
    neutral = [a for a in payload["insight"]["aspects"] if a["neutral"]]
    assert neutral, "the sample reviews have no neutral aspect mention to show"
    for a in neutral:
        assert a["neutral"] == a["mentions"] - a["positive"] - a["negative"]
        assert f"| {a['name']} | {a['mentions']} | {a['positive']} | {a['negative']} | {a['neutral']} |" in md
    # The chart stacks them in grey (#a0a0a0) after praise and complaints: ~9,400 such pixels for these
    # 16 neutral mentions; the chart without that segment has ~500 (anti-aliased text edges).
    pixels = plt.imread(payload["files"]["chart"])[..., :3]
    assert (np.abs(pixels - 0xA0 / 255).max(axis=-1) < 0.02).sum() > 3000
    empty = runner.invoke(app, ["reviews", "insight", "--category", "没有这个类目", "--no-llm"])
    assert empty.exit_code != 0


def test_insight_in_the_reviews_language_names_its_scope_in_it(review_store: Settings) -> None:
    # No --lang: the reviews are Chinese, so the report is, its title included ("category 电脑" was).
    result = runner.invoke(app, ["reviews", "insight", "--category", "电脑", "--no-llm", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["insight"]["lang"] == "zh" and payload["insight"]["scope"] == "类目 电脑"
    md = Path(payload["files"]["markdown"]).read_text(encoding="utf-8")
    assert md.startswith("# 评价洞察：类目 电脑\n") and Path(payload["files"]["markdown"]).stem == "类目_电脑"
    points = payload["insight"]["selling_points"]
    assert len(points) > 1 and f"**卖点**：{'、'.join(points)}\n" in md
    assert "、".join(payload["insight"]["keywords"]) in md and ", " not in md.split("## 关键词")[1]


def test_insight_accurate_mode_scores_with_the_embedding_head(review_store: Settings) -> None:
    args = ["reviews", "insight", "--category", "电脑", "--no-llm", "--json"]
    fast = json.loads(runner.invoke(app, args).stdout)["insight"]
    result = runner.invoke(app, [*args, "--mode", "accurate"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    accurate = payload["insight"]
    assert (fast["sentiment_mode"], accurate["sentiment_mode"]) == ("fast", "accurate")
    assert accurate["n_reviews"] == fast["n_reviews"] == 40
    # The same clauses are found, and the e5 head scores some of them differently (positive/negative/
    # neutral, fast: 功能 12/21/6, 价格 13/1/5; accurate: 9/25/5, 12/3/4), so the option reaches the
    # clause scoring.
    counts = {
        m: {a["aspect"]: (a["positive"], a["negative"], a["neutral"]) for a in r["aspects"]}
        for m, r in (("fast", fast), ("accurate", accurate))
    }
    assert {a: sum(c) for a, c in counts["fast"].items()} == {
        a: sum(c) for a, c in counts["accurate"].items()
    }
    assert counts["fast"] != counts["accurate"]
    assert "模式 accurate" in Path(payload["files"]["markdown"]).read_text(encoding="utf-8")
    bad = runner.invoke(app, [*args, "--mode", "llm"])
    assert bad.exit_code != 0 and "--mode" in f"{bad.output}{bad.exception}"


def _verdict(request: dict) -> Reply:  # type: ignore[type-arg]
    """The server's label probabilities, in the labels the prompt asks for (pos/neg or 好评/差评): it
    calls a review negative when it mentions 退货 (returns)."""
    review = request["messages"][-1]["content"]
    pos, neg = (-3.0, -0.05) if "退货" in review else (-0.05, -3.0)
    if "好评" in request["messages"][0]["content"]:
        return logprob_reply([("好评" if pos > neg else "差", {"好评": pos, "差": neg})])
    return logprob_reply([('{"label": "', {'{"label": "': -0.01}), ("pos", {"pos": pos, "neg": neg})])


def test_llm_mode_asks_the_llm_about_unsure_reviews_only_masked(
    llm_server: OpenAITestServer, tmp_path: Path
) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "scored.csv"
    texts = [
        "包装完好，东西不错，客服电话13812345678",
        "东西还可以，就是有点贵，退货了",
        "Great value, would buy again",
    ]
    p_accurate, _ = load_model().positive_proba(texts, mode="accurate")
    asked = llm_rows(p_accurate)
    assert asked.tolist() == [0, 1] and p_accurate[1] > 0.5  # the e5 mix leans pos on the return
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    llm_server.script(*[_verdict] * (2 * len(asked)))  # two ways of asking for Chinese
    args = ["reviews", "sentiment", "--input", str(source), "--text-col", "text", "--mode", "llm"]
    result = runner.invoke(app, [*args, "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"rows": 3, "pos": 2, "neg": 1}
    assert pd.read_csv(out).label.tolist() == ["pos", "neg", "pos"]  # the LLM turned the return around
    assert len(llm_server.requests) == 4 and all(r["logprobs"] for r in llm_server.requests)
    systems = [r["messages"][0]["content"] for r in llm_server.requests]
    assert sum("好评" in system for system in systems) == 2  # each unsure review asked both ways
    sent = json.dumps(llm_server.requests, ensure_ascii=False)
    assert "13812345678" not in sent and "[电话]" in sent and "Great value" not in sent


def test_llm_mode_with_a_failing_server_says_so_and_writes_nothing(
    llm_server: OpenAITestServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "scored.csv"
    pd.DataFrame({"text": ["收到了，和描述的差不多", "快递挺快的，东西还没用"]}).to_csv(source, index=False)
    llm_server.script(_verdict, Reply(status=400, body="model not loaded"))
    args = ["--input", str(source), "--text-col", "text", "--mode", "llm", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["marketpilot", "reviews", "sentiment", *args])
    assert run_app(app) == 3  # a provider error
    assert "HTTP 400" in capsys.readouterr().err and not out.exists()
    assert not list(tmp_path.glob("scored*"))  # no half-written file either


def test_fast_mode_adapts_a_large_chinese_file_unless_told_not_to(
    zh_corpus: pd.DataFrame, tmp_path: Path
) -> None:
    """1,000 held-out reviews of every Chinese corpus, scored as the fast mode scores by default. These
    are the shipped model's own domains, where adapting costs a point or two; the gain on sources the
    model never saw is asserted in test_sentiment.py::test_every_method_side_by_side."""
    rows = zh_corpus[zh_corpus.split == "test"].sample(1000, random_state=3)
    source = tmp_path / "reviews.csv"
    pd.DataFrame({"评价": rows.text, "情感": rows.label}).to_csv(source, index=False)
    args = ["reviews", "sentiment", "--input", str(source), "--text-col", "评价", "--label-col", "情感"]
    scored = {}
    for flags in ([], ["--no-adapt"]):
        out = tmp_path / f"scored{len(flags)}.csv"
        result = runner.invoke(app, [*args, *flags, "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        scored[bool(flags)] = (json.loads(result.stdout)["accuracy"], pd.read_csv(out).label)
    alone = load_model().models["zh"].predict(rows.text.tolist())
    assert (scored[True][1] == pd.Series(alone).map({1: "pos", 0: "neg"})).all()
    changed = (scored[False][1] != scored[True][1]).sum()
    assert 0 < changed < 100, changed
    assert scored[True][0] >= 0.87, scored  # the classifier alone, in domain
    assert scored[False][0] >= scored[True][0] - 0.03, scored


@pytest.mark.slow
def test_accurate_mode_adapts_to_a_large_file_unless_told_not_to(
    zh_corpus: pd.DataFrame, tmp_path: Path
) -> None:
    """1,000 held-out reviews of every Chinese corpus: enough for the file to train on itself. These
    are the shipped model's own domains, where adapting costs about a point (0.874 -> 0.862; fast mode
    is best here, 0.897); test_adapt.py measures the gain on a source the models never saw."""
    rows = zh_corpus[zh_corpus.split == "test"].sample(1000, random_state=3)
    source = tmp_path / "reviews.csv"
    pd.DataFrame({"评价": rows.text, "情感": rows.label}).to_csv(source, index=False)
    args = ["reviews", "sentiment", "--input", str(source), "--text-col", "评价", "--label-col", "情感"]
    scored = {}
    for flag in ("--adapt", "--no-adapt"):
        out = tmp_path / f"scored{flag}.csv"
        result = runner.invoke(app, [*args, "--mode", "accurate", flag, "--out", str(out), "--json"])
        assert result.exit_code == 0, result.output
        scored[flag] = (json.loads(result.stdout), pd.read_csv(out))
    plain, _ = load_model().positive_proba(rows.text.tolist(), mode="accurate", adapt=False)
    assert (scored["--no-adapt"][1].label == pd.Series(plain >= 0.5).map({True: "pos", False: "neg"})).all()
    changed = (scored["--adapt"][1].label != scored["--no-adapt"][1].label).sum()
    assert 0 < changed < 100, changed
    accuracy = {flag: summary["accuracy"] for flag, (summary, _) in scored.items()}
    assert accuracy["--no-adapt"] >= 0.85, accuracy
    assert accuracy["--adapt"] >= accuracy["--no-adapt"] - 0.03, accuracy


def test_insight_open_aspects_asks_the_llm_once_more(
    llm_server: OpenAITestServer, review_store: Settings
) -> None:
    result = runner.invoke(app, ["reviews", "insight", "--product", "P-NB-1", "--open-aspects", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    systems = [r["messages"][0]["content"] for r in llm_server.requests]
    assert len(systems) == 2 and any("维度" in s and "分句" in s for s in systems)
    assert "open_aspects" in payload["insight"] and "dropped_open_aspects" in payload["insight"]
    assert "--open-aspects" in runner.invoke(app, ["reviews", "insight", "--help"]).output
