"""Product and category sales net of returns by the purchase rule: a returned line reduces the product
it returns in its currency, a cancelled order counts nothing, and the figures that claim to be sales
(top categories, category shares of spend, coupon margins) read them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from marketpilot.analytics.customer_features import customer_features
from marketpilot.analytics.net_sales import NET_LINES, register_net_lines, top_categories
from marketpilot.analytics.promo import PromoSpec, plan_promotions
from marketpilot.analytics.purchases import LINES_VIEW, register_purchases
from marketpilot.config import Settings, get_settings
from marketpilot.data import Store


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2024, 11, day, hour)


# product: (category, cost in minor units); P4 is sold in yen
PRODUCTS = {"P1": ("服饰", 9000), "P2": ("美妆", 2000), "P3": ("家居", 10000), "P4": ("食品", 1500)}
# (order_id, customer, time, status, currency, [(product, quantity, unit price in minor units)]); no
# totals: each order is worth its lines
ORDERS = [
    # P1 is bought four times and three come back: a best seller gross, not net
    ("A1", "甲", at(1), "completed", "CNY", [("P1", 2, 10000), ("P2", 1, 8000)]),
    ("A1-退", "甲", at(5), "returned", "CNY", [("P1", -2, 10000)]),
    ("B1", "乙", at(1), "completed", "CNY", [("P1", 1, 10000), ("P2", 1, 8000)]),
    ("B1-退", "乙", at(6), "returned", "CNY", [("P1", -1, 10000)]),
    ("C0", "丙", at(1), "returned", "CNY", [("P2", -1, 8000)]),  # before any sale: netted nowhere
    ("C1", "丙", at(2), "completed", "CNY", [("P1", 1, 10000)]),
    # a P2 bought before the data: netted against C1, which holds no P2, so it reduces no product
    ("C2", "丙", at(3), "returned", "CNY", [("P2", -1, 8000)]),
    ("C1-退款", "丙", at(7), "returned", "CNY", []),  # a bare refund: no product to reduce
    # P3: an order closed unpaid (and its refund exported too), and an order cancelled by a reversal
    ("D1", "丁", at(1), "cancelled", "CNY", [("P3", 1, 50000)]),
    ("D1-退", "丁", at(2), "returned", "CNY", [("P3", -1, 50000)]),
    ("D2", "丁", at(4), "completed", "CNY", [("P3", 1, 50000)]),
    ("D2-取消", "丁", at(4, 12), "cancelled", "CNY", [("P3", -1, 50000)]),
    ("E1", "戊", at(3), "completed", "JPY", [("P4", 1, 3000)]),
]
TOTALS = {"C1-退款": -1000}


@pytest.fixture
def returns_shop(tmp_path: Path) -> Settings:
    settings = get_settings(tmp_path / "home")
    customers = pa.table({"customer_id": ["甲", "乙", "丙", "丁", "戊"], "is_guest": [False] * 5})
    products = pa.table(
        {
            "product_id": list(PRODUCTS),
            "name": list(PRODUCTS),
            "category": [c for c, _ in PRODUCTS.values()],
            "cost_minor": pa.array([cost for _, cost in PRODUCTS.values()], pa.int64()),
            "currency": ["JPY" if p == "P4" else "CNY" for p in PRODUCTS],
        }
    )
    orders = pa.table(
        {
            "order_id": [o[0] for o in ORDERS],
            "customer_id": [o[1] for o in ORDERS],
            "ordered_at": pa.array([o[2] for o in ORDERS], pa.timestamp("us")),
            "status": [o[3] for o in ORDERS],
            "currency": [o[4] for o in ORDERS],
            "total_minor": pa.array([TOTALS.get(o[0]) for o in ORDERS], pa.int64()),
        }
    )
    lines = [(o[0], n, *line, o[4]) for o in ORDERS for n, line in enumerate(o[5], 1)]
    items = pa.table(
        {
            "order_id": [x[0] for x in lines],
            "line_no": pa.array([x[1] for x in lines], pa.int32()),
            "product_id": [x[2] for x in lines],
            "quantity": pa.array([x[3] for x in lines], pa.int32()),
            "unit_price_minor": pa.array([x[4] for x in lines], pa.int64()),
            "currency": [x[5] for x in lines],
        }
    )
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", customers)
        store.upsert("products", products)
        store.upsert("orders", orders)
        store.upsert("order_items", items)
    return settings


def _sold(store: Store) -> dict[tuple[str | None, str], tuple[int, float]]:
    rows = store.con.execute(
        f"SELECT currency, product_id, sum(quantity), sum(value) FROM {NET_LINES} GROUP BY ALL"
    ).fetchall()
    return {(cur, product): (int(units), round(float(value), 2)) for cur, product, units, value in rows}


def test_returned_lines_reduce_their_product_and_cancelled_orders_count_nothing(
    returns_shop: Settings,
) -> None:
    with Store.open(returns_shop, read_only=True) as store:
        register_purchases(store.con)
        bought = store.con.execute(
            f"SELECT product_id, sum(quantity), sum(value) FROM {LINES_VIEW} GROUP BY ALL ORDER BY 1"
        ).fetchall()
        register_net_lines(store.con)
        net = _sold(store)
    # What was bought and kept, as net sales count it: P1 once, 丙's (甲's two and 乙's one came back;
    # the returns of a P2 丙 never bought reduce C1 by value, not its P1); the yen line has no value in
    # the customer figures, whose money is in the shop's CNY
    assert bought == [("P1", 1, 100.0), ("P2", 2, 160.0), ("P4", 1, None)]
    assert net == {
        ("CNY", "P1"): (1, 100.0),  # three of its four units came back
        ("CNY", "P2"): (2, 160.0),  # 丙 bought none in the data: its returns of P2 reduce nothing
        ("CNY", "P3"): (0, 0.0),  # D1 closed and its refund count nothing; D2 was cancelled
        ("JPY", "P4"): (1, 3000.0),  # yen stay yen: no minor unit
    }


def test_a_return_is_netted_only_in_its_own_currency(returns_shop: Settings) -> None:
    with Store.open(returns_shop) as store, store.transaction():
        # 戊 sends a P4 back paid in CNY: no CNY sale of it to net against, so it reduces nothing
        store.upsert(
            "orders",
            pa.table(
                {
                    "order_id": ["E1-退"],
                    "customer_id": ["戊"],
                    "ordered_at": pa.array([at(8)], pa.timestamp("us")),
                    "status": ["returned"],
                    "currency": ["CNY"],
                }
            ),
        )
        store.upsert(
            "order_items",
            pa.table(
                {
                    "order_id": ["E1-退"],
                    "line_no": pa.array([1], pa.int32()),
                    "product_id": ["P4"],
                    "quantity": pa.array([-1], pa.int32()),
                    "unit_price_minor": pa.array([150], pa.int64()),
                    "currency": ["CNY"],
                }
            ),
        )
    with Store.open(returns_shop, read_only=True) as store:
        register_purchases(store.con)
        register_net_lines(store.con)
        net = _sold(store)
    assert net[("JPY", "P4")] == (1, 3000.0) and ("CNY", "P4") not in net


def test_the_lines_are_those_of_the_purchases_registered_at_their_cutoff(returns_shop: Settings) -> None:
    with Store.open(returns_shop, read_only=True) as store:
        register_purchases(store.con, before=dt.date(2024, 11, 6))
        register_net_lines(store.con)
        net = _sold(store)
    # A1-退 (the 5th) is netted; B1-退 (the 6th) lies after the cutoff and C1-退款 too
    assert net == {
        ("CNY", "P1"): (2, 200.0),
        ("CNY", "P2"): (2, 160.0),
        ("CNY", "P3"): (0, 0.0),
        ("JPY", "P4"): (1, 3000.0),
    }


def test_the_heavily_returned_category_no_longer_ranks_first(returns_shop: Settings) -> None:
    with Store.open(returns_shop, read_only=True) as store:
        register_purchases(store.con)
        register_net_lines(store.con)
        ranked = top_categories(store.con, 4)
        # 甲's spend after the return is P2 alone (美妆); before netting P1 was 200 of its 280
        features = customer_features(store.con, dt.date(2024, 11, 30), with_clv=False)
    # 美妆 160 of the 260 CNY sold; 服饰 100; the yen shop's 食品 all of its one order's; 家居 nothing
    assert ranked == ["美妆", "服饰", "食品", "家居"]
    assert features.attrs["categories"] == ranked
    shares = features[[f"cat_{i}" for i in range(4)]].set_axis(ranked, axis=1)
    assert shares.loc["甲"].to_dict() == {"美妆": 1.0, "服饰": 0.0, "食品": 0.0, "家居": 0.0}
    # C1's P1 was kept: 丙's returns of an older P2 and its bare refund reduce no category
    assert shares.loc["丙"].to_dict() == {"美妆": 0.0, "服饰": 1.0, "食品": 0.0, "家居": 0.0}


def test_coupon_margins_count_what_was_kept(returns_shop: Settings) -> None:
    plan = plan_promotions(returns_shop, PromoSpec(by="all"))
    # Kept: one P1 (100, cost 90), two P2 (160, cost 40) and the yen order (3000, cost 1500): half of
    # the price is margin. Counting the three returned P1 would have made it (3560 − 1900) / 3560.
    assert plan.margin_source == "catalogue costs"
    assert plan.groups[0].margin == pytest.approx(0.5)


def test_online_retail_lines_are_the_identified_customers_purchases_less_the_netted_returns(
    online_retail_settings: Settings,
) -> None:
    with Store.open(online_retail_settings, read_only=True) as store:
        register_purchases(store.con)
        register_net_lines(store.con)
        net = store.con.execute(
            f"""SELECT starts_with(order_id, 'C') AS cancellation, count(*), round(sum(value), 2),
                       count(*) FILTER (WHERE starts_with(customer_id, 'guest-'))
                FROM {NET_LINES} GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
        # every invoice but the 'C' ones is a purchase of its identified customer (the 194 wholly
        # returned ones too), worked out here from the tables alone
        sales = store.con.execute(
            """SELECT count(*), round(sum(i.quantity * i.unit_price_minor) / 100, 2)
               FROM orders o JOIN customers c USING (customer_id) JOIN order_items i USING (order_id)
               WHERE NOT c.is_guest AND NOT starts_with(o.order_id, 'C')"""
        ).fetchall()[0]
    assert sales == (397924, 8911407.9)
    assert net[0] == (False, *sales, 0)  # no guest checkout's lines
    # The returned lines of the 'C' invoices that sales holding their product absorb (a line partly,
    # when some of its units reach past the customer's earliest such sale): each invoice's total is
    # its lines', so they add up to the rule's £471,546.65 netted product by product.
    assert net[1] == (True, 7599, -471546.65, 0)


def test_generated_shop_sales_per_category_are_its_identified_customers_lines(
    shop_settings: Settings,
) -> None:
    with Store.open(shop_settings, read_only=True) as store:
        register_purchases(store.con)
        register_net_lines(store.con)
        net = store.con.execute(
            f"SELECT category, round(sum(value), 2) FROM {NET_LINES} GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        # The generator's sales are all completed, and each cancellation (C…) or return (R…) reverses
        # lines of its own earlier sale, which holds the product: every reversed line is netted, so a
        # category sold the plain sum of the identified customers' lines.
        lines = store.con.execute(
            """SELECT coalesce(nullif(p.category, ''), '(none)'),
                      round(sum(i.quantity * i.unit_price_minor) / 100, 2)
               FROM orders o JOIN customers c USING (customer_id) JOIN order_items i USING (order_id)
               LEFT JOIN products p USING (product_id)
               WHERE NOT c.is_guest GROUP BY ALL ORDER BY ALL"""
        ).fetchall()
        reversals = store.con.execute(
            "SELECT count(*) FROM orders WHERE NOT starts_with(order_id, 'O')"
        ).fetchall()[0][0]
    assert reversals > 0 and net == lines
