"""The shared read queries agree with the same figures computed in pandas from the tables."""

from __future__ import annotations

from marketpilot.config import Settings
from marketpilot.data.queries import (
    currency_totals,
    customer_counts,
    lowest_rated_category,
    monthly_sales,
    revenue_by_currency,
)
from marketpilot.data.sample import make_sample
from marketpilot.data.store import Store


def test_queries_match_pandas_on_a_generated_shop(settings: Settings) -> None:
    make_sample(settings, customers=400, seed=3)
    with Store.open(settings, read_only=True) as store:
        orders, customers = store.read("orders"), store.read("customers")
        reviews, products = store.read("reviews"), store.read("products")
        monthly = monthly_sales(store).set_index("month")
        counts = customer_counts(store)
        worst = lowest_rated_category(store, min_reviews=10)
        assert lowest_rated_category(store, min_reviews=10**9) is None

    done = orders[orders.status == "completed"]
    by_month = done.groupby(done.ordered_at.dt.strftime("%Y-%m"))
    assert monthly.orders.to_dict() == by_month.size().to_dict()
    assert monthly.customers.to_dict() == by_month.customer_id.nunique().to_dict()
    assert (monthly.gross - by_month.total_minor.sum() / 100).abs().max() < 1e-6
    # the generator's cancellations and returns are documents of their own with negative totals, so
    # net revenue is the plain sum of every order's total, each reversal in its own month
    month = orders.ordered_at.dt.strftime("%Y-%m")
    for status, column in (("cancelled", "cancelled"), ("returned", "returned"), (None, "revenue")):
        rows = orders if status is None else orders[orders.status == status]
        expected = rows.groupby(month[rows.index]).total_minor.sum() / 100 * (1 if status is None else -1)
        assert (monthly[column] - expected.reindex(monthly.index, fill_value=0)).abs().max() < 1e-6
    assert monthly.returned.sum() > 0 and monthly.cancelled.sum() > 0
    assert (monthly.revenue - (monthly.gross - monthly.returned - monthly.cancelled)).abs().max() < 1e-6
    guest = customers.is_guest.fillna(False).astype(bool)
    assert counts == (int((~guest).sum()), int(guest.sum()))
    rated = reviews.merge(products[["product_id", "category"]], on="product_id").dropna(subset=["rating"])
    stats = rated.groupby("category").rating.agg(["mean", "size"])
    assert worst == stats[stats["size"] >= 10]["mean"].idxmin()
    assert len(monthly) == 24  # the generator's default two years


def test_revenue_is_kept_per_currency_in_its_own_units(settings: Settings) -> None:
    """A shop selling in CNY, USD and JPY: each currency is its own total (no rate exists to add
    them), and JPY's minor unit is the yen itself, so ¥1,200 is 1,200, not 12. Revenue is net of the
    documents with a negative total; an order cancelled with its own positive total is in no figure."""
    import pandas as pd

    orders = pd.DataFrame(
        {
            "order_id": ["O1", "O2", "O3", "O4", "O5", "O6", "R1", "X1", "R2"],
            "customer_id": ["C1", "C2", "C3", "C4", "C5", "C1", "C6", "C7", "C2"],
            "ordered_at": pd.to_datetime(
                [
                    "2025-01-05",
                    "2025-01-09",
                    "2025-02-01",
                    "2025-02-03",
                    "2025-02-04",
                    "2025-02-05",
                    "2025-02-06",
                    "2025-02-07",
                    "2025-02-08",
                ]
            ),
            "status": ["completed"] * 5 + ["cancelled", "completed", "cancelled", "returned"],
            "currency": ["CNY", "USD", "CNY", "JPY", None, "CNY", "CNY", "CNY", "USD"],
            # O6: a cancellation document (Online Retail's C… invoices) of O1; R1: a refund exported
            # as its own document (of an order before the data) and R2 a return of O2 a month later:
            # less revenue, but no order, and C6 bought nothing that month. X1: an order cancelled
            # with its own total (交易关闭): never a sale, in no figure
            "total_minor": [10_000, 2_500, 5_050, 1_200, 700, -3_000, -1_000, 8_000, -500],
        }
    )
    with Store.open(settings) as store:
        store.upsert("orders", orders)
        totals = revenue_by_currency(store)
        monthly = monthly_sales(store)

    money = ["currency", "orders", "gross", "returned", "cancelled", "revenue"]
    assert [tuple(r) for r in totals[money].itertuples(index=False)] == [
        ("CNY", 2, 150.5, 10.0, 30.0, 110.5),
        ("JPY", 1, 1200.0, 0.0, 0.0, 1200.0),
        ("USD", 1, 25.0, 5.0, 0.0, 20.0),
        (None, 1, 7.0, 0.0, 0.0, 7.0),
    ]
    rows = {
        (r.month, r.currency): (r.orders, r.revenue, r.returned, r.cancelled) for r in monthly.itertuples()
    }
    assert monthly.set_index(["month", "currency"]).loc[("2025-02", "CNY"), "customers"] == 1
    assert rows == {
        ("2025-01", "CNY"): (1, 100.0, 0.0, 0.0),
        ("2025-01", "USD"): (1, 25.0, 0.0, 0.0),
        ("2025-02", "CNY"): (1, 10.5, 10.0, 30.0),
        ("2025-02", "JPY"): (1, 1200.0, 0.0, 0.0),
        ("2025-02", "USD"): (0, -5.0, 5.0, 0.0),
        ("2025-02", None): (1, 7.0, 0.0, 0.0),
    }


def test_currency_totals_are_the_sums_of_the_monthly_rows(settings: Settings) -> None:
    """The overview and the demo take the per-currency totals from `monthly_sales`' rows, so the
    reversal matching runs once: each total is the sum of its currency's months, exact in its own
    minor unit (0.10 + 0.20 yuan is 0.30, 1.001 dinar a thousandth, not float noise)."""
    import pandas as pd

    orders = pd.DataFrame(
        [
            ("A1", "c1", "2025-01-03", "completed", "CNY", 10),
            ("A2", "c2", "2025-02-03", "completed", "CNY", 20),
            ("A3", "c3", "2025-03-03", "completed", "CNY", 7_001),
            ("V1", "c3", "2025-03-04", "returned", "CNY", 5_000),  # voided: never a sale
            ("RV1", "c3", "2025-04-01", "returned", "CNY", -5_000),  # its refund: in no figure
            ("K1", "c4", "2025-01-05", "completed", "KWD", 1_001),
            ("K2", "c4", "2025-02-05", "completed", "KWD", 2_002),
            ("KC", "c4", "2025-02-06", "cancelled", "KWD", -1_001),
            ("J1", "c5", "2025-01-07", "completed", "JPY", 1_500),
            ("N1", "c6", "2025-03-08", "completed", None, 333),
            ("N2", "c7", "2025-04-08", "completed", None, 334),
        ],
        columns=["order_id", "customer_id", "ordered_at", "status", "currency", "total_minor"],
    )
    orders["ordered_at"] = pd.to_datetime(orders["ordered_at"])
    with Store.open(settings) as store:
        store.upsert("orders", orders)
        monthly = monthly_sales(store)
        stored = revenue_by_currency(store)
    totals = currency_totals(monthly)

    money = ["orders", "gross", "returned", "cancelled", "revenue"]
    assert [tuple(r) for r in totals[["currency", *money]].itertuples(index=False)] == [
        ("CNY", 3, 70.31, 0.0, 0.0, 70.31),
        ("KWD", 2, 3.003, 0.0, 1.001, 2.002),
        (None, 2, 6.67, 0.0, 0.0, 6.67),  # ties on orders: no currency last
        ("JPY", 1, 1500.0, 0.0, 0.0, 1500.0),
    ]
    summed = monthly.fillna({"currency": "-"}).groupby("currency")[money].sum()
    assert ((totals.fillna({"currency": "-"}).set_index("currency")[money] - summed).abs() < 1e-9).all().all()
    pd.testing.assert_frame_equal(stored, totals)
    assert currency_totals(monthly.iloc[0:0]).columns.tolist() == ["currency", *money]


def _shop(settings: Settings, orders: list[tuple], lines: list[tuple]) -> None:
    """A CNY shop: orders (id, customer, day, status, total in fen) and lines (order, product,
    quantity, unit price in fen)."""
    import pandas as pd

    frame = pd.DataFrame(orders, columns=["order_id", "customer_id", "ordered_at", "status", "total_minor"])
    frame["ordered_at"] = pd.to_datetime(frame["ordered_at"])
    frame["currency"] = "CNY"
    items = pd.DataFrame(lines, columns=["order_id", "product_id", "quantity", "unit_price_minor"])
    items["line_no"] = items.groupby("order_id").cumcount() + 1
    items["currency"] = "CNY"
    with Store.open(settings) as store:
        store.upsert("orders", frame)
        store.upsert("order_items", items)


def _figures(settings: Settings) -> tuple[dict, dict]:
    """(per month: (orders, gross, returned, cancelled, revenue), totals: the same)."""
    money = ["orders", "gross", "returned", "cancelled", "revenue"]
    with Store.open(settings, read_only=True) as store:
        monthly, totals = monthly_sales(store), revenue_by_currency(store)
    assert list(totals.currency) == ["CNY"]
    return (
        {r.month: tuple(r[money]) for _, r in monthly.iterrows()},
        tuple(totals[money].iloc[0]),
    )


def test_the_refund_of_an_order_already_marked_returned_is_taken_off_once(settings: Settings) -> None:
    # WooCommerce exports a refunded order as 'refunded' (returned) with its original total *and* the
    # refund as its own negative document; Taobao closes an order (交易关闭) after refunding it and the
    # refund may come as a bare document. The order was never a sale, so its refund takes nothing off
    # the sale before it: each pair is worth 0, and the refund is in no month's figures.
    _shop(
        settings,
        [
            ("#1001", "c_1042", "2025-03-02", "completed", 12_000),
            ("#1002", "c_1042", "2025-03-10", "returned", 8_000),
            ("R1002", "c_1042", "2025-04-02", "returned", -8_000),
            ("T3001", "tb_88", "2025-03-05", "completed", 3_000),
            ("T3002", "tb_88", "2025-03-06", "cancelled", 2_000),
            ("T3002-退款", "tb_88", "2025-04-03", "returned", -2_000),  # no lines
        ],
        [
            ("#1001", "SKU-A", 1, 12_000),
            ("#1002", "SKU-B", 1, 8_000),
            ("R1002", "SKU-B", -1, 8_000),
            ("T3001", "SKU-C", 1, 3_000),
            ("T3002", "SKU-D", 2, 1_000),
        ],
    )
    monthly, totals = _figures(settings)
    assert monthly == {"2025-03": (2, 150.0, 0.0, 0.0, 150.0)}
    assert totals == (2, 150.0, 0.0, 0.0, 150.0)


def test_the_refund_of_a_sale_is_taken_off_once_in_its_own_month(settings: Settings) -> None:
    _shop(
        settings,
        [
            ("#2001", "c_7", "2025-03-05", "completed", 5_000),
            ("R2001", "c_7", "2025-04-01", "returned", -5_000),
            ("#2002", "c_8", "2025-04-02", "completed", 3_000),
            ("C2002", "c_8", "2025-04-02", "cancelled", -3_000),  # a C… credit invoice, same day
        ],
        [("#2001", "SKU-A", 1, 5_000), ("R2001", "SKU-A", -1, 5_000), ("#2002", "SKU-B", 1, 3_000)],
    )
    monthly, totals = _figures(settings)
    assert monthly == {"2025-03": (1, 50.0, 0.0, 0.0, 50.0), "2025-04": (1, 30.0, 50.0, 30.0, -50.0)}
    assert totals == (2, 80.0, 50.0, 30.0, 0.0)


def test_a_return_of_a_sale_and_of_a_voided_order_takes_off_the_sales_share_as_the_analytics_do(
    settings: Settings,
) -> None:
    # One return document for two orders: SKU-A from a sale, SKU-E from an order already marked
    # returned. Spread over its lines, the SKU-A share (60) is taken off; the SKU-E share (40) is the
    # voided order's refund, already in no figure. The analytics' purchase rule matches it the same way.
    from marketpilot.analytics.purchases import store_purchase_rules

    _shop(
        settings,
        [
            ("#4001", "c_9", "2025-05-01", "completed", 6_000),
            ("#4002", "c_9", "2025-05-03", "returned", 4_000),
            ("#4003", "c_9", "2025-05-04", "completed", 2_000),  # the latest sale: holds neither product
            ("R4", "c_9", "2025-06-01", "returned", -10_000),
        ],
        [
            ("#4001", "SKU-A", 1, 6_000),
            ("#4002", "SKU-E", 1, 4_000),
            ("#4003", "SKU-F", 1, 2_000),
            ("R4", "SKU-A", -1, 6_000),
            ("R4", "SKU-E", -1, 4_000),
        ],
    )
    monthly, totals = _figures(settings)
    assert monthly == {"2025-05": (2, 80.0, 0.0, 0.0, 80.0), "2025-06": (0, 0.0, 60.0, 0.0, -60.0)}
    assert totals == (2, 80.0, 60.0, 0.0, 20.0)
    with Store.open(settings, read_only=True) as store:
        rules = store_purchase_rules(store.con)
    assert (rules.returns_amount, rules.amount_of_voided) == (100.0, 40.0)
