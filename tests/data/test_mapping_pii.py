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


def test_jd_gbk_export_with_documented_mapping(settings: Settings, tmp_path: Path, store_snapshot) -> None:
    """京东 商家后台 订单导出: one row per SKU, order fields repeated, GBK, the buyer's JD account."""
    header = (
        "订单号 商品ID 商品名称 订购数量 下单时间 京东价 订单金额 应付金额 订单状态 "
        "下单帐号 客户姓名 客户地址 联系电话 订单备注"
    )
    zhang_info = ["jd_5a8c7e3f", "张三", "北京市朝阳区建国路88号", "13812345678"]
    rows = [
        ["280011", "100012043978", "华为 FreeBuds 5i 耳机", "1", "2024-11-11 00:05:12", "399.00", "657.00",
         "637.00", "完成", *zhang_info, ""],
        ["280011", "100008348542", "小米 充电宝 20000mAh", "2", "2024-11-11 00:05:12", "129.00", "657.00",
         "637.00", "完成", *zhang_info, ""],
        ["280012", "100012043978", "华为 FreeBuds 5i 耳机", "1", "2024-11-12 09:30:00", "399.00", "399.00",
         "399.00", "已取消", "快乐的小熊", "李四", "上海市浦东新区", "13987654321", ""],
        ["280013", "100035246702", "三只松鼠 坚果礼盒", "3", "2024-06-18 20:00:00", "￥88.80", "266.40",
         "266.40", "等待确认收货", *zhang_info, "周末送货"],
    ]  # fmt: skip
    export = pd.DataFrame(rows, columns=header.split())
    path = tmp_path / "京东订单.csv"
    export.to_csv(path, index=False, encoding="gbk")
    report = load_file(settings, path, mapping=EXAMPLES / "jd_orders.yaml")
    assert report.encoding == "gb18030" and report.table == "products,orders,order_items"
    with Store.open(settings) as store:
        orders = store.read("orders").set_index("order_id")
        items = store.read("order_items").set_index(["order_id", "line_no"])
        products = store.read("products").set_index("product_id")
        pii = store.read("customer_pii").set_index("customer_id")
        text = _analytics_text(store)
    secret = settings.secret()
    zhang, li = pseudonym("jd_5a8c7e3f", secret), pseudonym("快乐的小熊", secret)
    assert orders.customer_id.to_dict() == {"280011": zhang, "280012": li, "280013": zhang}
    assert orders.total_minor.to_dict() == {"280011": 63700, "280012": 39900, "280013": 26640}
    assert orders.status.to_dict() == {"280011": "completed", "280012": "cancelled", "280013": "completed"}
    assert orders.channel.eq("京东").all() and orders.currency.eq("CNY").all()
    assert items.loc[("280011", 2), ["product_id", "quantity", "unit_price_minor"]].tolist() == [
        "100008348542", 2, 12900,
    ]  # fmt: skip
    assert len(items) == 4 and products.loc["100035246702", "price_minor"] == 8880
    assert products.loc["100012043978", "name"] == "华为 FreeBuds 5i 耳机"
    assert pii.loc[zhang, ["name", "phone", "source_id"]].tolist() == ["张三", "13812345678", "jd_5a8c7e3f"]
    assert "jd_5a8c" not in text and "小熊" not in text and "张三" not in text and "138123" not in text
    before = store_snapshot(settings)
    load_file(settings, path, mapping=EXAMPLES / "jd_orders.yaml")
    assert store_snapshot(settings) == before
