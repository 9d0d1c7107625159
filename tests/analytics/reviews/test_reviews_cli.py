from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from llm_server import OpenAITestServer
from marketpilot.cli import app, run_app
from marketpilot.config import Settings

runner = CliRunner()


def _heldout_csv(corpus: pd.DataFrame, path: Path, encoding: str) -> pd.DataFrame:
    rows = corpus[corpus.split == "test"].groupby("source").head(100)
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
    assert summary["rows"] == len(frame) == summary["pos"] + summary["neg"]
    assert summary["accuracy"] >= 0.8
    scored = pd.read_csv(out)
    assert set(scored.label) == {"pos", "neg"} and scored.probability.between(0.5, 1).all()


def test_sentiment_parquet_english(en_corpus: pd.DataFrame, tmp_path: Path) -> None:
    rows = en_corpus[en_corpus.source == "uci_amazon_cells"].head(200)
    path = tmp_path / "en.parquet"
    rows.assign(gold=rows.label.map({1: "positive", 0: "negative"})).to_parquet(path)
    result = runner.invoke(
        app,
        ["reviews", "sentiment", "--input", str(path), "--text-col", "text", "--label-col", "gold", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] >= 0.7


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
