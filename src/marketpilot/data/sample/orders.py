"""Sales: BG/NBD-style purchasing in seasonal time, baskets, bought-together pairs and coupons.

Cancellations and returns of these sales are simulated in reversals.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from marketpilot.data.sample import vocab
from marketpilot.data.sample.calendar import ShopCalendar
from marketpilot.data.sample.catalogue import Catalogue
from marketpilot.data.sample.choice import ProductChooser, row_choice
from marketpilot.data.sample.people import Customers

MAX_LINES = 12
COMPANION_RATE = 0.25
REPLENISH = np.array([c.replenish for c in vocab.CATEGORIES]) / max(c.replenish for c in vocab.CATEGORIES)
# Extra units per line by category: groceries and toiletries are bought by the several.
EXTRA_UNITS = {"食品": 0.5, "个护": 0.4, "母婴": 0.5, "美妆": 0.2, "服饰": 0.15}
EXTRA_UNITS_BY_CATEGORY = np.array([EXTRA_UNITS.get(c.name, 0.05) for c in vocab.CATEGORIES])
# Coupons: (threshold, amount off) in fen. Everyday 满减 coupons, and the festival 每满300减50.
EVERYDAY_COUPONS = np.array([[9_900, 1_000], [19_900, 3_000], [29_900, 5_000], [49_900, 8_000]])
FESTIVAL_STEP = (30_000, 5_000)
NEW_CUSTOMER_COUPON = 1_000


@dataclass
class Sales:
    """Sales of one chunk of customers (reversals are derived when writing)."""

    customer: np.ndarray  # per order: local customer index
    ts: np.ndarray  # per order: seconds since the calendar epoch
    channel: np.ndarray  # per order: index into vocab.ORDER_CHANNELS
    line_order: np.ndarray  # per line: order index
    line_no: np.ndarray  # per line: 1..
    product: np.ndarray  # per line: product index
    quantity: np.ndarray
    unit_price: np.ndarray
    discount: np.ndarray  # per line, fen
    active_until: np.ndarray  # per customer: operational time when browsing stops
    alive_at_end: np.ndarray  # per customer: a buyer who has not dropped out by the window's end

    @property
    def n_orders(self) -> int:
        return int(self.ts.size)

    @property
    def order_discount(self) -> np.ndarray:
        return np.bincount(self.line_order, weights=self.discount, minlength=self.n_orders).astype(np.int64)


def simulate_sales(
    rng: np.random.Generator,
    cust: Customers,
    calendar: ShopCalendar,
    catalogue: Catalogue,
    chooser: ProductChooser,
) -> Sales:
    order_cust, order_tau, active_until, alive_at_end = _purchase_times(rng, cust, calendar)
    day = calendar.to_day(order_tau)
    ts = calendar.timestamps(rng, day)
    order_cust, ts, day = _sorted_by_customer(order_cust, ts, day)
    first = np.r_[True, order_cust[1:] != order_cust[:-1]]
    # A buyer signs up shortly before the session of the first order (which starts < 1 h before it).
    created = ts[first] - rng.integers(3600, 7200, first.sum())
    cust.created_s[order_cust[first]] = np.minimum(cust.created_s[order_cust[first]], created)

    month = calendar.month(day)
    festival = calendar.festival(day).astype(float)
    n_lines = 1 + rng.poisson(cust.basket[order_cust] + 0.8 * festival)
    n_lines = np.minimum(n_lines, MAX_LINES)
    line_order = np.repeat(np.arange(order_cust.size), n_lines)
    starts = np.cumsum(n_lines) - n_lines
    line_no = np.arange(line_order.size) - starts[line_order] + 1
    line_cust = order_cust[line_order]

    category = row_choice(rng, cust.taste[line_cust])
    product = chooser.choose(rng, category, month[line_order], cust.price_sensitivity[line_cust])
    # Re-buys of a favourite, mostly consumables.
    slot = rng.integers(0, cust.staples.shape[1], line_order.size)
    staple = cust.staples[line_cust, slot]
    rebuy = (
        rng.random(line_order.size)
        < 2.0 * cust.staple_rate[line_cust] * REPLENISH[catalogue.category[staple]]
    )
    product = np.where(rebuy, staple, product)
    # Some further lines are the first item's usual companion (bought together).
    together = (line_no > 1) & (rng.random(line_order.size) < COMPANION_RATE)
    product = np.where(together, catalogue.companion[product[starts][line_order]], product)

    extra = EXTRA_UNITS_BY_CATEGORY[catalogue.category[product]] + 0.3 * festival[line_order]
    quantity = 1 + rng.poisson(extra)
    unit_price = catalogue.price[product]
    gross = quantity * unit_price
    order_gross = np.bincount(line_order, weights=gross, minlength=order_cust.size).astype(np.int64)
    order_discount = _coupons(rng, order_gross, first, festival, cust.price_sensitivity[order_cust])
    discount = _allocate(order_discount, order_gross, gross, line_order, line_no)

    channel_mix = np.cumsum(np.array(vocab.ORDER_CHANNEL_MIX), axis=1)
    channel = row_choice(rng, channel_mix[cust.acquisition[order_cust]])
    return Sales(
        customer=order_cust,
        ts=ts,
        channel=channel,
        line_order=line_order,
        line_no=line_no,
        product=product,
        quantity=quantity.astype(np.int64),
        unit_price=unit_price,
        discount=discount,
        active_until=active_until,
        alive_at_end=alive_at_end,
    )


def _purchase_times(
    rng: np.random.Generator, cust: Customers, calendar: ShopCalendar
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(customer, operational time) of every purchase, when each customer stops browsing, and
    whether each is still an active buyer at the end.

    The loop runs over purchase rounds, not customers: each round advances every still-active buyer
    by one exponential gap, so it ends after as many rounds as the busiest buyer has orders."""
    end = calendar.cumulative[-1]
    created_tau = calendar.to_operational(cust.created_s / 86400.0)
    # Non-buyers and buyers who will drop out browse for a while before disappearing.
    active_until = np.minimum(created_tau + rng.exponential(45.0, cust.size), end)
    first_tau = created_tau + rng.exponential(1.5, cust.size)
    alive = np.flatnonzero(cust.buyer & (first_tau < end))
    tau = first_tau[alive]
    customers, times = [], []
    alive_at_end = np.zeros(cust.size, bool)
    while alive.size:
        customers.append(alive)
        times.append(tau)
        active_until[alive] = np.minimum(tau + rng.exponential(30.0, alive.size), end)
        stays = rng.random(alive.size) >= cust.dropout[alive]
        alive, tau = alive[stays], tau[stays]
        tau = tau + rng.exponential(1.0, alive.size) / cust.rate[alive]
        still = tau < end
        active_until[alive[~still]] = end
        alive_at_end[alive[~still]] = True
        alive, tau = alive[still], tau[still]
    if not customers:
        return np.zeros(0, np.int64), np.zeros(0), active_until, alive_at_end
    return np.concatenate(customers), np.concatenate(times), active_until, alive_at_end


def _sorted_by_customer(order_cust: np.ndarray, ts: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, ...]:
    order = np.lexsort((ts, order_cust))
    return order_cust[order], ts[order], day[order]


def _coupons(
    rng: np.random.Generator,
    gross: np.ndarray,
    first: np.ndarray,
    festival: np.ndarray,
    price_sensitivity: np.ndarray,
) -> np.ndarray:
    uses = rng.random(gross.size) < 0.05 + 0.6 * price_sensitivity + 0.35 * festival
    kind = rng.integers(0, len(EVERYDAY_COUPONS), gross.size)
    threshold, amount = EVERYDAY_COUPONS[kind, 0], EVERYDAY_COUPONS[kind, 1]
    everyday = np.where(gross >= threshold, amount, 0)
    step, off = FESTIVAL_STEP
    festive = (gross // step) * off
    discount = np.where(festival > 0, festive, everyday) * uses
    # 新人券: most first orders get a small no-threshold coupon.
    welcome = first & (rng.random(gross.size) < 0.6)
    discount = np.where(welcome & (discount == 0), np.minimum(NEW_CUSTOMER_COUPON, gross // 2), discount)
    return np.minimum(discount, gross // 2).astype(np.int64)


def _allocate(
    order_discount: np.ndarray,
    order_gross: np.ndarray,
    gross: np.ndarray,
    line_order: np.ndarray,
    line_no: np.ndarray,
) -> np.ndarray:
    """Split each order's discount over its lines by value; the rounding rest goes to line 1."""
    share = np.floor(order_discount[line_order] * gross / np.maximum(order_gross[line_order], 1)).astype(
        np.int64
    )
    rest = order_discount - np.bincount(line_order, weights=share, minlength=order_discount.size).astype(
        np.int64
    )
    share[line_no == 1] += rest
    return share
