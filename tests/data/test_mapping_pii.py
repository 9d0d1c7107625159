"""YAML mappings (the documented Shopify and 淘宝 examples), header matching, and privacy at the door."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from marketpilot.config import Settings
from marketpilot.data import Store
from marketpilot.data.load import load_file
from marketpilot.errors import UserError
from marketpilot.privacy.pseudonymise import pseudonym

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _analytics_text(store: Store) -> str:
    return " ".join(
        store.read(t).astype(str).to_csv(index=False)
        for t in ("customers", "orders", "order_items", "products")
    )


@pytest.fixture
def shopify_export(tmp_path: Path, retail_slice: Path) -> tuple[Path, pd.DataFrame]:
    """The real Online Retail slice rewritten in Shopify's order-export layout: one row per line item,
    order fields only on an order's first row, the customer identified by e-mail."""
    raw = pd.read_csv(retail_slice, dtype=str, nrows=400).dropna(subset=["CustomerID"])
    raw = raw[~raw.InvoiceNo.str.startswith("C")]
    first = ~raw.InvoiceNo.duplicated()
    totals = (raw.Quantity.astype(int) * raw.UnitPrice.astype(float)).groupby(raw.InvoiceNo).sum().round(2)
    export = pd.DataFrame(
        {
            "Name": "#" + raw.InvoiceNo,
            "Email": ("buyer" + raw.CustomerID + "@example.com").where(first, ""),
            "Financial Status": pd.Series("paid", index=raw.index).where(first, ""),
            "Created at": pd.to_datetime(raw.InvoiceDate).dt.strftime("%Y-%m-%d %H:%M:%S +0000"),
            "Currency": "GBP",
            "Total": raw.InvoiceNo.map(totals).astype(str).where(first, ""),
            "Discount Amount": "0.00",
            "Lineitem quantity": raw.Quantity,
            "Lineitem price": raw.UnitPrice,
            "Lineitem sku": raw.StockCode,
            "Billing Name": ("Buyer " + raw.CustomerID).where(first, ""),
            "Phone": "",
            "Shipping Street": "",
            "Shipping Country": raw.Country.where(first, ""),
        }
    )
    path = tmp_path / "orders_export.csv"
    export.to_csv(path, index=False)
    return path, raw


def test_shopify_mapping_pseudonymises_email_ids(settings: Settings, shopify_export) -> None:
    path, raw = shopify_export
    report = load_file(settings, path, mapping=EXAMPLES / "shopify_orders.yaml")
    assert report.table == "orders,order_items"
    with Store.open(settings) as store:
        orders = store.read("orders").set_index("order_id")
        items = store.read("order_items")
        pii = store.read("customer_pii").set_index("customer_id")
        leaked = "@example.com" in _analytics_text(store) or "Buyer " in _analytics_text(store)
    assert len(orders) == raw.InvoiceNo.nunique() and len(items) == len(raw)
    assert not leaked
    email = "buyer" + raw.CustomerID.iloc[0] + "@example.com"
    key = pseudonym(email, settings.secret())
    assert orders.loc["#" + raw.InvoiceNo.iloc[0], "customer_id"] == key
    assert pii.loc[key, "source_id"] == email and pii.loc[key, "email"] == email
    assert pii.loc[key, "name"] == "Buyer " + raw.CustomerID.iloc[0]
    assert (orders.status == "completed").all() and (orders.currency == "GBP").all()
    # Order totals from the export equal the sum of their lines, in pence.
    line_totals = (items.quantity * items.unit_price_minor).groupby(items.order_id).sum()
    pd.testing.assert_series_equal(
        orders.total_minor.sort_index(), line_totals.sort_index(), check_names=False
    )
    assert items.groupby("order_id").line_no.min().eq(1).all()


def test_taobao_gbk_export_with_documented_mapping(settings: Settings, tmp_path: Path) -> None:
    export = pd.DataFrame(
        {
            "订单编号": ["T1001", "T1002", "T1003"],
            "买家会员名": ["小王爱购物", "13800138000", "小王爱购物"],
            "订单创建时间": ["2024-11-11 00:01:02", "2024-11-11 08:00:00", "2024-12-01 10:00:00"],
            "订单状态": ["交易成功", "交易关闭", "退款成功"],
            "买家实际支付金额": ["￥1,299.00", "59.9", "0"],
            "店铺优惠": ["100", "", "5.5"],
            "收货人姓名": ["王小明", "李雷", "王小明"],
            "联系手机": ["13912345678", "13800138000", "13912345678"],
            "收货地址": ["浙江省杭州市西湖区文三路1号", "北京市海淀区", "浙江省杭州市"],
        }
    )
    path = tmp_path / "订单报表.csv"
    export.to_csv(path, index=False, encoding="gbk")
    report = load_file(settings, path, mapping=EXAMPLES / "sycm_orders.yaml")
    assert report.rows_loaded == 3
    with Store.open(settings) as store:
        orders = store.read("orders").set_index("order_id")
        pii = store.read("customer_pii").set_index("customer_id")
        text = _analytics_text(store)
    assert orders.total_minor.to_dict() == {"T1001": 129900, "T1002": 5990, "T1003": 0}
    assert orders.status.to_dict() == {"T1001": "completed", "T1002": "cancelled", "T1003": "returned"}
    assert orders.discount_minor["T1003"] == 550 and orders.channel.eq("天猫").all()
    phone_key = pseudonym("13800138000", settings.secret())
    assert orders.loc["T1002", "customer_id"] == phone_key
    assert pii.loc[phone_key, "source_id"] == "13800138000" and pii.loc[phone_key, "name"] == "李雷"
    # The buyer's account name is personal too: a keyed pseudonym in analytics, the name only in private.
    nick_key = pseudonym("小王爱购物", settings.secret())
    assert orders.loc["T1001", "customer_id"] == orders.loc["T1003", "customer_id"] == nick_key
    assert pii.loc[nick_key, "source_id"] == "小王爱购物"
    assert pii.loc[nick_key, "address"] == "浙江省杭州市"  # the latest address wins
    assert "小王" not in text and "1391234" not in text and "文三路" not in text and "13800138000" not in text
    assert any("2 customer id(s) are personal" in w for w in report.warnings)


def test_headers_matched_by_zh_alias_and_contacts_by_value(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "会员.csv"
    path.write_bytes(
        (
            "会员ID,姓名,手机号,城市,注册时间,备注\n"
            "M001,张伟,13912345678,上海,2023-05-01,zhangwei@163.com\n"
            "M002,李娜,,北京,2023-06-12,lina@qq.com\n"
        ).encode("gbk")
    )
    report = load_file(settings, path, "customers")
    assert any("备注" in w and "email" in w for w in report.warnings)
    with Store.open(settings) as store:
        customers = store.read("customers").set_index("customer_id")
        pii = store.read("customer_pii").set_index("customer_id")
    assert customers.city.to_dict() == {"M001": "上海", "M002": "北京"}
    assert str(customers.created_at["M002"].date()) == "2023-06-12"
    assert pii.loc["M001", ["name", "phone", "email"]].tolist() == ["张伟", "13912345678", "zhangwei@163.com"]
    assert pd.isna(pii.loc["M002", "phone"]) and pd.isna(pii.loc["M001", "source_id"])


def test_mapping_errors_are_user_errors(settings: Settings, tmp_path: Path, retail_slice: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("table: orders\ncolumns:\n  order_id: InvoiceNo\n  colour: Country\n", encoding="utf-8")
    with pytest.raises(UserError, match="has no column"):
        load_file(settings, retail_slice, mapping=bad)
    missing = tmp_path / "missing.yaml"
    missing.write_text(
        "table: orders\ncolumns: {order_id: Invoice, customer_id: CustomerID, ordered_at: InvoiceDate}\n",
        encoding="utf-8",
    )
    with pytest.raises(UserError, match="column 'Invoice' is not in the file"):
        load_file(settings, retail_slice, mapping=missing)


def test_contacts_export_loads_into_the_private_table_only(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("customer_id,姓名,邮箱\nM001,张伟,zhangwei@163.com\n", encoding="utf-8-sig")
    report = load_file(settings, path, "customer_pii")
    assert report.tables == {"customer_pii": 1} and report.table == "customer_pii"
    with Store.open(settings) as store:
        assert store.read("customer_pii").email.tolist() == ["zhangwei@163.com"]
        assert store.count("customers") == 0
