"""Bad inputs: each gives the promised error (file, row, column, value, expectation) and writes nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from marketpilot.config import Settings, get_settings
from marketpilot.data.load import load_file
from marketpilot.errors import UserError, ValidationFailed


@pytest.fixture
def loaded(settings: Settings, retail_slice: Path, store_snapshot) -> dict:
    """A store that already holds data, so 'nothing written' is checked against a non-empty store."""
    load_file(settings, retail_slice, preset="online-retail")
    return store_snapshot(settings)


def _lines(retail_slice: Path, n: int = 40) -> list[str]:
    return retail_slice.read_text(encoding="utf-8").splitlines(keepends=True)[:n]


def _expect_failure(settings: Settings, path: Path, store_snapshot, before: dict, **kwargs) -> str:
    with pytest.raises(UserError) as err:
        load_file(settings, path, **kwargs)
    assert store_snapshot(settings) == before
    return str(err.value)


def test_wrong_type_names_file_row_column_value(
    settings, retail_slice, tmp_path, store_snapshot, loaded
) -> None:
    lines = _lines(retail_slice)
    lines[5] = lines[5].replace(",6,", ",six,", 1)  # Quantity of data row 5 → file row 6
    lines[9] = lines[9].replace("2010-12-01", "2010-13-45", 1)
    bad = tmp_path / "bad_types.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    message = _expect_failure(settings, bad, store_snapshot, loaded, preset="online-retail")
    assert str(bad) in message
    assert "row 6, column 'Quantity', value 'six': expected a whole number" in message
    assert "row 10, column 'InvoiceDate', value '2010-13-45 08:28:00'" in message


def test_missing_column(settings, retail_slice, tmp_path, store_snapshot, loaded) -> None:
    lines = [",".join(line.split(",")[:5]) + "\n" for line in _lines(retail_slice)]  # drops UnitPrice onwards
    bad = tmp_path / "missing.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    message = _expect_failure(settings, bad, store_snapshot, loaded, preset="online-retail")
    assert "column 'UnitPrice' is missing" in message and "column 'CustomerID' is missing" in message


def test_unrecognised_header_names_the_column_and_lists_the_files_own(
    settings, tmp_path, store_snapshot, loaded
) -> None:
    """A GBK reviews export whose id header is no alias: the message says which column is missing and
    what the file has, so the user sees the header to rename or map."""
    bad = tmp_path / "评价.csv"
    bad.write_text("评价编号,product_id,customer_id,评分,评价内容\nR1,P1,C1,5,很好\n", encoding="gbk")
    message = _expect_failure(settings, bad, store_snapshot, loaded, table="reviews")
    assert str(bad) in message
    assert "no column for required 'review_id' in table reviews" in message
    assert "(the file's columns: 评价编号, product_id, customer_id, 评分, 评价内容)" in message


def test_truncated_line(settings, retail_slice, tmp_path, store_snapshot, loaded) -> None:
    lines = _lines(retail_slice)
    lines[12] = ",".join(lines[12].split(",")[:4]) + "\n"
    bad = tmp_path / "truncated.csv"
    bad.write_text("".join(lines), encoding="utf-8")
    message = _expect_failure(settings, bad, store_snapshot, loaded, preset="online-retail")
    assert "row 13: 4 field(s), expected 8" in message


def test_empty_file_and_header_only(settings, tmp_path, store_snapshot, loaded) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "empty" in _expect_failure(settings, empty, store_snapshot, loaded, preset="online-retail")
    header = tmp_path / "header.csv"
    header.write_text("order_id,customer_id,ordered_at\n", encoding="utf-8")
    assert "no data rows" in _expect_failure(settings, header, store_snapshot, loaded, table="orders")


def test_duplicate_keys(settings, tmp_path, store_snapshot, loaded) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,ordered_at,total\n"
        "A1,c1,2024-11-11 10:00:00,10.00\n"
        "A2,c2,2024-11-11 10:05:00,20.00\n"
        "A1,c3,2024-11-12 09:00:00,30.00\n",
        encoding="utf-8",
    )
    message = _expect_failure(settings, path, store_snapshot, loaded, table="orders")
    assert (
        "row 2, column 'order_id', value 'A1': expected each order_id once, but rows 2, 4 share it" in message
    )


def test_a_column_named_twice_is_refused_in_every_format(settings, tmp_path, store_snapshot, loaded) -> None:
    """Two 实付金额 columns: CSV, Excel (which pandas would read as 实付金额 and 实付金额.1, below a title
    row here) and Parquet (which DuckDB would read as total and total_1) are refused alike, naming the
    header's row, instead of loading whichever came first."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from openpyxl import Workbook

    header = ["订单编号", "买家ID", "下单时间", "实付金额", "实付金额"]
    row = ["A1", "C1", "2024-11-11 10:00:00", "10.00", "12.00"]
    csv = tmp_path / "订单.csv"
    csv.write_text(",".join(header) + "\n" + ",".join(row) + "\n", encoding="gbk")
    book = Workbook()
    for line in (["订单报表 2024-11"], header, row):
        book.active.append(line)
    xlsx = tmp_path / "订单.xlsx"
    book.save(xlsx)
    parquet = tmp_path / "orders.parquet"
    names = ["order_id", "customer_id", "ordered_at", "total", "total"]
    pq.write_table(pa.table([pa.array([v]) for v in row], names=names), parquet)
    for path, name, header_row in ((csv, "实付金额", 1), (xlsx, "实付金额", 2), (parquet, "total", 1)):
        message = _expect_failure(settings, path, store_snapshot, loaded, table="orders")
        assert f"row {header_row}: column '{name}' appears 2 times in the header" in message, path


def test_mixed_encodings_write_nothing(settings, tmp_path, store_snapshot, loaded) -> None:
    path = tmp_path / "orders_mixed.csv"
    path.write_bytes(
        b"order_id,customer_id,ordered_at,channel\n"
        + "A1,c1,2024-11-11 10:00:00,天猫旗舰店\n".encode()
        + "A2,c2,2024-11-11 10:05:00,京东自营\n".encode("gbk")
    )
    with pytest.raises(ValidationFailed, match=r"line 3: .* not UTF-8, but line 2 is UTF-8"):
        load_file(settings, path, "orders")
    assert store_snapshot(settings) == loaded


def test_every_problem_is_reported_not_just_the_first(settings, tmp_path) -> None:
    path = tmp_path / "orders.csv"
    rows = "".join(f"O{i},c{i},not a date,{i}.00\n" for i in range(12))
    path.write_text(
        "order_id,customer_id,ordered_at,total\n" + rows + "O99,,2024-01-01,x\n", encoding="utf-8"
    )
    with pytest.raises(ValidationFailed) as err:
        load_file(settings, path, "orders")
    problems = err.value.problems
    assert any("7 more rows" in p for p in problems)  # 12 bad dates: 5 shown, 7 counted
    assert any("row 14, column 'total', value 'x'" in p for p in problems)
    assert any("row 14, column 'customer_id'" in p and "required" in p for p in problems)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _bad_file(case: str, retail_slice: Path, tmp_path: Path) -> tuple[Path, dict]:
    """A file each loader rejects, and how it is loaded."""
    lines = _lines(retail_slice)
    preset = {"preset": "online-retail"}
    path = tmp_path / f"{case}.csv"
    if case == "wrong type":
        lines[5] = lines[5].replace(",6,", ",six,", 1)
    elif case == "truncated":
        lines[3] = ",".join(lines[3].split(",")[:3]) + "\n"
    elif case == "mixed encodings":
        line = "536999,22000,测试杯子,1,2010-12-09 10:00:00,1.00,,中国\n"
        path.write_bytes("".join([*lines, line]).encode() + line.encode("gbk"))
        return path, preset
    elif case == "duplicate keys":
        path.write_text("order_id,customer_id,ordered_at\nA1,c1,2024-11-11\nA1,c2,2024-11-12\n", "utf-8")
        return path, {"table": "orders"}
    path.write_text("".join(lines), encoding="utf-8")
    return path, preset


@pytest.mark.parametrize("case", ["wrong type", "truncated", "mixed encodings", "duplicate keys"])
def test_rejected_first_load_leaves_the_home_as_it_was(tmp_path: Path, retail_slice: Path, case: str) -> None:
    bad, how = _bad_file(case, retail_slice, tmp_path)
    fresh = tmp_path / "fresh"
    with pytest.raises(UserError):
        load_file(get_settings(fresh), bad, **how)
    assert not fresh.exists()  # not even the database files of an empty store
    kept = tmp_path / "kept"
    (kept / "notes").mkdir(parents=True)
    (kept / "notes" / "todo.txt").write_text("x", encoding="utf-8")
    with pytest.raises(UserError):
        load_file(get_settings(kept), bad, **how)
    assert _tree(kept) == ["notes", "notes/todo.txt"]


def test_a_long_list_of_problems_says_how_many_there_are() -> None:
    from marketpilot.data.readers import require_filled

    frame = pd.DataFrame({"quantity": [""] * 1500})
    with pytest.raises(ValidationFailed) as err:
        require_filled(frame, "quantity", Path("lines.csv"), hint="fill it")
    text = str(err.value)
    assert "lines.csv: 1500 problem(s)" in text and "… and 1480 more" in text
    assert text.count("column 'quantity': empty") == 20
