"""PII detection on real-world phrasings: what must be caught, and marketing text that must not be."""

from __future__ import annotations

import pytest

from marketpilot.privacy.pii import contains_pii, find_pii, mask_pii


def _luhn_complete(prefix: str) -> str:
    for check in "0123456789":
        digits = prefix + check
        total = sum(
            (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 else d
            for i, d in enumerate(int(c) for c in reversed(digits))
        )
        if total % 10 == 0:
            return digits
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("text", "kind", "secret"),
    [
        ("有问题请联系13812345678，谢谢", "phone", "13812345678"),
        ("电话：+86 138-1234-5678", "phone", "138-1234-5678"),
        ("座机 010-62345678 工作日可打", "phone", "010-62345678"),
        ("Call me on +44 20 7946 0958 after six", "phone", "7946 0958"),
        ("邮箱 zhang.san@example.com 收发票", "email", "zhang.san@example.com"),
        ("I wrote to jane_doe+shop@mail.co.uk twice", "email", "jane_doe+shop@mail.co.uk"),
        ("身份证号11010519491231002X办理", "cn_id", "11010519491231002X"),
        ("寄到浙江省杭州市西湖区文三路478号5栋302室，谢谢", "address", "文三路478号"),
        ("Ship to 221 Baker Street, Apt 2B please", "address", "221 Baker Street"),
        ("Call (415) 555-0123 after six", "phone", "555-0123"),
        ("or 415-555-0123 on weekdays", "phone", "415-555-0123"),
        ("台湾手机 0912-345-678 联络", "phone", "0912-345-678"),
        ("电话１３８１２３４５６７８（全角）", "phone", "１３８１２３４５６７８"),
        ("邮箱 ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ", "email", "ｚｈａｎｇ＠ｅｘａｍｐｌｅ"),
        ("加微信zhang_san88领券", "im_account", "zhang_san88"),
        ("我的qq号是 987654321，有事找我", "im_account", "987654321"),
        ("vx: abcdef1 拉你进群", "im_account", "abcdef1"),
        ("收件人：张小明，电话打不通", "name", "张小明"),
        ("收货人王小明的地址写错了", "name", "王小明"),
        ("联系人 欧阳娜娜 周末在家", "name", "欧阳娜娜"),
        ("我叫李娜，想换个颜色", "name", "李娜"),
        ("My name is Jane Doe and I ordered twice", "name", "Jane Doe"),
        ("Customer name: John Smith", "name", "John Smith"),
        ("Name: Mary Lee, order 20241111001", "name", "Mary Lee"),
    ],
)
def test_finds_and_masks(text: str, kind: str, secret: str) -> None:
    matches = find_pii(text)
    assert kind in [m.kind for m in matches]
    for m in matches:
        assert text[m.start : m.end] == m.text  # spans of the text as written, full-width forms too
    masked = mask_pii(text)
    assert secret not in masked
    assert not contains_pii(masked)


def test_bank_card_needs_luhn() -> None:
    valid = _luhn_complete("622202123456789012")
    invalid = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    assert [m.kind for m in find_pii(f"卡号{valid}")] == ["bank_card"]
    assert find_pii(f"卡号{invalid}") == []


def test_id_number_needs_checksum() -> None:
    assert find_pii("编号110105194912310021") == []  # wrong check digit


@pytest.mark.parametrize(
    "text",
    [
        "原价399现价319，满300减50，立减80元",
        "双11限时5折，2024年11月11日24:00截止，订单号20241111001",
        "$39.90 today only, save 20% — SKU 85123A",
        "买二送一，第2件半价，库存仅剩1000件",
        "最近很多顾客回购，评分4.9分",
        "营业时间 09:00-21:00，2024-11-11 双11 开抢",
        "微信支付满100减10，QQ音乐会员同享，关注微信公众号领券",
        "WX-1200 吸尘器与 wx123456 同款",
        # a company's hotline is not personal data: the shop's own 客服热线 must reach its customers
        "客服热线 400-820-8820，全国统一 800-810-8888",
        "Questions? Call us toll-free at (800) 555-0199 or 1-888-555-0100",
        # a name is only a name where the text says so, and must start with a surname
        "我叫了外卖，快递员张师傅送得很快，李四的快递也到了",
        "收件人是我妈，包装很好",
        "Product name: Blue Kettle, brand name: Nordic Home",
        "My name is not important, the kettle is great",
    ],
)
def test_marketing_text_is_not_pii(text: str) -> None:
    assert find_pii(text) == []
    assert mask_pii(text) == text
