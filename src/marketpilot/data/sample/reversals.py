"""Cancellations and returns, and the orders / order_items tables of sales plus reversals.

Sales keep status 'completed'. Cancellations (within hours) and returns (days later) are separate
reversal orders ('C…' / 'R…' + the sale's number) with negative quantities and totals, as in the
Online Retail data, so net revenue is the plain sum of `total_minor`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from marketpilot.data.sample import vocab
from marketpilot.data.sample.calendar import ShopCalendar
from marketpilot.data.sample.catalogue import Catalogue
from marketpilot.data.sample.orders import Sales
from marketpilot.data.sample.people import Customers, customer_ids
from marketpilot.data.sample.strings import fixed_ids, pick
from marketpilot.data.sample.tables import build

ORDER_DIGITS = 10
CANCEL_RATE = 0.025
RETURN_RATE = np.array([c.return_rate for c in vocab.CATEGORIES])


@dataclass
class Reversals:
    cancelled: np.ndarray  # per sale: cancelled within hours (all lines reversed)
    returned: np.ndarray  # per line: returned days later
    cancel_ts: np.ndarray  # per sale
    return_ts: np.ndarray  # per sale (used where any of its lines is returned)


def simulate_reversals(
    rng: np.random.Generator, sales: Sales, catalogue: Catalogue, calendar: ShopCalendar
) -> Reversals:
    window_end = calendar.days * 86400
    cancel_ts = sales.ts + rng.integers(300, 6 * 3600, sales.n_orders)
    cancelled = (rng.random(sales.n_orders) < CANCEL_RATE) & (cancel_ts < window_end)
    return_ts = sales.ts + rng.integers(3 * 86400, 15 * 86400, sales.n_orders)
    # Poor products come back more often; clothes and shoes most (尺码).
    risk = RETURN_RATE[catalogue.category[sales.product]] * (1.8 - 1.5 * catalogue.quality[sales.product])
    returned = (
        (rng.random(sales.product.size) < risk)
        & ~cancelled[sales.line_order]
        & (return_ts[sales.line_order] < window_end)
    )
    return Reversals(cancelled, returned, cancel_ts, return_ts)


def order_tables(
    sales: Sales,
    reversals: Reversals,
    cust: Customers,
    catalogue: Catalogue,
    calendar: ShopCalendar,
    first_order_number: int,
) -> tuple[pa.Table, pa.Table]:
    """(orders, order_items) for the sales and their reversals."""
    number = np.arange(first_order_number, first_order_number + sales.n_orders, dtype=np.int64)
    gross = sales.quantity * sales.unit_price
    order_gross = np.bincount(sales.line_order, weights=gross, minlength=sales.n_orders).astype(np.int64)

    # Cancellations reverse every line; returns reverse the returned lines, renumbered from 1.
    c_lines = reversals.cancelled[sales.line_order]
    r_lines = reversals.returned
    r_orders = np.bincount(sales.line_order[r_lines], minlength=sales.n_orders) > 0
    r_line_no = _renumber(sales.line_order[r_lines])
    r_gross = np.bincount(sales.line_order[r_lines], weights=gross[r_lines], minlength=sales.n_orders).astype(
        np.int64
    )
    r_discount = np.bincount(
        sales.line_order[r_lines], weights=sales.discount[r_lines], minlength=sales.n_orders
    ).astype(np.int64)

    kinds = (
        ("O", "completed", np.ones(sales.n_orders, bool), sales.ts, order_gross, sales.order_discount),
        ("C", "cancelled", reversals.cancelled, reversals.cancel_ts, -order_gross, -sales.order_discount),
        ("R", "returned", r_orders, reversals.return_ts, -r_gross, -r_discount),
    )
    orders = []
    for prefix, status, mask, ts, total_gross, discount in kinds:
        n = int(mask.sum())
        orders.append(
            build(
                "orders",
                {
                    "order_id": fixed_ids(prefix, number[mask], ORDER_DIGITS),
                    "customer_id": customer_ids(cust.number[sales.customer[mask]]),
                    "ordered_at": calendar.epoch + ts[mask],
                    "status": pa.array(np.full(n, status)),
                    "channel": pick(list(vocab.ORDER_CHANNELS), sales.channel[mask]),
                    "currency": pa.array(np.full(n, "CNY")),
                    "total_minor": total_gross[mask] - discount[mask],
                    "discount_minor": discount[mask],
                    "country": pa.array(np.full(n, "CN")),
                },
            )
        )

    line_kinds = (
        ("O", np.ones(sales.line_order.size, bool), sales.line_no, 1),
        ("C", c_lines, sales.line_no[c_lines], -1),
        ("R", r_lines, r_line_no, -1),
    )
    items = []
    for prefix, mask, line_no, sign in line_kinds:
        n = int(mask.sum())
        items.append(
            build(
                "order_items",
                {
                    "order_id": fixed_ids(prefix, number[sales.line_order[mask]], ORDER_DIGITS),
                    "line_no": line_no.astype(np.int32),
                    "product_id": pick(catalogue.ids, sales.product[mask]),
                    "quantity": (sign * sales.quantity[mask]).astype(np.int32),
                    "unit_price_minor": sales.unit_price[mask],
                    "currency": pa.array(np.full(n, "CNY")),
                    "discount_minor": sign * sales.discount[mask],
                },
            )
        )
    return pa.concat_tables(orders), pa.concat_tables(items)


def _renumber(group: np.ndarray) -> np.ndarray:
    """1, 2, … within runs of equal (sorted) group values."""
    if group.size == 0:
        return group.astype(np.int64)
    start = np.r_[True, group[1:] != group[:-1]]
    index = np.arange(group.size)
    return index - np.maximum.accumulate(np.where(start, index, 0)) + 1
