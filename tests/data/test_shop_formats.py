"""Numbers, dates and headers as shops' exports write them: European decimal commas and day-first dates
(read one way per column, not row by row), units in headers, files without an optional column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from marketpilot.analytics.recommend.interactions import parse_times
from marketpilot.campaigns.tracking import normalise_events, read_events
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.dates import parse_dates
from marketpilot.data.load import load_file
from marketpilot.data.mapping import parse_amounts
from marketpilot.errors import UserError, ValidationFailed


def test_amounts_with_decimal_commas_thousands_and_currency() -> None:
    written = [
        "12,50",
        "1.234,50",
        "1,234.50",
        "￥1,299.00",
        "1299元",
        "-3,5",
        "1,234",
        "9,99 €",
        "1\u00a0234,56",
        "HK$1,280",
        "人民币 99.00",
        "12块钱",
        "NT$ 350",
    ]
    assert parse_amounts(pd.Series(written)).tolist() == [
        12.5, 1234.5, 1234.5, 1299.0, 1299.0, -3.5, 1234.0, 9.99, 1234.56, 1280.0, 99.0, 12.0, 350.0
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("written", "read"),
    [
        (["05/03/2024", "13/03/2024"], ["2024-03-05", "2024-03-13"]),  # 13 can only be a day
        (["03/05/2024", "03/13/2024 14:00"], ["2024-03-05 00:00", "2024-03-13 14:00"]),
        (["05.03.2024", "06.03.24"], ["2024-03-05", "2024-03-06"]),  # dots are day first
        (["2024/3/5 10:00", "2024-03-06"], ["2024-03-05 10:00", "2024-03-06 00:00"]),
        (["2024年3月5日 14:03", "2024年3月6号"], ["2024-03-05 14:03", "2024-03-06 00:00"]),  # back offices
        (["2024年3月", "2024年12月"], ["2024-03-01", "2024-12-01"]),  # a month
        (["1709647380", "1709647380000"], ["2024-03-05 14:03", "2024-03-05 14:03"]),  # webhooks' Unix time
    ],
)
def test_dates_are_read_one_way_per_column(written: list[str], read: list[str]) -> None:
    parsed = parse_dates(pd.Series(written), column="date", source="f.csv")
    assert parsed.tolist() == pd.to_datetime(read).tolist()


def test_a_column_of_both_orders_is_refused_with_its_rows() -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_dates(pd.Series(["01/02/2024", "13/03/2024", "03/14/2024"]), column="日期", source="f.csv")
    assert "row 3, column '日期': '13/03/2024' is day first" in str(err.value)
    assert "row 4, column '日期': '03/14/2024' is month first" in str(err.value)


def test_a_european_orders_export_loads_its_amounts_and_headers(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(
        "订单编号;客户ID;下单时间;金额（元）;备注\nE1;C01;2024-03-05;12,50;x\nE2;C02;2024-03-13;1.234,50;\n",
        encoding="utf-8",
    )
    report = load_file(settings, path, table="orders")
    with Store.open(settings, read_only=True) as store:
        totals = dict(store.query("SELECT order_id, total_minor FROM orders").itertuples(index=False))
    assert totals == {"E1": 1250, "E2": 123450}
    assert any("金额（元）→total_minor" in w for w in report.warnings)
    assert any("columns not loaded: 备注" in w for w in report.warnings)


def test_reviews_without_a_customer_column_load(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("review_id,product_id,rating,text,评价时间,手机\nR1,SKU1,5,很好,2024-03-05,13812345678\n")
    report = load_file(settings, path, table="reviews")
    with Store.open(settings, read_only=True) as store:
        row = store.query("SELECT * FROM reviews").iloc[0]
    assert row["text"] == "很好" and str(row["created_at"]).startswith("2024-03-05")
    assert "13812345678" not in row.astype(str).tolist()
    assert any("personal columns (phone) dropped" in w for w in report.warnings)


def test_tracking_files_as_shops_export_them(tmp_path: Path) -> None:
    """GB18030 with a character outside GBK, semicolons, padded headers, day-first dates, a trailing
    row of empty cells, an amount with a currency sign."""
    path = tmp_path / "events.csv"
    path.write_bytes(
        (
            "event_id; kind ;occurred_at;customer_id;revenue;备注\n"
            "e1;conversion;05/03/2024 10:00;C1;￥12,50;𠮷野家\n"
            "e2;conversion;13/03/2024 11:00;C2;1.234,50;\n;;;;;\n"
        ).encode("gb18030")
    )
    events = normalise_events(read_events(path), source=str(path))
    assert events["occurred_at"].dt.strftime("%Y-%m-%d").tolist() == ["2024-03-05", "2024-03-13"]
    assert events["revenue_minor"].tolist() == [1250, 123450]
    utf16 = tmp_path / "events.txt"
    utf16.write_bytes("event_id\tkind\n".encode("utf-16"))
    with pytest.raises(UserError, match="UTF-16"):
        read_events(utf16)


def test_interaction_times_written_as_compact_dates() -> None:
    times = parse_times(pd.Series(["20240305", "20240313"]), column="date", source="f.csv")
    assert times.tolist() == pd.to_datetime(["2024-03-05", "2024-03-13"]).tolist()
    epochs = parse_times(pd.Series([1_709_600_000, 1_709_700_000]), column="ts", source="f.csv")
    assert epochs.dt.year.tolist() == [2024, 2024]


def test_a_report_style_workbook_loads_and_names_its_rows(settings: Settings, tmp_path: Path) -> None:
    """A title row above the header, a spacer row between blocks, a formatted empty row at the end;
    a problem is named by the row the spreadsheet shows."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    rows = [
        ["订单报表 2024-03"],
        ["订单编号", "客户ID", "下单时间", "实付金额"],
        ["X1", "C01", "2024-03-05 14:03:00", "1234.5"],
        [],
        ["X2", "C02", "2024-03-06", "12,50"],
        ["", " ", "", ""],
    ]
    for row in rows:
        sheet.append(row)
    path = tmp_path / "订单报表.xlsx"
    book.save(path)
    load_file(settings, path, table="orders")
    with Store.open(settings, read_only=True) as store:
        totals = dict(store.query("SELECT order_id, total_minor FROM orders").itertuples(index=False))
    assert totals == {"X1": 123450, "X2": 1250}
    sheet.append(["X3", "C03", "下周一", "1"])
    book.save(path)
    with pytest.raises(ValidationFailed, match=r"row 7, column '下单时间', value '下周一'"):
        load_file(settings, path, table="orders")


def test_a_workbooks_total_rows_are_left_out_and_named(settings: Settings, tmp_path: Path) -> None:
    """Report exports end with 合计 rows (a sum under the amounts, no order): they are no record, so
    they are left out with a note naming their rows; a product called "Total" mid-sheet is data."""
    from openpyxl import Workbook

    from marketpilot.data.readers import read_frame

    book = Workbook()
    sheet = book.active
    for row in [
        ["订单编号", "客户ID", "下单时间", "实付金额", "备注"],
        ["X1", "C01", "2024-03-05", "100", "Total 洗发水"],
        ["X2", "C02", "2024-03-06", "50", "sum"],
        ["合 计：", None, None, "150", None],
        [None, None, None, "75", "总计"],
    ]:
        sheet.append(row)
    path = tmp_path / "订单.xlsx"
    book.save(path)
    report = load_file(settings, path, table="orders")
    assert report.rows_loaded == 2 and report.rows_rejected == 0
    assert report.warnings[:2] == [
        "row 4: a total row (合 计：), left out",
        "row 5: a total row (总计), left out",
    ]
    with Store.open(settings, read_only=True) as store:
        assert store.query("SELECT sum(total_minor) AS s FROM orders")["s"].iloc[0] == 15000
    assert read_frame(path)["订单编号"].tolist() == ["X1", "X2"]


def test_zoned_parquet_times_keep_the_shops_clock(settings: Settings, tmp_path: Path) -> None:
    shanghai = pd.to_datetime(["2024-03-05 00:00", "2024-03-06 23:30"]).tz_localize("Asia/Shanghai")
    orders = pd.DataFrame(
        {
            "order_id": ["P1", "P2"],
            "customer_id": ["C1", "C2"],
            "ordered_at": shanghai,
            "total": [12.5, 8.0],
        }
    )
    orders.to_parquet(tmp_path / "orders.parquet")
    load_file(settings, tmp_path / "orders.parquet", table="orders")
    with Store.open(settings, read_only=True) as store:
        times = store.query("SELECT ordered_at FROM orders ORDER BY order_id")["ordered_at"]
    assert times.dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2024-03-05 00:00", "2024-03-06 23:30"]


def test_ids_written_as_decimals_are_the_shops_whole_number_ids(settings: Settings, tmp_path: Path) -> None:
    """pandas writes a number column with a gap as floats: the CRM's customer 17850 is 17850.0 in the
    orders CSV and a double in the Parquet lines. They are one customer, not account names to
    pseudonymise; the lines' product codes (85123A) are left as written."""
    pd.DataFrame({"客户ID": ["17850", "13047"], "城市": ["上海", "杭州"]}).to_csv(
        tmp_path / "customers.csv", index=False
    )
    orders = pd.DataFrame(
        {
            "订单编号": [536365.0, 536366.0, 536367.0],
            "买家ID": [17850.0, 13047.0, 17850.0],
            "下单时间": ["2024-03-05 10:00:00"] * 3,
            "实付金额": ["12.50", "8.00", "1.00"],
        }
    )
    orders.to_csv(tmp_path / "orders.csv", index=False)
    lines = pd.DataFrame(
        {"order_id": [536365.0, 536366.0], "line_no": [1, 1], "product_id": ["85123A", "71053"]}
        | {"quantity": [1, 2], "unit_price": [12.5, 4.0]}
    )
    lines.to_parquet(tmp_path / "lines.parquet")
    load_file(settings, tmp_path / "customers.csv", table="customers")
    report = load_file(settings, tmp_path / "orders.csv", table="orders")
    load_file(settings, tmp_path / "lines.parquet", table="order_items")
    assert "column '买家ID': ids written as decimals ('17850.0') read as whole numbers ('17850')" in (
        report.warnings
    )
    assert not any("not loaded" in w or "personal" in w for w in report.warnings), report.warnings
    with Store.open(settings, read_only=True) as store:
        orders_read = store.query("SELECT order_id, customer_id FROM orders ORDER BY order_id")
        items = store.query("SELECT order_id, product_id FROM order_items ORDER BY order_id")
    assert orders_read.values.tolist() == [["536365", "17850"], ["536366", "13047"], ["536367", "17850"]]
    assert items.values.tolist() == [["536365", "85123A"], ["536366", "71053"]]


def test_whole_numbers_may_carry_thousands_separators() -> None:
    import duckdb

    from marketpilot.data.mapping import integer_sql

    con = duckdb.connect()
    con.register("t", pd.DataFrame({"stock": ["6", "6.0", "1,200", " 7 ", "6.5", "1,5", "x"]}))
    read = [r[0] for r in con.execute(f"SELECT {integer_sql('stock', 'VARCHAR')} FROM t").fetchall()]
    assert read == [6, 6, 1200, 7, None, None, None]


def test_events_without_ids_get_stable_ones(settings: Settings, tmp_path: Path) -> None:
    """docs/data-model.md: the id is derived from the row when the source has none. Loading the same
    rows again adds nothing; two identical clicks stay two events; a phone number as the customer id
    does not show through the id (a keyed hash, not a plain one)."""
    path = tmp_path / "行为.csv"
    path.write_text(
        "customer_id,product_id,event_type,occurred_at\n"
        "13812345678,P1,view,2024-03-05 10:00\n13812345678,P1,view,2024-03-05 10:00\n"
        "C2,P2,cart,2024-03-05 11:00\n"
    )
    first = load_file(settings, path, table="events")
    load_file(settings, path, table="events")
    with Store.open(settings, read_only=True) as store:
        events = store.query("SELECT * FROM events ORDER BY occurred_at")
    assert len(events) == 3 and events["event_id"].nunique() == 3
    assert "13812345678" not in events.to_string()
    assert any("no event_id column" in w for w in first.warnings)
    assert not any("__event_id" in w for w in first.warnings)


def test_order_times_load_as_shops_write_them(settings: Settings, tmp_path: Path) -> None:
    """`load` read ISO times only: 2024年3月5日 (every Chinese back office), 05/03/2024, 20240305 and
    Unix seconds were refused as "expected a date/time". Numeric day/month dates are read one way per
    column, as `data/dates.py` reads them elsewhere."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,ordered_at,total\n"
        "X1,C1,2024年3月5日 14:03,10\nX2,C2,05/03/2024,10\nX3,C3,13/03/2024 09:05,10\n"
        "X4,C4,20240305,10\nX5,C5,2024.03.05,10\nX6,C6,1709647380,10\nX7,C7,1709647380000,10\n",
        encoding="utf-8",
    )
    load_file(settings, path, table="orders")
    with Store.open(settings, read_only=True) as store:
        times = dict(store.query("SELECT order_id, ordered_at FROM orders").itertuples(index=False))
    assert {k: str(v) for k, v in times.items()} == {
        "X1": "2024-03-05 14:03:00",
        "X2": "2024-03-05 00:00:00",  # day first: row X3 says so
        "X3": "2024-03-13 09:05:00",
        "X4": "2024-03-05 00:00:00",
        "X5": "2024-03-05 00:00:00",
        "X6": "2024-03-05 14:03:00",  # Unix time, read as UTC
        "X7": "2024-03-05 14:03:00",
    }
    path.write_text("order_id,customer_id,ordered_at\nY1,C1,05/03/2024\nY2,C2,03/13/2024\nY3,C3,13/03/2024\n")
    with pytest.raises(ValidationFailed) as refused:
        load_file(settings, path, table="orders")
    assert refused.value.problems == [
        "row 4, column 'ordered_at': '13/03/2024' is day first",
        "row 3, column 'ordered_at': '03/13/2024' is month first",
    ]
    # A column that fits either order is month first, unless the mapping says otherwise.
    path.write_text("order_id,customer_id,ordered_at\nZ1,C1,05/03/2024\n")
    mapping = tmp_path / "orders.yaml"
    mapping.write_text(
        "table: orders\ncolumns:\n  order_id: order_id\n  customer_id: customer_id\n"
        "  ordered_at: {from: ordered_at, day_first: true}\n",
        encoding="utf-8",
    )
    load_file(settings, path, table="orders", mapping=mapping)
    with Store.open(settings, read_only=True) as store:
        assert (
            str(store.query("SELECT ordered_at FROM orders WHERE order_id = 'Z1'").iloc[0, 0])
            == "2024-03-05 00:00:00"
        )


def test_taobao_user_behaviour_loads_as_events_with_a_mapping(settings: Settings, tmp_path: Path) -> None:
    """UserBehavior.csv: no header, no event id, Unix seconds; the mapping names column0… and the
    events get derived ids (they crashed with a mapping, or with no column recognised)."""
    path = tmp_path / "UserBehavior.csv"
    path.write_text("1,2268318,2520377,pv,1511544070\n1,2333346,2520771,buy,1511561733\n", encoding="utf-8")
    with pytest.raises(ValidationFailed, match="no column for required 'customer_id'"):
        load_file(settings, path, table="events")
    mapping = tmp_path / "behaviour.yaml"
    mapping.write_text(
        "table: events\ncolumns:\n  customer_id: column0\n  product_id: column1\n"
        "  event_type: {from: column3, values: {pv: view, buy: purchase}}\n  occurred_at: column4\n",
        encoding="utf-8",
    )
    report = load_file(settings, path, table="events", mapping=mapping)
    assert report.rows_loaded == 2 and any("no event_id column" in w for w in report.warnings)
    with Store.open(settings, read_only=True) as store:
        events = store.query("SELECT event_type, occurred_at FROM events ORDER BY occurred_at")
    assert events["event_type"].tolist() == ["view", "purchase"]
    assert str(events["occurred_at"].iloc[0]) == "2017-11-24 17:21:10"
