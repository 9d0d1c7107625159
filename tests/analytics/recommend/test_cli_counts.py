"""English output says one of a thing in the singular: `recommend evaluate` printed "1 customers
evaluated" on a small shop; the other commands' counts go through the same `counted`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from marketpilot.cli import app
from marketpilot.wording import counted


def test_one_evaluated_customer_is_one_customer(tmp_path: Path) -> None:
    # Only U0 buys again in the test window (the last 20 % of the rows, by time).
    rows = ["customer_id,product_id,occurred_at"]
    rows += [f"U{j % 4},P{j % 5},2024-01-{j + 1:02d}" for j in range(8)]
    rows += ["U0,P3,2024-01-20", "U0,P4,2024-01-21"]
    path = tmp_path / "interactions.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    args = ["recommend", "evaluate", "--interactions", str(path), "--user-col", "customer_id"]
    args += ["--item-col", "product_id", "--time-col", "occurred_at", "--k", "3", "--models", "popularity"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    said = " ".join(result.stdout.split())
    assert "1 customer evaluated" in said and "train 8 rows, test 2 rows" in said
    assert "customers evaluated" not in said


def test_counted_says_one_in_the_singular() -> None:
    assert [counted(n, "row") for n in (0, 1, 2, 12_345)] == ["0 rows", "1 row", "2 rows", "12,345 rows"]
    assert counted(1, "policy section") == "1 policy section" and counted(3, "LLM call") == "3 LLM calls"
