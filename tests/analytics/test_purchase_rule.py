"""One purchase rule for RFM, CLV and the customer features: returns netted (product by product where
they have lines), cancellations left out, orders without a total valued by their lines, orders with
neither counted without spend."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from marketpilot.analytics.clv import FileSource, predict_clv, summarise
from marketpilot.analytics.clv.transactions import (
    register_file_transactions,
    register_store_transactions,
    transaction_rules,
)
from marketpilot.analytics.customer_features import customer_features
from marketpilot.analytics.net_sales import NET_LINES, register_net_lines
from marketpilot.analytics.purchases import (
    LINES_VIEW,
    ORDERS_VIEW,
    REGISTERED,
    register_purchases,
    store_purchase_rules,
)
from marketpilot.analytics.rfm import compute_rfm, run_rfm
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store

D = dt.datetime(2024, 11, 1, 10)


def at(day: int, hour: int = 10) -> dt.datetime:
    return D.replace(day=day, hour=hour)


# (order_id, customer, time, status, total in fen or None)
ORDERS = [
    ("A1", "甲", at(1), "completed", 10000),
    ("A2", "甲", at(10), "completed", 5000),
    ("A2-退", "甲", at(12), "returned", -2000),  # a partial refund of A2: A2 is worth 30 元
    ("A3", "甲", at(20), "completed", 4000),
    ("A3-取消", "甲", at(20, 12), "cancelled", -4000),  # A3 undone the same day: no purchase
    ("B1", "乙", at(2), "completed", None),  # no total, two lines of 15 元: worth 30 元
    ("B2", "乙", at(5), "completed", None),  # no total, no lines: a purchase of unknown value
    ("B3", "乙", at(8), "cancelled", 7000),  # 交易关闭 with its original total: never a sale
    ("C0", "丙", at(1), "returned", -1000),  # a return of something bought before the data
    ("C1", "丙", at(3), "completed", 0),  # a gift order worth 0
    ("G1", "guest:G1", at(4), "completed", 9900),  # a guest checkout is no customer's behaviour
]


@pytest.fixture
def small_shop(tmp_path: Path) -> Settings:
    settings = get_settings(tmp_path / "home")
    customers = pa.table(
        {"customer_id": ["甲", "乙", "丙", "guest:G1"], "is_guest": [False, False, False, True]}
    )
    orders = pa.table(
        {
            "order_id": [o[0] for o in ORDERS],
            "customer_id": [o[1] for o in ORDERS],
            "ordered_at": pa.array([o[2] for o in ORDERS], pa.timestamp("us")),
            "status": [o[3] for o in ORDERS],
            "total_minor": pa.array([o[4] for o in ORDERS], pa.int64()),
        }
    )
    items = pa.table(
        {
            "order_id": ["A2", "A2-退", "B1", "B1"],
            "line_no": pa.array([1, 1, 1, 2], pa.int32()),
            "product_id": ["P1", "P1", "P2", "P3"],
            "quantity": pa.array([5, -2, 1, 1], pa.int32()),
            "unit_price_minor": pa.array([1000, 1000, 1500, 1500], pa.int64()),
        }
    )
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", customers)
        store.upsert("orders", orders)
        store.upsert("order_items", items)
    return settings


def test_rfm_clv_and_features_read_the_same_purchases(small_shop: Settings) -> None:
    with Store.open(small_shop, read_only=True) as store:
        rfm = compute_rfm(store.con, as_of=dt.date(2024, 11, 20)).set_index("customer_id")
        features = customer_features(store.con, dt.date(2024, 11, 21), with_clv=False)
        register_store_transactions(store.con)
        clv = summarise(store.con, calibration_end=dt.date(2024, 11, 20), time_unit="D").set_index(
            "customer_id"
        )
        rules = store_purchase_rules(store.con)
    # 甲: A1 100 + A2 50 − 20; A3 wholly cancelled. 乙: B1 from its lines, B2 counted without spend.
    # 丙: a gift worth 0 counts; the return before any purchase cannot be netted.
    assert rfm["frequency"].to_dict() == {"丙": 1, "乙": 2, "甲": 2}
    assert rfm["monetary"].to_dict() == {"丙": 0.0, "乙": 30.0, "甲": 130.0}
    assert rfm.loc["甲", "recency_days"] == 10  # the last purchase is A2 (the 10th), not the undone A3
    assert features["frequency"].to_dict() == rfm["frequency"].astype(float).to_dict()
    assert features["monetary"].to_dict() == rfm["monetary"].to_dict()
    # CLV: the same purchases, merged per day; spend is the mean of the repeat days that have a value.
    assert clv["frequency"].to_dict() == {"丙": 0.0, "乙": 1.0, "甲": 1.0}
    assert clv.loc["甲", "monetary_value"] == 30.0 and clv.loc["甲", "monetary_frequency"] == 1
    assert clv.loc["乙", "monetary_frequency"] == 0  # B2's value is unknown: no spend to average
    assert rules.model_dump() == {
        "documents": 10, "purchases": 5, "voided": 1, "valued_from_lines": 1, "without_value": 1,
        "zero_value": 1, "returns": 3, "returns_amount": 70.0, "returns_by_product": 1,
        "amount_by_product": 20.0, "partly_returned": 1, "wholly_returned": 1, "returns_not_netted": 1,
        "amount_not_netted": 10.0, "returns_of_voided": 0, "amount_of_voided": 0.0, "return_lines": 0,
        "money_currency": None, "other_currency": 0, "other_currency_amounts": {},  # no order names one
    }  # fmt: skip


def test_a_return_after_the_as_of_date_does_not_reduce_the_purchase(small_shop: Settings) -> None:
    with Store.open(small_shop, read_only=True) as store:
        before_refund = compute_rfm(store.con, as_of=dt.date(2024, 11, 11)).set_index("customer_id")
    assert before_refund.loc["甲", "monetary"] == 150.0  # A2's refund on the 12th is not known yet


def test_a_file_with_negative_rows_reads_like_the_store(small_shop: Settings, tmp_path: Path) -> None:
    # The store's orders of identified customers as a shop's transaction export (GBK, Chinese header);
    # B1 has its lines' sum, B2 an empty value.
    rows = ["客户,日期,金额"]
    values = {"B1": "30", "B2": ""}
    for order_id, customer, when, status, total in ORDERS:
        if customer.startswith("guest") or (status == "cancelled" and (total or 0) >= 0):
            continue  # a file of transactions holds neither guests nor closed orders
        value = values.get(order_id, f"{(total or 0) / 100:.2f}")
        rows.append(f"{customer},{when:%Y-%m-%d %H:%M},{value}")
    path = tmp_path / "交易.csv"
    path.write_text("\n".join(rows) + "\n", encoding="gbk")
    source = FileSource(path=path, customer_col="客户", date_col="日期", value_col="金额")
    con = duckdb.connect()
    register_file_transactions(
        con, path, customer_col=source.customer_col, date_col=source.date_col, value_col=source.value_col
    )
    rules = transaction_rules(con)
    assert (rules.purchases, rules.wholly_returned, rules.partly_returned) == (5, 1, 1)
    assert (rules.returns_not_netted, rules.without_value, rules.zero_value) == (1, 1, 1)
    from_file = summarise(con, calibration_end=dt.date(2024, 11, 20), time_unit="D")
    with Store.open(small_shop, read_only=True) as store:
        register_store_transactions(store.con)
        from_store = summarise(store.con, calibration_end=dt.date(2024, 11, 20), time_unit="D")
    pd.testing.assert_frame_equal(from_file, from_store)


def test_online_retail_cancellations_net_revenue_alike_in_rfm_and_clv(
    online_retail_settings: Settings,
) -> None:
    summary, rfm = run_rfm(online_retail_settings)
    scores, clv = predict_clv(online_retail_settings, horizon_days=90)
    # The same 4,325 buyers and the same counts in both reports.
    assert set(rfm["customer_id"]) == set(clv["customer_id"]) and len(rfm) == 4325
    assert scores.purchase_rules == summary.purchase_rules
    rules = summary.purchase_rules
    # 3,654 'C' invoices of identified customers; 200 return goods bought before December 2010.
    assert (rules.returns, rules.returns_not_netted) == (3654, 200)
    assert rules.returns_amount == pytest.approx(611342.09, abs=0.01)
    # What a sale's returns of a product exceed the product's worth in it by reaches the customer's
    # earlier sales of the product (£17,228.33): 194 wholly returned (195 when nothing was carried, as
    # a sale whose returns of one product exceed it keeps its other products) and £52,929.58 not netted.
    assert (rules.purchases, rules.wholly_returned) == (18342, 194)
    assert rules.amount_not_netted == pytest.approx(52929.58, abs=0.01)
    # Every 'C' invoice has lines, netted product by product: 77.1% of the returned value reduces sales
    # holding the returned product (63.2% when each invoice was netted whole against the latest sale).
    # Most of the rest is manual adjustments ('M'), postage and commission, which no sale holds, and
    # the goods bought before the data begin (£15,561.46 of returned products reach past the earliest
    # sale of them).
    assert rules.returns_by_product == rules.returns
    assert rules.amount_by_product == pytest.approx(471546.65, abs=0.01)
    assert rules.amount_by_product / rules.returns_amount == pytest.approx(0.771, abs=0.001)
    # Customer 16446 bought 80,995 paper birdies (£168,469.60) and cancelled them 12 minutes later:
    # that is neither revenue nor a repeat purchase.
    row = rfm.set_index("customer_id").loc["16446"]
    assert row["frequency"] == 1 and row["monetary"] == pytest.approx(1.65 + 1.25, abs=0.01)
    with Store.open(online_retail_settings, read_only=True) as store:
        gross = store.query(
            "SELECT sum(total_minor) / 100.0 AS gross FROM orders o JOIN customers c USING (customer_id) "
            "WHERE NOT c.is_guest AND o.status = 'completed'"
        )["gross"][0]
    # Net revenue: gross sales less the returns that could be netted.
    netted = rules.returns_amount - rules.amount_not_netted
    assert rfm["monetary"].sum() == pytest.approx(gross - netted, abs=0.05)


def test_a_return_reduces_the_purchase_that_holds_its_product(tmp_path: Path) -> None:
    # 丁 buys two A (60 元), then a B (50 元); returns one A, then a Z that no order of theirs holds.
    settings = get_settings(tmp_path / "home")
    orders = [
        ("O1", at(1), "completed", 6000),
        ("O2", at(5), "completed", 5000),
        ("R1", at(8), "returned", -3000),
        ("R2", at(9), "returned", -1000),
    ]
    items = [("O1", "A", 2, 3000), ("O2", "B", 1, 5000), ("R1", "A", -1, 3000), ("R2", "Z", -1, 1000)]
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", pa.table({"customer_id": ["丁"], "is_guest": [False]}))
        store.upsert(
            "orders",
            pa.table(
                {
                    "order_id": [o[0] for o in orders],
                    "customer_id": ["丁"] * len(orders),
                    "ordered_at": pa.array([o[1] for o in orders], pa.timestamp("us")),
                    "status": [o[2] for o in orders],
                    "total_minor": pa.array([o[3] for o in orders], pa.int64()),
                }
            ),
        )
        store.upsert("order_items", pa.table({
            "order_id": [i[0] for i in items], "line_no": pa.array([1] * len(items), pa.int32()),
            "product_id": [i[1] for i in items], "quantity": pa.array([i[2] for i in items], pa.int32()),
            "unit_price_minor": pa.array([i[3] for i in items], pa.int64()),
        }))  # fmt: skip
    with Store.open(settings, read_only=True) as store:
        register_purchases(store.con)
        net = dict(store.con.execute(f"SELECT order_id, value FROM {ORDERS_VIEW}").fetchall())
        rules = store_purchase_rules(store.con)
        register_store_transactions(store.con)
        from_store = summarise(store.con, calibration_end=dt.date(2024, 11, 20), time_unit="D")
    # R1 takes an A back from O1, not from the later O2; R2 falls back to the latest purchase, O2.
    assert net == {"O1": 30.0, "O2": 40.0}
    assert (rules.returns_by_product, rules.amount_by_product, rules.partly_returned) == (2, 30.0, 2)
    # A transaction file's rows have no lines: both returns net against the latest purchase, O2.
    path = tmp_path / "tx.csv"
    path.write_text(
        "客户,日期,金额\n丁,2024-11-01,60\n丁,2024-11-05,50\n丁,2024-11-08,-30\n丁,2024-11-09,-10\n"
    )
    con = duckdb.connect()
    register_file_transactions(con, path, customer_col="客户", date_col="日期", value_col="金额")
    from_file = summarise(con, calibration_end=dt.date(2024, 11, 20), time_unit="D")
    # CLV's spend is that of the repeat purchase, O2: 50 − 10 from the store, 50 − 30 − 10 from the file.
    assert (from_store.loc[0, "monetary_value"], from_file.loc[0, "monetary_value"]) == (40.0, 10.0)


def _store(tmp_path: Path, orders: list[tuple], items: list[tuple]) -> Settings:
    """Orders (id, customer, time, status, total in minor units, currency) and lines (order, product,
    quantity, unit price in minor units, currency[, line discount in minor units])."""
    settings = get_settings(tmp_path / "home")
    with Store.open(settings) as store, store.transaction():
        customers = sorted({o[1] for o in orders})
        store.upsert("customers", pa.table({"customer_id": customers, "is_guest": [False] * len(customers)}))
        store.upsert("orders", pa.table({
            "order_id": [o[0] for o in orders], "customer_id": [o[1] for o in orders],
            "ordered_at": pa.array([o[2] for o in orders], pa.timestamp("us")),
            "status": [o[3] for o in orders], "total_minor": pa.array([o[4] for o in orders], pa.int64()),
            "currency": [o[5] for o in orders],
        }))  # fmt: skip
        store.upsert("order_items", pa.table({
            "order_id": [i[0] for i in items], "line_no": pa.array([1] * len(items), pa.int32()),
            "product_id": [i[1] for i in items], "quantity": pa.array([i[2] for i in items], pa.int32()),
            "unit_price_minor": pa.array([i[3] for i in items], pa.int64()),
            "currency": [i[4] for i in items],
            "discount_minor": pa.array([i[5] if len(i) > 5 else None for i in items], pa.int64()),
        }))  # fmt: skip
    return settings


def test_the_refund_of_an_order_already_marked_returned_is_not_netted_again(tmp_path: Path) -> None:
    # WooCommerce-style: W2 is exported 'returned' with its original total *and* its refund comes as
    # its own negative document. W2 is left out; its refund must not also take 80 元 off W1.
    orders = [
        ("W1", "戊", at(1), "completed", 10000, "CNY"),
        ("W2", "戊", at(5), "returned", 8000, "CNY"),
        ("W2-refund", "戊", at(6), "returned", -8000, "CNY"),  # with its line: the product W2 holds
        ("W3", "己", at(1), "completed", 10000, "CNY"),
        ("W4", "己", at(5), "cancelled", 3000, "CNY"),
        ("W4-refund", "己", at(6), "returned", -3000, "CNY"),  # a bare refund, no lines
    ]
    items = [("W1", "X", 1, 10000, "CNY"), ("W2", "Y", 1, 8000, "CNY"), ("W2-refund", "Y", -1, 8000, "CNY")]
    settings = _store(tmp_path, orders, items)
    with Store.open(settings, read_only=True) as store:
        rfm = compute_rfm(store.con).set_index("customer_id")
        rules = store_purchase_rules(store.con)
    assert rfm["monetary"].to_dict() == {"己": 100.0, "戊": 100.0}
    assert rfm["frequency"].to_dict() == {"己": 1, "戊": 1}
    assert (rules.voided, rules.returns, rules.returns_of_voided, rules.amount_of_voided) == (2, 2, 2, 110.0)
    assert (rules.partly_returned, rules.wholly_returned, rules.amount_not_netted) == (0, 0, 0.0)


def test_a_return_in_one_currency_never_nets_a_purchase_in_another(tmp_path: Path) -> None:
    # 庚 buys in CNY, then in USD, and gets 20 USD back: the USD sale is undone, the CNY one untouched.
    # 辛 only ever bought in CNY: a USD refund has no sale of theirs to reverse.
    orders = [
        ("K1", "庚", at(1), "completed", 10000, "CNY"),
        ("K2", "庚", at(2), "completed", 2000, "USD"),
        ("K3", "庚", at(3), "completed", 5000, "CNY"),  # the latest purchase, in another currency
        ("K-R", "庚", at(7), "returned", -2000, "USD"),
        ("M1", "辛", at(1), "completed", 10000, "CNY"),
        ("M-R", "辛", at(7), "returned", -1000, "USD"),
    ]
    settings = _store(tmp_path, orders, [])
    with Store.open(settings, read_only=True) as store:
        register_purchases(store.con)
        net = dict(store.con.execute(f"SELECT order_id, value FROM {ORDERS_VIEW}").fetchall())
        rules = store_purchase_rules(store.con)
    assert net == {"K1": 100.0, "K3": 50.0, "M1": 100.0}
    assert (rules.wholly_returned, rules.returns_not_netted, rules.amount_not_netted) == (1, 1, 10.0)


def _netted(settings: Settings) -> tuple[dict, object, pd.DataFrame, dict]:
    """The purchases' net values, the rule's counts, RFM and each (customer, currency)'s net units and
    value of product P."""
    with Store.open(settings, read_only=True) as store:
        register_purchases(store.con)
        net = dict(store.con.execute(f"SELECT order_id, value FROM {ORDERS_VIEW}").fetchall())
        register_net_lines(store.con)
        p = store.con.execute(
            f"""SELECT customer_id, currency, round(sum(quantity), 6), round(sum(value), 6) FROM {NET_LINES}
                WHERE product_id = 'P' GROUP BY ALL"""
        ).fetchall()
        rules = store_purchase_rules(store.con)
        rfm = compute_rfm(store.con).set_index("customer_id")
    return net, rules, rfm, {(c, cur): (q, v) for c, cur, q, v in p}


def test_a_return_of_more_units_than_its_purchase_reaches_the_earlier_ones(tmp_path: Path) -> None:
    # 甲 buys a P with a Q (40 元), then a P twice (10 元 each), and returns three P at once: the two
    # later orders are wholly returned and the first gives up its P (its 10 of 40 元). 乙 returns two
    # P of which the data holds one: the other was bought before it and nets nothing. 丁 returns at once
    # the P and the Q of each of two orders: both are undone, the first taken once for each product.
    orders = [
        ("H1", "甲", at(1), "completed", 4000, "CNY"),
        ("H2", "甲", at(3), "completed", 1000, "CNY"),
        ("H3", "甲", at(5), "completed", 1000, "CNY"),
        ("H-R", "甲", at(8), "returned", -3000, "CNY"),
        ("K1", "乙", at(2), "completed", 1000, "CNY"),
        ("K-R", "乙", at(6), "returned", -2000, "CNY"),
        ("W1", "丁", at(1), "completed", 2000, "CNY"),
        ("W2", "丁", at(3), "completed", 2000, "CNY"),
        ("W-R", "丁", at(7), "returned", -4000, "CNY"),
        ("Z1", "丙", at(10), "completed", 3000, "CNY"),
    ]
    items = [
        ("H1", "P", 1, 1000, "CNY"), ("H1", "Q", 1, 3000, "CNY"), ("H2", "P", 1, 1000, "CNY"),
        ("H3", "P", 1, 1000, "CNY"), ("H-R", "P", -3, 1000, "CNY"), ("K1", "P", 1, 1000, "CNY"),
        ("K-R", "P", -2, 1000, "CNY"), ("W1", "P", 1, 1000, "CNY"), ("W1", "Q", 1, 1000, "CNY"),
        ("W2", "P", 1, 1000, "CNY"), ("W2", "Q", 1, 1000, "CNY"), ("W-R", "P", -2, 1000, "CNY"),
        ("W-R", "Q", -2, 1000, "CNY"), ("Z1", "Q", 1, 3000, "CNY"),
    ]  # fmt: skip
    net, rules, rfm, p_sold = _netted(_store(tmp_path, orders, items))
    # Before: H-R went to H3 alone (20 元 lost), W-R to W2 alone (W1 kept) and K-R's excess took a P
    # off the product's sales.
    assert net == {"H1": 30.0, "Z1": 30.0}
    assert rfm["frequency"].to_dict() == {"丙": 1, "甲": 1}
    assert rfm["monetary"].to_dict() == {"丙": 30.0, "甲": 30.0}
    assert (rules.partly_returned, rules.wholly_returned) == (1, 5)
    assert (rules.amount_by_product, rules.amount_not_netted) == (80.0, 10.0)
    assert p_sold == {("甲", "CNY"): (0.0, 0.0), ("乙", "CNY"): (0.0, 0.0), ("丁", "CNY"): (0.0, 0.0)}


def test_a_return_worth_more_than_its_purchase_reaches_the_earlier_ones_in_its_currency(
    tmp_path: Path,
) -> None:
    # 甲 buys a P at 50 元, one at $20, one on sale at 20 元, and returns a P for 50 元: the sale is
    # wholly returned and the 30 元 left come off the first, never off the dollar order. A $40 refund of
    # two P then undoes the dollar order; the other $20 were bought before the data.
    orders = [
        ("V1", "甲", at(1), "completed", 5000, "CNY"),
        ("V2", "甲", at(3), "completed", 2000, "USD"),
        ("V3", "甲", at(4), "completed", 2000, "CNY"),
        ("V-R", "甲", at(6), "returned", -5000, "CNY"),
        ("V-R2", "甲", at(7), "returned", -4000, "USD"),
        ("Z1", "丙", at(10), "completed", 3000, "CNY"),
    ]
    items = [
        ("V1", "P", 1, 5000, "CNY"), ("V2", "P", 1, 2000, "USD"), ("V3", "P", 1, 2000, "CNY"),
        ("V-R", "P", -1, 5000, "CNY"), ("V-R2", "P", -2, 2000, "USD"), ("Z1", "Q", 1, 3000, "CNY"),
    ]  # fmt: skip
    net, rules, rfm, p_sold = _netted(_store(tmp_path, orders, items))
    assert net == {"V1": 20.0, "Z1": 30.0}
    assert rfm.loc["甲", "frequency"] == 1 and rfm.loc["甲", "monetary"] == 20.0
    assert (rules.partly_returned, rules.wholly_returned, rules.other_currency) == (1, 2, 0)
    # P's sales: two bought and one returned in CNY; in USD the one bought, returned.
    assert p_sold == {("甲", "CNY"): (1.0, 20.0), ("甲", "USD"): (0.0, 0.0)}


def test_a_files_rows_on_one_day_are_in_file_order(tmp_path: Path) -> None:
    # 壬's repeat day, rows 9 and 10, then a refund of 50 on row 11 the same day. The latest row before
    # it is row 10 (100 → 50), not row 9 as text order ('10' < '9') had it (10 → wholly returned,
    # 40 not netted): the day is worth 10 + 50, not 100.
    rows = ["客户,日期,金额"] + [f"c{i},2024-01-01,5" for i in range(6)]  # rows 2..7
    rows += ["壬,2024-01-01,20", "壬,2024-02-01,10", "壬,2024-02-01,100", "壬,2024-02-01,-50"]
    path = tmp_path / "tx.csv"
    path.write_text("\n".join(rows) + "\n")
    con = duckdb.connect()
    register_file_transactions(con, path, customer_col="客户", date_col="日期", value_col="金额")
    rules = transaction_rules(con)
    summary = summarise(con, calibration_end=dt.date(2024, 3, 1), time_unit="D").set_index("customer_id")
    assert (rules.partly_returned, rules.wholly_returned, rules.amount_not_netted) == (1, 0, 0.0)
    assert summary.loc["壬", "monetary_value"] == 60.0 and summary.loc["壬", "frequency"] == 1


# 甲 buys in CNY and in USD (a USD order partly refunded the same day), 乙 only in CNY, 丙 only in USD.
TWO_CURRENCIES = [
    ("Q1", "甲", at(1), "completed", 10000, "CNY"),
    ("Q2", "甲", at(5), "completed", 2500, "USD"),
    ("Q3", "甲", at(9), "completed", 6000, "CNY"),
    ("Q4", "甲", at(9, 15), "completed", 4000, "USD"),
    ("Q4-R", "甲", at(9, 18), "returned", -1000, "USD"),  # its line: one of Q4's two S
    ("N1", "乙", at(2), "completed", 8000, "CNY"),
    ("N2", "乙", at(6), "completed", 3000, "CNY"),
    ("U1", "丙", at(3), "completed", 5000, "USD"),
]
TWO_CURRENCY_LINES = [
    ("Q1", "T", 1, 10000, "CNY"), ("Q2", "S", 1, 2500, "USD"), ("Q3", "T", 1, 6000, "CNY"),
    ("Q4", "S", 2, 2000, "USD"), ("Q4-R", "S", -1, 1000, "USD"), ("N1", "T", 1, 8000, "CNY"),
    ("N2", "V", 1, 3000, "CNY"), ("U1", "S", 1, 5000, "USD"),
]  # fmt: skip


def _spend(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, object]:
    """RFM, customer features, the CLV summary and the rule's counts of a store."""
    with Store.open(settings, read_only=True) as store:
        rfm = compute_rfm(store.con).set_index("customer_id")
        features = customer_features(store.con, dt.date(2024, 11, 10), with_clv=False)
        register_store_transactions(store.con)
        clv = summarise(store.con, calibration_end=dt.date(2024, 11, 9), time_unit="D").set_index(
            "customer_id"
        )
        rules = store_purchase_rules(store.con)
    return rfm, features, clv, rules


def test_spend_never_adds_two_currencies(tmp_path: Path) -> None:
    settings = _store(tmp_path, TWO_CURRENCIES, TWO_CURRENCY_LINES)
    rfm, features, clv, rules = _spend(settings)
    # The shop's currency is CNY: 甲's USD purchases count as purchases, not as money.
    assert rfm["frequency"].to_dict() == {"丙": 1, "乙": 2, "甲": 4}
    assert rfm["monetary"].to_dict() == {"丙": 0.0, "乙": 110.0, "甲": 160.0}
    assert features["monetary"].to_dict() == rfm["monetary"].to_dict()
    assert features.loc["甲", "aov"] == 80.0 and features.loc["甲", "frequency"] == 4
    # CLV: 甲's repeat days are the 5th (USD only: no value in CNY) and the 9th (60 元 and $30).
    assert clv.loc["甲", "frequency"] == 2.0
    assert (clv.loc["甲", "monetary_value"], clv.loc["甲", "monetary_frequency"]) == (60.0, 1.0)
    assert (clv.loc["乙", "monetary_value"], clv.loc["丙", "monetary_value"]) == (30.0, 0.0)
    # Q4's refund still nets Q4 ($40 → $30), in its own currency.
    assert (rules.money_currency, rules.other_currency, rules.other_currency_amounts) == (
        "CNY", 3, {"USD": 105.0}
    )  # fmt: skip
    assert (rules.purchases, rules.partly_returned, rules.returns_by_product) == (7, 1, 1)
    assert rules.describe().endswith(
        "; money in CNY: 3 purchases in another currency (USD 105.00) counted for recency and frequency only"
    )
    assert rules.describe().startswith("7 purchases from 8 orders; 1 return (10.00): 1 purchase reduced")


def test_the_shops_currency_decides_which_money_counts(tmp_path: Path) -> None:
    settings = _store(tmp_path, TWO_CURRENCIES, TWO_CURRENCY_LINES).model_copy(update={"currency": "USD"})
    rfm, _, clv, rules = _spend(settings)
    assert rfm["monetary"].to_dict() == {"丙": 50.0, "乙": 0.0, "甲": 55.0}
    assert (clv.loc["甲", "monetary_value"], clv.loc["甲", "monetary_frequency"]) == (27.5, 2.0)
    assert (rules.money_currency, rules.other_currency, rules.other_currency_amounts) == (
        "USD", 4, {"CNY": 270.0}
    )  # fmt: skip


def test_a_shop_in_one_other_currency_keeps_its_money(tmp_path: Path) -> None:
    # Every order in USD while settings.currency is CNY: USD is the money currency, nothing left out.
    usd = [o for o in TWO_CURRENCIES if o[5] == "USD"]
    settings = _store(tmp_path, usd, [i for i in TWO_CURRENCY_LINES if i[4] == "USD"])
    rfm, _, clv, rules = _spend(settings)
    assert settings.currency == "CNY"
    assert rfm["monetary"].to_dict() == {"丙": 50.0, "甲": 55.0}
    # 甲's first purchase is now Q2 (the 5th); the repeat day, the 9th, is worth $30
    assert (clv.loc["甲", "monetary_value"], clv.loc["甲", "monetary_frequency"]) == (30.0, 1.0)
    assert (rules.money_currency, rules.other_currency, rules.other_currency_amounts) == ("USD", 0, {})
    assert "currenc" not in rules.describe()


def _cases(tmp_path: Path, orders: list[tuple], items: list[tuple]) -> tuple[dict, object, dict]:
    """`_netted` of CNY orders (id, customer, day, total in 元) and lines (order, product, quantity,
    unit price in 元): net values, the rule's counts and every product's net (units, value)."""
    settings = _store(
        tmp_path,
        [(o, c, at(d), "returned" if t < 0 else "completed", t * 100, "CNY") for o, c, d, t in orders],
        [(o, p, q, u * 100, "CNY") for o, p, q, u in items],
    )
    net, rules, _, _ = _netted(settings)
    with Store.open(settings, read_only=True) as store:
        register_purchases(store.con)
        register_net_lines(store.con)
        sold = store.con.execute(
            f"SELECT product_id, round(sum(quantity), 6), round(sum(value), 6) FROM {NET_LINES} GROUP BY ALL"
        ).fetchall()
    return net, rules, {p: (q, v) for p, q, v in sold}


def test_only_a_product_returned_beyond_its_purchase_reaches_the_earlier_ones(tmp_path: Path) -> None:
    # A: E0 buys an X; E1 an X and a Y; one X and three Y come back (400 元). The X returned is E1's;
    # the two Y beyond E1's were bought before the data: E0 keeps its X.
    net, rules, sold = _cases(
        tmp_path,
        [("E0", "甲", 1, 100), ("E1", "甲", 3, 200), ("E-R", "甲", 5, -400)],
        [("E0", "X", 1, 100), ("E1", "X", 1, 100), ("E1", "Y", 1, 100), ("E-R", "X", -1, 100),
         ("E-R", "Y", -3, 100)],
    )  # fmt: skip
    assert net == {"E0": 100.0}
    assert (rules.wholly_returned, rules.amount_not_netted) == (1, 200.0)
    assert sold == {"X": (1.0, 100.0), "Y": (0.0, 0.0)}


def test_an_earlier_purchase_gives_a_product_less_only_its_own_returns_of_it(tmp_path: Path) -> None:
    # C: P1's Y comes back, not its X; then P2 buys an X and two X come back: P1 gives up its X.
    net, rules, sold = _cases(
        tmp_path,
        [("P1", "甲", 1, 200), ("P1-R", "甲", 2, -100), ("P2", "甲", 3, 100), ("P2-R", "甲", 5, -200),
         ("Z1", "丙", 10, 30)],
        [("P1", "X", 1, 100), ("P1", "Y", 1, 100), ("P1-R", "Y", -1, 100), ("P2", "X", 1, 100),
         ("P2-R", "X", -2, 100), ("Z1", "Q", 1, 30)],
    )  # fmt: skip
    assert net == {"Z1": 30.0}
    assert (rules.wholly_returned, rules.amount_not_netted) == (2, 0.0)
    assert sold == {"Q": (1.0, 30.0), "X": (0.0, 0.0), "Y": (0.0, 0.0)}


def test_a_product_never_bought_is_not_carried_to_earlier_purchases(tmp_path: Path) -> None:
    # E: an X (E1's) comes back with a Z that no purchase holds: E1 is undone, E0 keeps its X and the
    # Z's 100 元 are not netted.
    net, rules, sold = _cases(
        tmp_path,
        [("E0", "甲", 1, 100), ("E1", "甲", 3, 100), ("E-R", "甲", 5, -200)],
        [("E0", "X", 1, 100), ("E1", "X", 1, 100), ("E-R", "X", -1, 100), ("E-R", "Z", -1, 100)],
    )
    assert net == {"E0": 100.0}
    assert (rules.wholly_returned, rules.amount_not_netted) == (1, 100.0)
    assert sold == {"X": (1.0, 100.0)}


def test_a_bare_refund_is_not_carried_to_earlier_purchases(tmp_path: Path) -> None:
    # F: E1's X comes back, then a 50 元 refund without lines: E1 is undone, E0 keeps its X.
    net, rules, sold = _cases(
        tmp_path,
        [("E0", "甲", 1, 100), ("E1", "甲", 3, 100), ("E-R", "甲", 5, -100), ("E-R2", "甲", 6, -50)],
        [("E0", "X", 1, 100), ("E1", "X", 1, 100), ("E-R", "X", -1, 100)],
    )
    assert net == {"E0": 100.0}
    assert (rules.wholly_returned, rules.amount_not_netted) == (1, 50.0)
    assert sold == {"X": (1.0, 100.0)}


def _bought(tmp_path: Path, orders: list[tuple], items: list[tuple]) -> tuple[dict, dict, dict, dict]:
    """CNY orders (id, customer, day, total in 元; status 'returned' at 0 or below) and lines (order,
    product, quantity, unit price in 元[, line discount in 元]): the purchases' net values, what was
    bought ((order, product) → (units, value) of `_purchase_lines`), RFM's monetary, and each
    (customer, product)'s units in `_purchase_lines` and in `_net_lines` (the one netting read twice:
    they must agree)."""
    settings = _store(
        tmp_path,
        [
            (o, c, at(d), "returned" if t <= 0 else "completed", round(t * 100), "CNY")
            for o, c, d, t in orders
        ],
        [
            (o, p, q, round(u * 100), "CNY", *(round(d * 100) for d in discount))
            for o, p, q, u, *discount in items
        ],
    )
    with Store.open(settings, read_only=True) as store:
        register_purchases(store.con)
        net = dict(store.con.execute(f"SELECT order_id, value FROM {ORDERS_VIEW}").fetchall())
        rows = store.con.execute(
            f"SELECT order_id, product_id, quantity, round(value, 6) FROM {LINES_VIEW}"
        ).fetchall()
        register_net_lines(store.con)
        units = store.con.execute(
            f"""SELECT coalesce(b.customer_id, s.customer_id), coalesce(b.product_id, s.product_id),
                       b.units, s.units
                FROM (SELECT customer_id, product_id, sum(quantity) AS units FROM {LINES_VIEW}
                      GROUP BY ALL) b
                FULL JOIN (SELECT customer_id, product_id, round(sum(quantity), 6) AS units
                           FROM {NET_LINES} GROUP BY ALL HAVING round(sum(quantity), 6) <> 0) s
                    USING (customer_id, product_id)"""
        ).fetchall()
        # as of a day after the returns: RFM nets only the returns before the day it looks from
        rfm = compute_rfm(store.con, as_of=dt.date(2024, 11, 30))
        monetary = rfm.set_index("customer_id")["monetary"].to_dict()
    lines = {(o, p): (q, v) for o, p, q, v in rows}
    return net, lines, monetary, {(c, p): (b, s) for c, p, b, s in units}


def test_a_return_naming_its_product_takes_back_that_products_line_only(tmp_path: Path) -> None:
    # 甲 buys shoes (300 元) and two pairs of socks (20 元 each) in one order and sends the shoes back;
    # 乙 buys two pairs of shoes and socks and sends one pair back; 丙 buys shoes and socks and gets
    # 50 元 back for a Z no order of theirs holds: by value, from the latest purchase, lines untouched.
    net, lines, monetary, units = _bought(
        tmp_path,
        [("S1", "甲", 1, 340), ("S1-R", "甲", 5, -300), ("S2", "乙", 1, 620), ("S2-R", "乙", 5, -300),
         ("S3", "丙", 1, 320), ("S3-R", "丙", 5, -50)],
        [("S1", "shoes", 1, 300), ("S1", "socks", 2, 20), ("S1-R", "shoes", -1, 300),
         ("S2", "shoes", 2, 300), ("S2", "socks", 1, 20), ("S2-R", "shoes", -1, 300),
         ("S3", "shoes", 1, 300), ("S3", "socks", 1, 20), ("S3-R", "Z", -1, 50)],
    )  # fmt: skip
    assert lines == {
        ("S1", "socks"): (2, 40.0),  # 甲 bought socks, not shoes
        ("S2", "shoes"): (1, 300.0), ("S2", "socks"): (1, 20.0),  # 乙 kept one pair
        ("S3", "shoes"): (1, 300.0), ("S3", "socks"): (1, 20.0),
    }  # fmt: skip
    # The orders' values net the returns as before, and monetary is that net value.
    assert net == {"S1": 40.0, "S2": 320.0, "S3": 270.0}
    assert monetary == {"甲": 40.0, "乙": 320.0, "丙": 270.0}
    # What each customer bought of each product is what the products' net sales count for them.
    assert all(b == s for b, s in units.values()) and len(units) == 5


def test_units_returned_beyond_their_purchase_come_off_the_earlier_ones(tmp_path: Path) -> None:
    # 甲 buys a P, then a P and a Q, and sends two P back: both P lines go, the Q stays. 乙 sends back
    # three P of the two bought in the data (two orders of one): the third was bought before it.
    # 丙's P comes back, then 丙 buys P again: the later purchase keeps its P. 丁 buys three P, then one,
    # and sends two back (one from each), then buys one and sends two back again (that one and a
    # second of the three): one P of the first order is kept.
    net, lines, _, units = _bought(
        tmp_path,
        [("A1", "甲", 1, 10), ("A2", "甲", 3, 40), ("A-R", "甲", 5, -20),
         ("B1", "乙", 1, 10), ("B2", "乙", 2, 10), ("B-R", "乙", 5, -30),
         ("C1", "丙", 1, 10), ("C-R", "丙", 2, -10), ("C2", "丙", 3, 10),
         ("D1", "丁", 1, 30), ("D2", "丁", 2, 10), ("D-R1", "丁", 3, -20), ("D3", "丁", 4, 10),
         ("D-R2", "丁", 5, -20)],
        [("A1", "P", 1, 10), ("A2", "P", 1, 10), ("A2", "Q", 1, 30), ("A-R", "P", -2, 10),
         ("B1", "P", 1, 10), ("B2", "P", 1, 10), ("B-R", "P", -3, 10),
         ("C1", "P", 1, 10), ("C-R", "P", -1, 10), ("C2", "P", 1, 10),
         ("D1", "P", 3, 10), ("D2", "P", 1, 10), ("D-R1", "P", -2, 10), ("D3", "P", 1, 10),
         ("D-R2", "P", -2, 10)],
    )  # fmt: skip
    assert lines == {("A2", "Q"): (1, 30.0), ("C2", "P"): (1, 10.0), ("D1", "P"): (1, 10.0)}
    assert net == {"A2": 30.0, "C2": 10.0, "D1": 10.0}
    assert all(b == s for b, s in units.values()) and len(units) == 3


def test_a_free_gift_sent_back_is_a_returned_product(tmp_path: Path) -> None:
    # Chinese shop exports list a free gift (赠品) as a line worth 0, and its return as a line of
    # negative quantity still worth 0. 甲 orders a kettle with a free mug and sends both back; 乙 sends
    # back only the mug (a refund row of 0 元: nothing to refund); 丙 sends back the kettle, the mug
    # and a second mug that the data never sold them (bought before it).
    net, lines, monetary, units = _bought(
        tmp_path,
        [("T1", "甲", 1, 199), ("T1-退", "甲", 5, -199), ("T2", "乙", 1, 199), ("T2-退", "乙", 5, 0),
         ("T3", "丙", 1, 199), ("T3-退", "丙", 5, -199), ("T4", "丙", 6, 59)],
        [("T1", "kettle", 1, 199), ("T1", "赠品-mug", 1, 0), ("T1-退", "kettle", -1, 199),
         ("T1-退", "赠品-mug", -1, 0),
         ("T2", "kettle", 1, 199), ("T2", "赠品-mug", 1, 0), ("T2-退", "赠品-mug", -1, 0),
         ("T3", "kettle", 1, 199), ("T3", "赠品-mug", 1, 0), ("T3-退", "kettle", -1, 199),
         ("T3-退", "赠品-mug", -2, 0), ("T4", "tea", 1, 59)],
    )  # fmt: skip
    # 甲 bought nothing (the mug came back with the kettle); 乙 kept the kettle at its full value, and
    # the mug's return is no purchase worth 0; 丙's second mug takes nothing from the later order.
    assert lines == {("T2", "kettle"): (1, 199.0), ("T4", "tea"): (1, 59.0)}
    assert net == {"T2": 199.0, "T4": 59.0}
    assert monetary == {"乙": 199.0, "丙": 59.0}
    # The products' net sales count the mugs back too: both views agree, the mug sold none.
    assert units == {("乙", "kettle"): (1, 1.0), ("丙", "tea"): (1, 1.0)}


def test_a_gift_at_a_token_price_reads_alike_in_both_views(tmp_path: Path) -> None:
    # A gift priced 0.01 元: 甲's is paid (the return refunds it too); 乙's is discounted to 0, and the
    # return line mirrors the sale (−1 at 0.01 less −0.01: worth 0). Both orders come back whole.
    net, lines, monetary, units = _bought(
        tmp_path,
        [("K1", "甲", 1, 100.01), ("K1-退", "甲", 5, -100.01), ("K2", "乙", 1, 100), ("K2-退", "乙", 5, -100),
         ("K3", "乙", 6, 30)],
        [("K1", "kettle", 1, 100), ("K1", "赠品-mug", 1, 0.01), ("K1-退", "kettle", -1, 100),
         ("K1-退", "赠品-mug", -1, 0.01),
         ("K2", "kettle", 1, 100), ("K2", "赠品-mug", 1, 0.01, 0.01), ("K2-退", "kettle", -1, 100),
         ("K2-退", "赠品-mug", -1, 0.01, -0.01), ("K3", "tea", 1, 30)],
    )  # fmt: skip
    assert (lines, net, monetary) == ({("K3", "tea"): (1, 30.0)}, {"K3": 30.0}, {"乙": 30.0})
    assert units == {("乙", "tea"): (1, 1.0)}


def test_online_retail_cancellations_take_back_the_cancelled_stock_codes(
    online_retail_settings: Settings,
) -> None:
    with Store.open(online_retail_settings, read_only=True) as store:
        register_purchases(store.con)
        rows = store.con.execute(
            f"""SELECT order_id, product_id, quantity, round(value, 2) FROM {LINES_VIEW}
                WHERE order_id IN ('537760', '539006')"""
        ).fetchall()
        net = dict(
            store.con.execute(
                f"SELECT order_id, value FROM {ORDERS_VIEW} WHERE order_id IN ('537760', '539006')"
            ).fetchall()
        )
    lines = {(o, p): (q, v) for o, p, q, v in rows}
    # 15973 bought 18 TWO DOOR CURIO CABINETs with jam sets, book boxes and mugs (537760) and cancelled
    # the 18 (C540112), then one more (C550349: bought before the data): the cabinets are gone, the rest
    # of the invoice stays. 15101 cancelled 2 of 12 CHERRY BLOSSOM flasks (C540379, at £3.75, not the
    # £3.39 paid): 10 kept, at the price paid.
    assert lines == {
        ("537760", "22961"): (12, 17.4), ("537760", "21428"): (4, 17.0), ("537760", "21870"): (72, 76.32),
        ("539006", "84279P"): (10, 33.9), ("539006", "20830"): (6, 12.6), ("539006", "82599"): (12, 25.2),
        ("539006", "21463"): (4, 23.8),
    }  # fmt: skip
    # The invoices' values net the cancellations as before: £307.82 − £197.10, £102.28 − £7.50.
    assert net == {"537760": pytest.approx(110.72), "539006": pytest.approx(94.78)}
    with Store.open(online_retail_settings, read_only=True) as store:
        register_purchases(store.con)
        changed = store.con.execute(
            f"""SELECT count(*), sum(cardinality(returned_units)), sum(list_sum(map_values(returned_units)))
                FROM {REGISTERED} WHERE kind = 'purchase' AND NOT wholly_returned
                AND returned_units IS NOT NULL"""
        ).fetchall()[0]
        bare = store.con.execute(
            f"SELECT count(*) FROM {ORDERS_VIEW} WHERE order_id NOT IN (SELECT order_id FROM {LINES_VIEW})"
        ).fetchall()[0][0]
    # Over the whole export: 3,107 purchases gave back 51,357 units of 6,349 of their products to the
    # cancellations naming them; 12 purchases gave back every product while their value (postage kept,
    # a price difference) stays above 0: purchases without lines.
    assert (changed, bare) == ((3107, 6349, 51357), 12)
