"""`marketpilot load` through the real CLI entry point: exit codes, --json, error messages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from marketpilot.cli import app, run_app
from marketpilot.config import Settings


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["marketpilot", *args])
    return run_app(app)


def test_load_json_prints_exactly_the_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path, data_dir: Path
) -> None:
    sample = str(data_dir / "cdnow" / "CDNOW_sample.txt")
    code = _run(monkeypatch, "load", "auto", sample, "--preset", "cdnow", "--home", str(home), "--json")
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    assert list(report) == ["table", "rows_loaded", "rows_rejected", "warnings"]
    assert report["rows_loaded"] == 6919 and report["rows_rejected"] == 0
    assert report["table"] == "customers,products,orders,order_items"


def test_bad_file_exits_2_naming_row_and_column(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: Settings,
    tmp_path: Path,
    store_snapshot,
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,ordered_at\nO1,c1,2024-11-11\nO2,c2,yesterday\n", encoding="utf-8")
    before = store_snapshot(settings)
    code = _run(monkeypatch, "load", "orders", str(path), "--json")
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""  # --json keeps stdout for JSON only
    assert "row 3, column 'ordered_at', value 'yesterday'" in captured.err
    assert store_snapshot(settings) == before


def test_rejected_load_into_a_new_home_creates_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,ordered_at\nO1,c1,2024-11-11\nO2,c2,yesterday\n", encoding="utf-8")
    home = tmp_path / "new_home"
    assert _run(monkeypatch, "load", "orders", str(path), "--home", str(home)) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert not home.exists()


def test_unknown_preset_and_table_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys, home: Path, retail_slice
) -> None:
    assert _run(monkeypatch, "load", "auto", str(retail_slice), "--preset", "shopify") == 2
    assert "Unknown preset 'shopify'" in capsys.readouterr().err
    assert _run(monkeypatch, "load", "invoices", str(retail_slice)) == 2
    assert "Unknown table 'invoices'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["decide", "budget", "--total", "1"], "Missing option '--history'"),
        (["decide", "budget", "--history", "h.csv", "--total", "1", "extra"], "unexpected extra argument"),
        (["nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_exit_2_with_the_usage_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    # Whichever click the installed typer uses (its own vendored copy since 0.2x), no traceback.
    assert _run(monkeypatch, *args) == 2
    err = capsys.readouterr().err
    assert message in err and "Usage: " in err and "--help" in err and "Traceback" not in err
