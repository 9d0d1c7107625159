"""Readers on real files: UTF-8, UTF-8 with BOM and GBK copies of real Chinese reviews, Parquet, Excel."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from marketpilot.data.readers import open_source, read_frame
from marketpilot.errors import UserError, ValidationFailed


@pytest.fixture(scope="module")
def waimai_text(data_dir: Path) -> str:
    return (data_dir / "loaders" / "waimai_2k.csv").read_text(encoding="utf-8")


def _rows(path: Path) -> tuple[str | None, list[tuple]]:
    con = duckdb.connect()
    source = open_source(con, path)
    return source.encoding, con.execute("SELECT label, review, __row FROM src ORDER BY __row").fetchall()


@pytest.mark.parametrize(
    ("codec", "detected"), [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030")]
)
def test_chinese_csv_reads_identically_in_each_encoding(
    tmp_path: Path, waimai_text: str, codec: str, detected: str
) -> None:
    # The same real reviews, re-encoded; GBK cannot encode a few emoji, which real GBK exports lack too.
    text = waimai_text.encode("gbk", errors="ignore").decode("gbk")
    path = tmp_path / f"reviews_{codec}.csv"
    path.write_bytes(text.encode(codec))
    encoding, rows = _rows(path)
    assert encoding == detected
    expected = pd.read_csv(path, encoding=codec, dtype=str)
    assert len(rows) == len(expected) == 2000
    assert [r[1] for r in rows] == expected["review"].tolist()
    assert rows[0][1] == "很快，好吃，味道足，量大" and rows[0][2] == 2  # header is row 1


def test_mixed_encodings_name_both_rows(tmp_path: Path, waimai_text: str) -> None:
    lines = waimai_text.splitlines(keepends=True)
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        "".join(lines[:50]).encode("gbk", errors="ignore") + "".join(lines[50:60]).encode("utf-8")
    )
    with pytest.raises(ValidationFailed) as err:
        _rows(path)
    assert "line 51" in str(err.value) and "GBK" in str(err.value)


def test_utf8_file_with_gbk_tail_is_mixed(tmp_path: Path, waimai_text: str) -> None:
    lines = waimai_text.splitlines(keepends=True)
    path = tmp_path / "mixed2.csv"
    path.write_bytes(
        "".join(lines[:30]).encode("utf-8") + "".join(lines[30:40]).encode("gbk", errors="ignore")
    )
    with pytest.raises(ValidationFailed, match=r"line 31: .* not UTF-8, but line 2 is UTF-8"):
        _rows(path)


def test_empty_and_unsupported_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        _rows(empty)
    odd = tmp_path / "data.json"
    odd.write_text("{}")
    with pytest.raises(UserError, match="unsupported file type"):
        open_source(duckdb.connect(), odd)
    with pytest.raises(UserError, match="is a folder"):
        _rows(tmp_path)


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("text.parquet", b"hello\n", "Parquet"),
        ("cut.parquet", None, "Parquet"),
        ("broken.xlsx", b"PK\x03\x04garbage", "Excel"),
        ("text.xlsx", b"hello", "Excel"),
        ("plain.csv.gz", b"a,b\n1,2\n", "CSV (gz)"),
    ],
)
def test_a_file_that_is_not_what_its_name_says(
    tmp_path: Path, retail_slice: Path, name: str, content: bytes | None, kind: str
) -> None:
    """A renamed or cut-off download is the user's to fix: a message naming the file, no traceback."""
    path = tmp_path / name
    if content is None:  # a real Parquet file cut short, as an interrupted download leaves it
        whole = tmp_path / "whole.parquet"
        pd.read_csv(retail_slice).to_parquet(whole)
        content = whole.read_bytes()[:3000]
    path.write_bytes(content)
    for read in (_rows, read_frame):
        with pytest.raises(UserError, match=rf"{name}: not a readable {re.escape(kind)} file"):
            read(path)


def test_parquet_and_excel_keep_values_and_row_numbers(tmp_path: Path, retail_slice: Path) -> None:
    frame = pd.read_csv(retail_slice, dtype=str, nrows=200)
    frame.to_parquet(tmp_path / "slice.parquet")
    frame.to_excel(tmp_path / "slice.xlsx", index=False)
    for name, first_row in (("slice.parquet", 1), ("slice.xlsx", 2)):
        con = duckdb.connect()
        source = open_source(con, tmp_path / name)
        got = con.execute('SELECT "InvoiceNo", "Description", __row FROM src ORDER BY __row').fetchall()
        assert [g[0] for g in got] == frame["InvoiceNo"].tolist()
        assert [g[1] for g in got] == frame["Description"].tolist()
        assert got[0][2] == first_row
        assert source.columns == tuple(frame.columns)


def test_gb18030_four_byte_characters(tmp_path: Path, waimai_text: str) -> None:
    """Characters outside GBK (CJK Extension A/B, e.g. 㐀 and 𠮷 in names) take 4 bytes in GB18030."""
    rare = ["𠮷野家的牛丼", "㐀㐁㐂", "王𡈼的店"]
    assert [len(t.encode("gb18030")) for t in rare] == [14, 12, 10]  # 4 bytes per rare character
    for text in rare:
        with pytest.raises(UnicodeEncodeError):
            text.encode("gbk")
    lines = waimai_text.encode("gbk", errors="ignore").decode("gbk").splitlines(keepends=True)[:200]
    body = "".join(lines[:100]) + "".join(f"1,{t}\n" for t in rare) + "".join(lines[100:])
    path = tmp_path / "reviews_gb18030.csv"
    path.write_bytes(body.encode("gb18030"))
    encoding, rows = _rows(path)
    assert encoding == "gb18030"
    assert [r[1] for r in rows[99:102]] == rare and [r[2] for r in rows[99:102]] == [101, 102, 103]
    assert len(rows) == 202 and rows[-1][1] == lines[-1].split(",", 1)[1].rstrip("\n")


def test_old_excel_files_are_named_as_such(tmp_path: Path) -> None:
    old = tmp_path / "评价.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))  # an OLE2 header, as Excel 97 wrote
    with pytest.raises(UserError, match=r"old Excel files \(.xls\) are not read"):
        read_frame(old)


def test_movielens_files_without_a_header_read_with_numbered_columns(tmp_path: Path, data_dir: Path) -> None:
    """MovieLens ships `u.data` (tabs) and `ratings.dat` (`::`) with no header: a first line of mostly
    numbers is a record, columns are column0… as DuckDB names them, and rows count from 1."""
    inter = pd.read_csv(data_dir / "ml100k" / "ml-100k.inter", sep="\t", dtype=str)
    tabs, colons = tmp_path / "u.data", tmp_path / "ratings.dat"
    tabs.write_text(inter.to_csv(sep="\t", header=False, index=False), encoding="utf-8")
    colons.write_text("\n".join("::".join(row) for row in inter.itertuples(index=False)) + "\n")
    for path in (tabs, colons):
        frame = read_frame(path)
        assert list(frame.columns) == ["column0", "column1", "column2", "column3"]
        assert frame.to_numpy().tolist() == inter.to_numpy().tolist()
    con = duckdb.connect()
    open_source(con, colons)
    assert con.execute("SELECT column0, column3, __row, __line FROM src WHERE __row = 1").fetchall() == [
        (inter.iloc[0, 0], inter.iloc[0, 3], 1, 1)
    ]
    # Taobao's UserBehavior.csv: user, item, category, behaviour, epoch seconds; one word per line
    behaviour = tmp_path / "UserBehavior.csv"
    behaviour.write_text("1,2268318,2520377,pv,1511544070\n2,2576651,149192,buy,1511572885\n")
    assert read_frame(behaviour)["column3"].tolist() == ["pv", "buy"]
    named = tmp_path / "named.csv"
    named.write_text("user,item,2024\n1,2,3\n")  # a header with one number in it is still a header
    assert list(read_frame(named).columns) == ["user", "item", "2024"]
    wide = tmp_path / "wide.csv"
    wide.write_text("渠道,2022,2023,2024\n抖音,120,180,260\n", encoding="utf-8")  # years: still a header
    assert list(read_frame(wide).columns) == ["渠道", "2022", "2023", "2024"]
    colons.write_text("196::242::3::881250949\n186::302\n22::377::1::878887116\n")
    with pytest.raises(ValidationFailed, match=r"row 2.*2 field\(s\), expected 4"):
        read_frame(colons)
