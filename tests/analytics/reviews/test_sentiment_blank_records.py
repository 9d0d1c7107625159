"""`reviews sentiment` on a one-column CSV keeps a row for every record: a blank line there is a blank
review (counted as no_text), so the `--out` file lines up with the input. Other readers still skip
blank lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from marketpilot.cli import app
from marketpilot.data.readers import read_frame
from marketpilot.errors import UserError

runner = CliRunner()
# a blank line, a quoted empty value and spaces are three blank reviews; the two trailing newlines
# end the file and are no records
ONE_COLUMN = 'review\n质量很好，物流很快\n\n太差了，用两天就坏\n""\n   \n屏幕很清楚\n\n\n'
RECORDS = ["质量很好，物流很快", "", "太差了，用两天就坏", "", "   ", "屏幕很清楚"]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_blank_reviews_keep_their_rows_and_are_counted(tmp_path: Path, encoding: str) -> None:
    source, out = tmp_path / "one_column.csv", tmp_path / "out.csv"
    source.write_bytes(ONE_COLUMN.encode(encoding))
    result = runner.invoke(
        app, ["reviews", "sentiment", "--input", str(source), "--text-col", "review", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "rows=6 " in result.output and "no_text=3" in result.output
    scored = pd.read_csv(out, keep_default_na=False, skip_blank_lines=False)
    assert scored["review"].tolist() == RECORDS  # row i of --out is record i of the input
    assert scored["label"].tolist()[2] == "neg"
    assert [scored["probability"][i] for i in (1, 3, 4)] == [0.5] * 3  # blank: no score


def test_only_the_sentiment_command_keeps_blank_records(tmp_path: Path) -> None:
    source = tmp_path / "one_column.csv"
    source.write_text(ONE_COLUMN, encoding="utf-8")
    assert read_frame(source)["review"].tolist() == [r for r in RECORDS if r]  # the default is unchanged
    kept = read_frame(source, keep_blank=True)["review"].fillna("").tolist()
    assert kept == RECORDS
    # two columns: a record without a review was always kept; a row of nothing is kept now
    two = tmp_path / "two_columns.csv"
    two.write_text("id,review\n1,很好\n2,\n,\n4,差\n", encoding="utf-8")
    assert len(read_frame(two)) == 3 and len(read_frame(two, keep_blank=True)) == 4


def test_a_header_and_blank_lines_are_still_no_rows(tmp_path: Path) -> None:
    from marketpilot.analytics.reviews.batch import score_file

    source = tmp_path / "empty.csv"
    source.write_text("review\n\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="no rows under the header"):
        score_file(source, "review")


def test_an_excel_sheet_keeps_its_empty_rows_too(tmp_path: Path) -> None:
    """The same reviews typed into a spreadsheet: an empty cell is a blank review in its row; the
    sheet's rows below the last review are none."""
    source, out = tmp_path / "reviews.xlsx", tmp_path / "out.csv"
    pd.DataFrame({"review": [r or None for r in RECORDS]}).to_excel(source, index=False)
    result = runner.invoke(
        app, ["reviews", "sentiment", "--input", str(source), "--text-col", "review", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    scored = pd.read_csv(out, keep_default_na=False, skip_blank_lines=False)
    assert scored["review"].tolist() == RECORDS and "no_text=3" in result.output
    assert len(read_frame(source)) == 3  # other readers still leave empty (and all-space) rows out
