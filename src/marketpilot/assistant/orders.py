"""The asking customer's own orders as passages. The caller vouches for `customer_id` (a signed-in chat
session); an order number in the question that belongs to someone else is never shown to the model."""

from __future__ import annotations

import re
from collections.abc import Collection

import pandas as pd

from marketpilot.assistant.knowledge import Lang, Passage, money_text
from marketpilot.config import Settings

# Shop order numbers: a short letter prefix and at least six digits (O0000000001, T20241111…, 2024…)
ORDER_NUMBER = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{0,4}\d{6,}(?![0-9])")
_STATUS = {
    "zh": {"completed": "已完成", "cancelled": "已取消", "returned": "已退货"},
    "en": {"completed": "completed", "cancelled": "cancelled", "returned": "returned"},
}


def named_orders(question: str, products: Collection[str] = ()) -> list[str]:
    """The order numbers a question names; a catalogue product id of the same shape (P000001) is not one."""
    return [n for n in dict.fromkeys(ORDER_NUMBER.findall(question)) if n not in products]


def order_passages(
    settings: Settings,
    customer_id: str,
    question: str,
    lang: Lang,
    *,
    recent: int = 3,
    products: Collection[str] = (),
) -> tuple[list[Passage], list[str]]:
    """(passages of the customer's orders the question names, else of their `recent` latest orders;
    order numbers the question names that are not this customer's). `products`: the catalogue's ids."""
    from marketpilot.data.store import DB_FILE, Store

    if not (settings.home_dir / DB_FILE).exists():
        return [], named_orders(question, products)
    with Store.open(settings, read_only=True) as store:
        orders = store.query(
            "SELECT * FROM orders WHERE customer_id = ? ORDER BY ordered_at DESC, order_id", [customer_id]
        )
        items = store.query(
            "SELECT i.order_id, i.quantity, i.unit_price_minor, i.currency, p.name "
            "FROM order_items i JOIN orders o USING (order_id) LEFT JOIN products p USING (product_id) "
            "WHERE o.customer_id = ? ORDER BY i.order_id, i.line_no",
            [customer_id],
        )
    named = named_orders(question)  # a product id that is also one of their orders still finds it
    own = set(orders.order_id.astype(str))
    foreign = [n for n in named if n not in own and n not in products]
    chosen = orders[orders.order_id.isin(named)] if set(named) & own else orders.head(recent)
    return [
        _passage(row, items[items.order_id == row["order_id"]], lang) for _, row in chosen.iterrows()
    ], foreign


def _passage(order: pd.Series, items: pd.DataFrame, lang: Lang) -> Passage:
    when = pd.Timestamp(order["ordered_at"]).strftime("%Y-%m-%d %H:%M")
    status = _STATUS[lang].get(str(order["status"]), str(order["status"]))
    total = money_text(order["total_minor"], order["currency"], lang)
    lines = [
        f"{row['name'] or '?'} ×{int(row['quantity'])} "
        f"({money_text(row['unit_price_minor'], row['currency'], lang)})"
        for _, row in items.iterrows()
    ]
    number = order["order_id"]
    if lang == "zh":
        text = f"订单 {number}：下单时间 {when}，状态 {status}，实付 {total}；商品：{'；'.join(lines)}"
    else:
        text = f"Order {number}: placed {when}, status {status}, paid {total}; items: {'; '.join(lines)}"
    return Passage(
        id=f"order:{number}", kind="order", title=str(number), text=text, status=str(order["status"])
    )
