"""A file with a currency per row: each amount is scaled by its own row's minor unit, so ¥1,200 in
a JPY row is 1,200 yen beside a CNY row's ¥12.50 = 1,250 fen, not 120,000."""

from __future__ import annotations

from pathlib import Path

from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.load import load_file
from marketpilot.data.queries import revenue_by_currency

ORDERS = (
    "订单编号,客户ID,下单时间,实付金额,币种\n"
    "T1,C1,2025-01-05,12.50,CNY\n"
    "T2,C2,2025-01-06,1200,JPY\n"
    'T3,C3,2025-01-07,"¥1,200",jpy\n'
    "T4,C4,2025-01-08,3.5,KWD\n"
    "T5,C5,2025-01-09,8.00,\n"
)


def test_amounts_take_their_own_rows_minor_unit(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(ORDERS, encoding="gb18030")
    load_file(settings, path, "orders")
    with Store.open(settings, read_only=True) as store:
        stored = dict(store.query("SELECT order_id, total_minor FROM orders").itertuples(index=False))
        totals = revenue_by_currency(store)
    # T5 names no currency: the file's default (CNY, 2 digits); 'jpy' is stored as JPY
    assert stored == {"T1": 1250, "T2": 1200, "T3": 1200, "T4": 3500, "T5": 800}
    assert dict(zip(totals.currency.fillna("-"), totals.revenue, strict=True)) == {
        "JPY": 2400.0, "CNY": 12.5, "KWD": 3.5, "-": 8.0
    }  # fmt: skip


def test_a_mapped_constant_currency_sets_the_minor_unit(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_id,customer_id,ordered_at,total\nJ1,C1,2025-01-05,1500\n", encoding="utf-8")
    mapping = tmp_path / "orders.yaml"
    mapping.write_text(
        "table: orders\ncolumns:\n  order_id: order_id\n  customer_id: customer_id\n"
        "  ordered_at: ordered_at\n  total_minor: {from: total, unit: major}\n  currency: {value: JPY}\n",
        encoding="utf-8",
    )
    load_file(settings, path, "orders", mapping=mapping)
    with Store.open(settings, read_only=True) as store:
        assert store.query("SELECT total_minor, currency FROM orders").values.tolist() == [[1500, "JPY"]]


def test_a_yen_shop_is_read_in_yen_by_the_analytics_copy_and_assistant(
    settings: Settings, tmp_path: Path
) -> None:
    """A catalogue and orders in JPY: RFM spend, the copy's facts and the assistant's passages all
    say ¥1,500, not ¥15."""
    from marketpilot.analytics.rfm import run_rfm
    from marketpilot.assistant.knowledge import money_text
    from marketpilot.content.briefs import ProductFacts

    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,ordered_at,total,currency\nJ1,C1,2025-01-05,1500,JPY\n"
        "J2,C1,2025-02-05,2500,JPY\nJ3,C2,2025-02-06,800,JPY\n",
        encoding="utf-8",
    )
    load_file(settings, orders, "orders")
    _, table = run_rfm(settings)
    assert dict(zip(table.customer_id, table.monetary, strict=True)) == {"C1": 4000.0, "C2": 800.0}

    row = {"product_id": "P1", "name": "急須", "price_minor": 1500, "currency": "JPY"}
    assert ProductFacts.from_row(row).price == 1500.0
    assert ProductFacts.from_row({**row, "currency": "CNY"}).price == 15.0
    assert money_text(1500, "JPY", "zh") == "1500 JPY" and money_text(1500, "CNY", "zh") == "15元"


def test_currency_words_are_read_as_codes(settings: Settings, tmp_path: Path) -> None:
    """币种 as Chinese exports write it: 人民币, 日元, 港币; each takes its own minor unit. "¥" is the
    yuan's sign and the yen's: kept as written for a mapping's `values:` to decide."""
    path = tmp_path / "orders.csv"
    path.write_text(
        "订单编号,客户ID,下单时间,实付金额,币种\nW1,C1,2025-01-05,12.50,人民币\nW2,C2,2025-01-06,1200,日元\n"
        "W3,C3,2025-01-07,30,港币\nW4,C4,2025-01-08,9.9,RMB\nW5,C5,2025-01-09,5,¥\n",
        encoding="utf-8",
    )
    report = load_file(settings, path, "orders")
    assert any("'¥' (1 row)" in w and "no ISO 4217 code" in w for w in report.warnings), report.warnings
    with Store.open(settings, read_only=True) as store:
        stored = {r[0]: (r[1], r[2]) for r in store.query(
            "SELECT order_id, currency, total_minor FROM orders").itertuples(index=False)}  # fmt: skip
    assert stored == {
        "W1": ("CNY", 1250), "W2": ("JPY", 1200), "W3": ("HKD", 3000), "W4": ("CNY", 990), "W5": ("¥", 500)
    }  # fmt: skip


def test_an_invented_currency_code_is_named_and_real_codes_pass(settings: Settings, tmp_path: Path) -> None:
    """'XYZ' has the shape of a code but is none: it was loaded without a word. Real ISO 4217 codes,
    in any case, draw no warning."""
    real = ["CNY", "USD", "EUR", "JPY", "HKD", "gbp", "KRW", "TWD", "SGD", "KWD", "CHF", "XAF"]
    rows = [f"R{i},C{i},2025-01-05,10,{code}" for i, code in enumerate(real)]
    rows += ["X1,C1,2025-01-06,8,XYZ", "X2,C2,2025-01-07,9,xyz"]
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,ordered_at,total,currency\n" + "\n".join(rows) + "\n", encoding="utf-8"
    )
    report = load_file(settings, path, "orders")
    currency = [w for w in report.warnings if "currency value(s)" in w]
    assert len(currency) == 1, report.warnings
    assert "no ISO 4217 code" in currency[0] and "'XYZ' (2 rows)" in currency[0]
    assert "values: {'XYZ': <ISO code>}" in currency[0]
    assert not any(code in currency[0] for code in ("CNY", "USD", "EUR", "JPY", "HKD", "GBP"))
