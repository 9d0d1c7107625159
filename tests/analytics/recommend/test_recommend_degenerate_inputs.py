"""`recommend evaluate` on the interaction files small shops really have: one timestamp for
everything, Chinese or Unix-millisecond times, a K beyond the catalogue, a handful of customers.
Each gives a clear error or a stated limit, never a misleading table or a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from marketpilot.analytics.recommend import evaluate
from marketpilot.analytics.recommend.interactions import parse_times
from marketpilot.cli import app
from marketpilot.cli.app import run_app
from marketpilot.errors import UserError


def _frame(times: list[str]) -> pd.DataFrame:
    """Five customers over seven products, one row per time."""
    return pd.DataFrame(
        {
            "customer_id": [f"U{j % 5}" for j in range(len(times))],
            "product_id": [f"P{j % 7}" for j in range(len(times))],
            "occurred_at": times,
        }
    )


@pytest.mark.parametrize(
    ("times", "words"),
    [
        (["2024-01-01"] * 40, "All 40 interactions have the same time"),
        (["2024-01-01"], "Only one interaction"),
    ],
)
def test_a_single_timestamp_is_refused_as_an_impossible_time_split(times: list[str], words: str) -> None:
    # Was "leaves an empty training window", advising a shorter test window, which cannot help.
    with pytest.raises(UserError, match=f"{words}.*time split into training and test is impossible"):
        evaluate(_frame(times), models=["popularity"], tune_params=False)


def test_chinese_dates_and_unix_milliseconds_are_read() -> None:
    chinese = parse_times(pd.Series(["2024年3月5日 14:03", "2024年3月6日"]), column="t", source="f.csv")
    assert chinese.tolist() == [pd.Timestamp("2024-03-05 14:03"), pd.Timestamp("2024-03-06")]
    millis = parse_times(pd.Series([1_709_647_380_000, 1_709_683_200_000]), column="t", source="f.csv")
    assert millis.tolist() == [pd.Timestamp("2024-03-05 14:03"), pd.Timestamp("2024-03-06")]
    # A column mixing offsets and plain times was a pandas "Mixed timezones" ValueError.
    mixed = parse_times(pd.Series(["2024-03-05T10:00:00+08:00", "2024-03-05 03:00"]), column="t", source="f")
    assert mixed.tolist() == [pd.Timestamp("2024-03-05 02:00"), pd.Timestamp("2024-03-05 03:00")]


def test_k_beyond_the_catalogue_and_a_handful_of_customers_are_stated() -> None:
    times = [f"2024-01-{j % 28 + 1:02d}" for j in range(40)]
    report = evaluate(_frame(times), k=50, models=["popularity"], tune_params=False)
    assert report.models["popularity"]["recall"] == 1.0  # every product is in every list
    k_note, few_note = report.notes
    assert "K=50 is not below the 7 products" in k_note and "precision is at most 0.140" in k_note
    assert "means over 5 test customer(s)" in few_note
    assert evaluate(_frame(times), k=3, models=["popularity"], tune_params=False).notes == [
        few_note.replace("Recall@50", "Recall@3")
    ]


def test_cli_reads_a_gbk_file_with_chinese_dates_and_prints_the_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = ["用户,商品,时间"] + [f"用户{j % 5},商品{j % 7},2024年1月{j % 28 + 1}日" for j in range(40)]
    path = tmp_path / "行为.csv"
    path.write_text("\n".join(rows) + "\n", encoding="gbk")
    argv = ["marketpilot", "recommend", "evaluate", "--interactions", str(path), "--user-col", "用户"]
    argv += ["--item-col", "商品", "--time-col", "时间", "--k", "10", "--models", "popularity", "--json"]
    monkeypatch.setattr(sys, "argv", argv)
    assert run_app(app) == 0
    out = capsys.readouterr()
    assert set(json.loads(out.out)) == {"k", "models", "best"}  # the documented shape
    assert "Note: K=10 is not below the 7 products" in " ".join(out.err.split())
