"""Relations and consistency across loads: tables loaded in any order, re-loads, shop statuses,
refunds, implausible dates and interrupted loads. Each case is reported (error naming rows, or a
warning with counts) and nothing is silently dropped, duplicated or counted as a sale by mistake."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from marketpilot.analytics.purchases import ORDERS_VIEW, register_purchases
from marketpilot.cli import app, run_app
from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.load import LoadReport, load_file
from marketpilot.errors import ValidationFailed

Snapshot = Callable[[Settings], dict[str, list[tuple]]]

CUSTOMERS = "customer_id,city\nC1,杭州\nC2,上海\n"
# 淘宝/京东 order report as exported: Chinese statuses, one order of an unknown customer (C9).
ORDERS = (
    "订单编号,客户ID,下单时间,订单状态,实付金额\n"
    "T1001,C1,2024-11-11 20:00:00,交易成功,99.00\n"
    "T1002,C2,2024-11-11 20:05:00,交易关闭,50.00\n"
    "T1003,C1,2024-11-12 09:00:00,已取消,30.00\n"
    "T1004,C2,2024-11-12 10:00:00,退款中,45.00\n"
    "T1005,C9,2024-11-12 11:00:00,已完成,20.00\n"
)
ITEMS = (
    "order_id,line_no,product_id,quantity,unit_price\n"
    "T1001,1,P1,1,59.00\n"
    "T1001,2,P2,1,40.00\n"
    "T1005,1,P1,1,20.00\n"
)


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _warning(report: LoadReport, *parts: str) -> str:
    """The one warning that contains every part."""
    found = [w for w in report.warnings if all(p in w for p in parts)]
    assert len(found) == 1, (parts, report.warnings)
    return found[0]


def _rows(settings: Settings, sql: str) -> list[tuple]:
    with Store.open(settings, read_only=True) as store:
        return [tuple(r) for r in store.query(sql).itertuples(index=False)]


def test_shop_statuses_are_mapped_and_open_ones_named_with_counts(settings: Settings, tmp_path: Path) -> None:
    en = "order_id,customer_id,ordered_at,status\nE1,C1,2024-01-02,Completed\nE2,C1,2024-01-03,CANCELED\n"
    en += "E3,C1,2024-01-04,refunded\nE4,C1,2024-01-05,pending\nE5,C1,2024-01-06,pending\n"
    load_file(settings, _file(tmp_path, "en.csv", en), "orders")
    report = load_file(settings, _file(tmp_path, "订单.csv", ORDERS), "orders")

    statuses = dict(_rows(settings, "SELECT order_id, status FROM orders"))
    assert statuses == {
        "E1": "completed", "E2": "cancelled", "E3": "returned", "E4": "pending", "E5": "pending",
        "T1001": "completed", "T1002": "cancelled", "T1003": "cancelled", "T1004": "退款中",
        "T1005": "completed",
    }  # fmt: skip
    assert "'退款中' (1 order)" in _warning(report, "status value(s) not recognised")
    # Downstream: 交易关闭 / 已取消 are no longer counted as purchases by rfm, clv and segments.
    with Store.open(settings, read_only=True) as store:
        register_purchases(store.con)
        bought = {r[0] for r in store.con.execute(f"SELECT order_id FROM {ORDERS_VIEW}").fetchall()}
    assert {"T1002", "T1003"}.isdisjoint(bought) and {"T1001", "T1005"} <= bought


def test_a_mapping_decides_open_statuses_and_then_nothing_is_named(
    settings: Settings, tmp_path: Path
) -> None:
    mapping = tmp_path / "orders.yaml"
    mapping.write_text(
        "table: orders\ncolumns:\n  order_id: 订单编号\n  customer_id: 客户ID\n  ordered_at: 下单时间\n"
        "  total_minor: 实付金额\n  status: {from: 订单状态, values: {退款中: returned}}\n",
        encoding="utf-8",
    )
    report = load_file(settings, _file(tmp_path, "订单.csv", ORDERS), "orders", mapping=mapping)
    assert dict(_rows(settings, "SELECT order_id, status FROM orders"))["T1004"] == "returned"
    assert not [w for w in report.warnings if "status" in w]


def test_orders_before_customers_are_named_then_linked_in_either_order(
    settings: Settings, tmp_path: Path
) -> None:
    orders = _file(tmp_path, "订单.csv", ORDERS)
    first = load_file(settings, orders, "orders")
    assert "5 orders refer to 3 customer_id(s) not loaded (customers is empty)" in _warning(
        first, "customer_id(s)"
    )
    load_file(settings, _file(tmp_path, "customers.csv", CUSTOMERS), "customers")
    again = load_file(settings, orders, "orders")
    assert "1 orders refer to 1 customer_id(s) not in customers (e.g. 'C9')" in _warning(again, "C9")
    assert "5 order_id(s) already in the store with the same values" in _warning(again, "re-load")
    assert _rows(settings, "SELECT count(*) FROM orders") == [(5,)]


def test_lines_of_missing_orders_and_unknown_products_are_counted(settings: Settings, tmp_path: Path) -> None:
    load_file(settings, _file(tmp_path, "订单.csv", ORDERS), "orders")
    items = ITEMS + "T9999,1,P3,2,10.00\n"
    report = load_file(settings, _file(tmp_path, "items.csv", items), "order_items")
    assert "1 lines refer to 1 order_id(s) not in orders (e.g. 'T9999')" in _warning(report, "T9999")
    assert "ignore lines without their order" in _warning(report, "T9999")
    assert "4 lines refer to 3 product_id(s) not loaded (products is empty)" in _warning(
        report, "product_id(s)"
    )
    # Nothing is dropped at the door: every line is stored.
    assert _rows(settings, "SELECT count(*) FROM order_items") == [(4,)]


def test_events_and_reviews_of_unknown_customers_and_products(settings: Settings, tmp_path: Path) -> None:
    load_file(settings, _file(tmp_path, "customers.csv", CUSTOMERS), "customers")
    load_file(settings, _file(tmp_path, "products.csv", "product_id,name\nP1,保温杯\n"), "products")
    events = "customer_id,product_id,event_type,occurred_at\nC1,P1,view,2024-11-11 10:00:00\n"
    events += "C7,P1,cart,2024-11-11 10:01:00\nC7,P8,view,2024-11-11 10:02:00\n"
    report = load_file(settings, _file(tmp_path, "events.csv", events), "events")
    assert "2 events refer to 1 customer_id(s) not in customers (e.g. 'C7')" in _warning(report, "C7")
    assert "1 events refer to 1 product_id(s) not in products (e.g. 'P8')" in _warning(report, "P8")
    reviews = "review_id,product_id,rating,评价内容\nR1,P1,5,很好用\nR2,P404,1,漏水\n"
    report = load_file(settings, _file(tmp_path, "reviews.csv", reviews), "reviews")
    assert "1 reviews refer to 1 product_id(s) not in products (e.g. 'P404')" in _warning(report, "P404")


def test_reloading_changed_rows_replaces_them_and_says_how_many_changed(
    settings: Settings, tmp_path: Path
) -> None:
    load_file(settings, _file(tmp_path, "订单.csv", ORDERS), "orders")
    # A later export of the same orders: T1004's refund went through, T1001 was partly refunded.
    changed = ORDERS.replace("退款中,45.00", "退款成功,45.00").replace("交易成功,99.00", "交易成功,89.00")
    report = load_file(settings, _file(tmp_path, "订单2.csv", changed), "orders")
    warning = _warning(report, "already in the store")
    assert "5 order_id(s) already in the store, 2 with different values (e.g. 'T1001', 'T1004')" in warning
    assert _rows(settings, "SELECT count(*), sum(total_minor) FROM orders") == [
        (5, 8900 + 5000 + 3000 + 4500 + 2000)
    ]
    assert dict(_rows(settings, "SELECT order_id, status FROM orders"))["T1004"] == "returned"


def test_a_reexported_order_with_fewer_lines_loses_its_old_extra_line(
    settings: Settings, tmp_path: Path
) -> None:
    load_file(settings, _file(tmp_path, "items.csv", ITEMS), "order_items")
    fewer = "".join(line for line in ITEMS.splitlines(keepends=True) if not line.startswith("T1001,2"))
    report = load_file(settings, _file(tmp_path, "items2.csv", fewer), "order_items")
    assert "1 stored line(s) of 1 re-loaded order(s) are not in this file (e.g. 'T1001 line 2')" in _warning(
        report, "stored line(s)"
    )
    assert _rows(settings, "SELECT order_id, line_no FROM order_items ORDER BY ALL") == [
        ("T1001", 1),
        ("T1005", 1),
    ]


def test_the_same_order_twice_in_one_file_names_both_rows(
    settings: Settings, tmp_path: Path, store_snapshot: Snapshot
) -> None:
    twice = ORDERS + "T1003,C2,2024-11-13 09:00:00,交易成功,31.00\n"
    before = store_snapshot(settings)
    with pytest.raises(ValidationFailed) as err:
        load_file(settings, _file(tmp_path, "订单.csv", twice), "orders")
    assert "value 'T1003': expected each order_id once, but rows 4, 7 share it" in str(err.value)
    assert store_snapshot(settings) == before


@pytest.mark.parametrize("when", ["1970-01-01 08:00:00", "1899-12-30", "2099-11-11 20:00:00"])
def test_order_dates_before_1990_or_in_the_future_are_refused_naming_the_row(
    settings: Settings, tmp_path: Path, store_snapshot: Snapshot, when: str
) -> None:
    bad = ORDERS.replace("2024-11-12 09:00:00", when)
    before = store_snapshot(settings)
    with pytest.raises(ValidationFailed) as err:
        load_file(settings, _file(tmp_path, "订单.csv", bad), "orders")
    assert "row 4, column '下单时间'" in str(err.value)
    assert "expected a time between 1990-01-01 and" in str(err.value)
    assert store_snapshot(settings) == before


def test_refunds_totals_and_free_lines_are_counted_in_the_report(settings: Settings, tmp_path: Path) -> None:
    # T1007: the free gift of T1005 sent back, a refund of 0 with a line of −1 at 0
    orders = (
        ORDERS + "T1006,C1,2024-11-13 09:00:00,交易成功,-15.00\nT1007,C9,2024-11-14 09:00:00,退款成功,0\n"
    )
    load_file(settings, _file(tmp_path, "订单.csv", orders), "orders")
    items = ITEMS.replace("T1001,2,P2,1,40.00", "T1001,2,P2,1,30.00") + (
        "T1005,2,P4,1,0\nT1006,1,P1,-1,15.00\nT1007,1,P4,-1,0\n"
    )
    report = load_file(settings, _file(tmp_path, "items.csv", items), "order_items")
    assert "1 order total(s) differ from the sum of their lines" in _warning(report, "sum of their lines")
    assert "'T1001: total 9900, lines 8900'" in _warning(report, "sum of their lines")
    assert "1 line(s) with a negative quantity in orders that are not cancelled" in _warning(
        report, "negative quantity"
    )
    assert "2 line(s) at price 0" in _warning(report, "price 0")
    orders_report = load_file(settings, _file(tmp_path, "订单.csv", orders), "orders")
    returns = _warning(orders_report, "credit notes")
    assert (
        "2 order(s) have a negative total or lines' sum" in returns and "(e.g. 'T1006', 'T1007')" in returns
    )
    # 交易关闭 and 已取消 with their original totals: the sales never stood
    voided = _warning(orders_report, "the sale never stood")
    assert voided.startswith("orders: 2 order(s) are cancelled") and "(e.g. 'T1002', 'T1003')" in voided


def test_json_report_carries_the_consistency_warnings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        sys, "argv", ["marketpilot", "load", "orders", str(_file(tmp_path, "o.csv", ORDERS)), "--json"]
    )
    assert run_app(app) == 0
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert any("'退款中' (1 order)" in w for w in warnings)
    assert any("5 orders refer to 3 customer_id(s)" in w for w in warnings)


def test_a_load_interrupted_between_tables_leaves_the_store_as_before(
    settings: Settings,
    tmp_path: Path,
    store_snapshot: Snapshot,
    retail_slice: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_file(settings, _file(tmp_path, "customers.csv", CUSTOMERS), "customers")
    before = store_snapshot(settings)
    real = Store.upsert

    def interrupted(self: Store, table: str, *args: object, **kwargs: object) -> int:
        if table == "order_items":  # customers, products and orders are written by now
            raise KeyboardInterrupt
        return real(self, table, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "upsert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_file(settings, retail_slice, preset="online-retail")
    assert store_snapshot(settings) == before


KILL_MID_LOAD = """
import os, signal, sys
from marketpilot.config import get_settings
from marketpilot.data import Store
from marketpilot.data.load import load_file
real = Store.upsert
def killed(self, table, *args, **kwargs):
    if table == "order_items":
        os.kill(os.getpid(), signal.SIGKILL)
    return real(self, table, *args, **kwargs)
Store.upsert = killed
load_file(get_settings(sys.argv[1]), sys.argv[2], preset="online-retail")
"""


def test_a_load_killed_mid_write_leaves_the_store_as_before(
    settings: Settings, tmp_path: Path, store_snapshot: Snapshot, retail_slice: Path
) -> None:
    load_file(settings, _file(tmp_path, "customers.csv", CUSTOMERS), "customers")
    before = store_snapshot(settings)
    done = subprocess.run(
        [sys.executable, "-c", KILL_MID_LOAD, str(settings.home), str(retail_slice)],
        env={**os.environ}, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert store_snapshot(settings) == before


def test_stray_event_times_are_kept_with_a_count(settings: Settings, tmp_path: Path) -> None:
    # UserBehavior-style Unix seconds with a stray zero time among real 2017 clicks.
    events = "customer_id,product_id,event_type,occurred_at\n1,P1,pv,1511544070\n"
    events += "1,P2,pv,1970-01-01 08:00:00\n2,P1,buy,1511561733\n"
    report = load_file(settings, _file(tmp_path, "UserBehavior.csv", events), "events")
    assert "events: 1 occurred_at value(s) before 1990-01-01" in _warning(report, "occurred_at value(s)")
    assert _rows(settings, "SELECT count(*) FROM events") == [(3,)]


def test_repeated_order_fields_that_disagree_are_named_with_their_rows(
    settings: Settings, tmp_path: Path
) -> None:
    # 京东-style export: one row per SKU, order fields repeated; order 3002's rows disagree on status
    # and buyer (two orders sharing a number), 3001's second row leaves them blank (as Shopify does).
    jd = (
        "订单号,下单帐号,下单时间,订单状态,商品ID,订购数量,京东价\n"
        "3001,u1,2024-06-18 00:01:00,完成,P1,1,99.00\n"
        "3001,,,,P2,2,10.00\n"
        "3002,u2,2024-06-18 00:02:00,完成,P1,1,99.00\n"
        "3002,u3,2024-06-18 00:02:00,已取消,P3,1,5.00\n"
    )
    mapping = tmp_path / "jd.yaml"
    mapping.write_text(
        "tables:\n  orders:\n    duplicates: first\n    columns:\n      order_id: 订单号\n"
        "      customer_id: {from: 下单帐号, personal: false}\n      ordered_at: 下单时间\n"
        "      status: 订单状态\n"
        "  order_items:\n    columns:\n      order_id: 订单号\n"
        "      line_no: {line_number_within: order_id}\n"
        "      product_id: 商品ID\n      quantity: 订购数量\n      unit_price_minor: 京东价\n",
        encoding="utf-8",
    )
    report = load_file(settings, _file(tmp_path, "京东订单.csv", jd), mapping=mapping)
    warning = _warning(report, "disagree")
    assert (
        "orders: 1 order_id(s) have rows that disagree (e.g. 3002 (rows 4, 5: customer_id, status))"
        in warning
    )
    assert dict(_rows(settings, "SELECT order_id, status FROM orders")) == {
        "3001": "completed",
        "3002": "completed",
    }


def test_disagreeing_customer_rows_are_named_by_row_not_by_their_email(
    settings: Settings, tmp_path: Path
) -> None:
    crm = "Email,城市\nwang.xm@example.cn,杭州\nwang.xm@example.cn,上海\nli@example.cn,北京\n"
    mapping = tmp_path / "crm.yaml"
    mapping.write_text(
        "table: customers\nduplicates: first\ncolumns:\n  customer_id: Email\n  city: 城市\n",
        encoding="utf-8",
    )
    report = load_file(settings, _file(tmp_path, "crm.csv", crm), "customers", mapping=mapping)
    assert "customers: 1 customer_id(s) have rows that disagree (e.g. (rows 2, 3: city))" in _warning(
        report, "disagree"
    )
    assert not any("wang.xm" in w for w in report.warnings)
