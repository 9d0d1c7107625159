"""Privacy at the door: which customer ids become keyed pseudonyms, where the originals go, and that
reloads and several exports of one shop agree on the keys."""

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

OPAQUE = ["17850", "00004", "M001", "CUST-00042", "guest:536365", "9f86d081884c7d659a2feaa0c55ad015",
          "123e4567-e89b-12d3-a456-426614174000"]  # fmt: skip
PERSONAL = ["小王爱购物", "tom.smith", "jd_5a8c7e3f", "buyer@example.com", "13800138000", "Anna Müller"]


def _orders_csv(path: Path, ids: list[str]) -> Path:
    rows = "".join(f"O{i},{cid},2024-11-11 10:00:00,9.90\n" for i, cid in enumerate(ids))
    path.write_text("订单编号,买家昵称,下单时间,实付金额\n" + rows, encoding="utf-8")
    return path


def _analytics_text(store: Store) -> str:
    return " ".join(store.read(t).astype(str).to_csv(index=False) for t in ("customers", "orders"))


def test_account_names_are_pseudonymised_and_opaque_ids_kept(settings: Settings, tmp_path: Path) -> None:
    path = _orders_csv(tmp_path / "orders.csv", OPAQUE + PERSONAL)
    report = load_file(settings, path, "orders")
    secret = settings.secret()
    with Store.open(settings) as store:
        ids = store.read("orders").set_index("order_id").customer_id
        pii = store.read("customer_pii").set_index("customer_id")
        text = _analytics_text(store)
    expected = [*OPAQUE, *(pseudonym(p, secret) for p in PERSONAL)]
    assert [ids[f"O{i}"] for i in range(len(expected))] == expected
    assert sorted(pii.source_id) == sorted(PERSONAL)  # the way back lives only in the private table
    assert pii.loc[pseudonym("buyer@example.com", secret), "email"] == "buyer@example.com"
    assert pii.loc[pseudonym("13800138000", secret), "phone"] == "13800138000"
    assert not any(p in text for p in PERSONAL)
    assert any(f"{len(PERSONAL)} customer id(s) are personal" in w for w in report.warnings)


def test_mapping_declares_ids_personal_or_opaque(settings: Settings, tmp_path: Path) -> None:
    path = _orders_csv(tmp_path / "orders.csv", ["tb123456789", "VIP_gold_7", "a@b.cn"])
    base = "table: orders\ncolumns: {order_id: 订单编号, ordered_at: 下单时间, total_minor: 实付金额, "
    declared = tmp_path / "personal.yaml"
    declared.write_text(base + "customer_id: {from: 买家昵称, personal: true}}\n", encoding="utf-8")
    opaque = tmp_path / "opaque.yaml"
    opaque.write_text(base + "customer_id: {from: 买家昵称, personal: false}}\n", encoding="utf-8")
    secret = settings.secret()

    load_file(settings, path, mapping=declared)
    with Store.open(settings) as store:
        ids = store.read("orders").sort_values("order_id").customer_id.tolist()
    # A Taobao default account name looks like a code; the mapping says what it is.
    assert ids == [pseudonym(v, secret) for v in ("tb123456789", "VIP_gold_7", "a@b.cn")]

    load_file(settings, path, mapping=opaque)
    with Store.open(settings) as store:
        ids = store.read("orders").sort_values("order_id").customer_id.tolist()
    # Declared opaque, codes stay as written; an e-mail address never does.
    assert ids == ["tb123456789", "VIP_gold_7", pseudonym("a@b.cn", secret)]

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(base + "customer_id: 买家昵称, channel: {value: x, personal: true}}\n", encoding="utf-8")
    with pytest.raises(UserError, match="`personal` applies to customer_id only"):
        load_file(settings, path, mapping=wrong)


def test_sycm_reload_is_idempotent_and_contacts_export_joins_the_same_key(
    settings: Settings, tmp_path: Path, store_snapshot
) -> None:
    orders = pd.DataFrame(
        {
            "订单编号": ["T1", "T2"],
            "买家会员名": ["小王爱购物", "tb_88"],
            "订单创建时间": ["2024-11-11 00:01:02", "2024-11-12 09:00:00"],
            "订单状态": ["交易成功", "交易成功"],
            "买家实际支付金额": ["99", "10"],
            "店铺优惠": ["", ""],
            "收货人姓名": ["王小明", "赵六"],
            "联系手机": ["13912345678", ""],
            "收货地址": ["浙江省杭州市", ""],
        }
    )
    path = tmp_path / "订单报表.csv"
    orders.to_csv(path, index=False, encoding="gbk")
    load_file(settings, path, mapping=EXAMPLES / "sycm_orders.yaml")
    before = store_snapshot(settings)
    again = load_file(settings, path, mapping=EXAMPLES / "sycm_orders.yaml")
    assert store_snapshot(settings) == before and again.rows_loaded == 2

    # A CRM export keyed by the same account names adds e-mails to the same private rows.
    contacts = tmp_path / "会员.csv"
    contacts.write_text("买家会员名,邮箱\n小王爱购物,xw@163.com\n", encoding="utf-8")
    mapping = tmp_path / "contacts.yaml"
    mapping.write_text(
        "table: customer_pii\ncolumns: {customer_id: {from: 买家会员名, personal: true}, email: 邮箱}\n",
        encoding="utf-8",
    )
    load_file(settings, contacts, mapping=mapping)
    load_file(settings, path, mapping=EXAMPLES / "sycm_orders.yaml")  # and orders again, after it
    key = pseudonym("小王爱购物", settings.secret())
    with Store.open(settings) as store:
        pii = store.read("customer_pii").set_index("customer_id")
        assert store.read("orders").set_index("order_id").customer_id["T1"] == key
    assert pii.loc[key, ["name", "phone", "email", "source_id"]].tolist() == [
        "王小明", "13912345678", "xw@163.com", "小王爱购物",
    ]  # fmt: skip
    assert len(pii) == 2
