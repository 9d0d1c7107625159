"""CSV files stream into the staging table block by block; quoted values may span lines (Shopify notes
and addresses) and messages then give the row as a spreadsheet shows it and the line in the file."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.load import load_file
from marketpilot.data.readers import open_csv
from marketpilot.errors import ValidationFailed

ONLINE_RETAIL = Path(__file__).resolve().parents[2] / "data" / "samples" / "online_retail.csv.gz"
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
HEADER = [
    "Name", "Email", "Financial Status", "Created at", "Currency", "Total", "Discount Amount",
    "Lineitem quantity", "Lineitem price", "Lineitem sku", "Billing Name", "Phone", "Shipping Street",
    "Shipping Country", "Notes",
]  # fmt: skip


def _shopify_rows() -> list[list[str]]:
    """A Shopify orders export: 4 orders, 7 line items; notes and streets with line breaks (LF and CRLF)."""
    orders = [
        ("#1001", "ann@example.com", [("SKU-1", "2", "10.00"), ("SKU-2", "1", "5.50")],
         "Leave at the door\nRing twice"),
        ("#1002", "bob@example.com", [("SKU-3", "1", "99.00")], ""),
        ("#1003", "cy@example.com", [("SKU-1", "3", "10.00"), ("SKU-4", "1", "1.25"), ("SKU-2", "2", "5.50")],
         "Gift wrap\r\nNo invoice in the box\r\nThanks!"),
        ("#1004", "dee@example.com", [("SKU-5", "1", "20.00")], "Call first"),
    ]  # fmt: skip
    rows = []
    for name, email, lines, note in orders:
        total = f"{sum(int(q) * float(p) for _, q, p in lines):.2f}"
        for i, (sku, qty, price) in enumerate(lines):
            first = i == 0
            rows.append(
                [name, email if first else "", "paid" if first else "", "2024-11-11 20:00:00 +0800", "USD",
                 total if first else "", "0.00", qty, price, sku, f"Buyer {name}" if first else "", "",
                 f"Flat {len(rows)}\n{10 + len(rows)} High St" if first else "", "US", note if first else ""]
            )  # fmt: skip
    return rows


def _write(path: Path, rows: list[list[str]], *, blank_after: int | None = None) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for i, row in enumerate(rows):
            writer.writerow(row)
            if i == blank_after:
                fh.write("\n")
    return path


def online_retail_slice(tmp: Path, lines: int) -> Path:
    out = tmp / f"online_retail_{lines}.csv"
    with gzip.open(ONLINE_RETAIL, "rt", encoding="utf-8") as src:
        out.write_text("".join(next(src) for _ in range(lines + 1)), encoding="utf-8")
    return out


def _record_starts(path: Path) -> list[tuple[int, int]]:
    """(row as a spreadsheet numbers it, line where it starts) per record, by Python's csv module."""
    starts, row, line = [], 1, 1
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        for _ in reader:
            starts.append((row, line))
            row, line = row + 1, reader.line_num + 1
    return starts


def test_shopify_export_with_multiline_notes_and_addresses(settings: Settings, tmp_path: Path) -> None:
    path = _write(tmp_path / "orders_export.csv", _shopify_rows())
    report = load_file(settings, path, mapping=EXAMPLES / "shopify_orders.yaml")
    assert report.rows_loaded == 7
    with Store.open(settings) as store:
        orders = store.read("orders").set_index("order_id")
        items = store.read("order_items")
        pii = store.read("customer_pii")
    assert sorted(orders.index) == ["#1001", "#1002", "#1003", "#1004"] and len(items) == 7
    assert orders.total_minor.to_dict() == {"#1001": 2550, "#1002": 9900, "#1003": 4225, "#1004": 2000}
    assert items.groupby("order_id").line_no.max().to_dict() == {
        "#1001": 2,
        "#1002": 1,
        "#1003": 3,
        "#1004": 1,
    }
    assert sorted(pii.address) == ["Flat 0\n10 High St", "Flat 2\n12 High St", "Flat 3\n13 High St",
                                   "Flat 6\n16 High St"]  # fmt: skip


def test_errors_after_multiline_values_name_row_and_file_line(settings: Settings, tmp_path: Path) -> None:
    rows = _shopify_rows()
    rows[5][7] = "two"  # the quantity of the 6th line item: spreadsheet row 7
    rows[6] = rows[6][:3]  # a truncated last line item: row 9 after the blank line
    path = _write(tmp_path / "orders_export.csv", rows, blank_after=5)
    starts = dict(_record_starts(path))  # the blank line is row 8, as in a spreadsheet
    assert (starts[7], starts[9]) == (13, 15)  # 6 line breaks inside earlier values, then a blank line
    with pytest.raises(ValidationFailed) as err:
        load_file(settings, path, mapping=EXAMPLES / "shopify_orders.yaml")
    message = str(err.value)
    assert "row 9 (line 15 of the file): 3 field(s), expected 15" in message
    assert not settings.home.exists()  # a rejected first load leaves nothing behind
    rows[6] = _shopify_rows()[6]
    _write(path, rows, blank_after=5)
    with pytest.raises(ValidationFailed) as err:
        load_file(settings, path, mapping=EXAMPLES / "shopify_orders.yaml")
    assert (
        "row 7 (line 13 of the file), column 'Lineitem quantity', value 'two': expected a whole number"
        in str(err.value)
    )


def test_rows_and_lines_agree_with_pythons_csv_module(tmp_path: Path) -> None:
    path = _write(tmp_path / "orders_export.csv", _shopify_rows())
    stream = open_csv(path)
    numbered = pd.concat([b.to_pandas() for b in stream.batches()])
    assert list(zip(numbered["__row"], numbered["__line"], strict=True)) == _record_starts(path)[1:]
    assert numbered.Notes.iloc[3] == "Gift wrap\r\nNo invoice in the box\r\nThanks!"


def test_large_file_streams_in_blocks_and_a_bad_last_row_writes_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    path = online_retail_slice(tmp_path, 120_000)  # ~10 MB: three 4 MB blocks
    stream = open_csv(path)
    sizes, last = [], 1
    for batch in stream.batches():
        rows = batch.column("__row").to_pylist()
        assert rows[0] == last + 1 and rows == list(range(rows[0], rows[0] + len(rows)))
        sizes.append(len(rows))
        last = rows[-1]
    assert len(sizes) >= 3 and sum(sizes) == 120_000 and last == 120_001
    with path.open("a", encoding="utf-8") as fh:
        fh.write("581587,22138,BAKING SET 9 PIECE RETROSPOT,six,2011-12-09 12:50:00,4.95,12680,France\n")
    with pytest.raises(ValidationFailed) as err:
        load_file(settings, path, preset="online-retail")
    assert "row 120002, column 'Quantity', value 'six': expected a whole number" in str(err.value)
    assert not settings.home.exists()


PEAK = """
import json, sys, duckdb, pyarrow as pa
from pathlib import Path
from marketpilot.data.readers import open_source
con = duckdb.connect()
source = open_source(con, Path(sys.argv[1]))
print(json.dumps([source.count(con), pa.default_memory_pool().max_memory()]))
"""


@pytest.mark.slow
def test_arrow_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """Peak Arrow memory reading the whole Online Retail export (541,909 lines) equals that of reading
    a 200,000-line slice: a few blocks are in flight, never the file."""

    def peak(path: Path) -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", PEAK, str(path)], capture_output=True, check=True)
        rows, peak_bytes = json.loads(out.stdout)
        return rows, peak_bytes

    small_rows, small_peak = peak(online_retail_slice(tmp_path, 200_000))
    full_rows, full_peak = peak(ONLINE_RETAIL)
    with gzip.open(ONLINE_RETAIL, "rb") as fh:
        full_bytes = sum(len(chunk) for chunk in iter(lambda: fh.read(1 << 20), b""))
    assert (small_rows, full_rows) == (200_000, 541_909)
    assert full_peak < 1.25 * small_peak + (1 << 20)
    assert full_peak < full_bytes / 1.5  # the whole file as Arrow strings would be larger than the file


def test_a_load_says_what_it_is_doing_as_it_reads_checks_and_writes(
    settings: Settings, tmp_path: Path
) -> None:
    """A million-row export takes a while: the load reports the rows read after each block, then the
    check and the write, which `marketpilot load` shows in a spinner."""
    path = tmp_path / "订单.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("订单编号,买家ID,下单时间,实付金额\n")
        fh.writelines(
            f"T{i:07d},C{i % 9000:05d},2024-03-{1 + i % 28:02d} 10:00:00,{i % 977}.50\n"
            for i in range(150_000)
        )
    said: list[str] = []
    report = load_file(settings, path, table="orders", progress=said.append)
    reading = [s for s in said if s.startswith("Reading")]
    assert len(reading) >= 2 and reading[-1] == "Reading 订单.csv: 150,000 rows"
    assert said[len(reading) :] == ["Checking 订单.csv…", "Writing 150,000 rows to the store…"]
    assert report.tables == {"orders": 150_000}
