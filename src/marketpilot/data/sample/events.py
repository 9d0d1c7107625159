"""Behaviour events (view → cart → purchase) consistent with the orders.

Every sold line has a purchase event, a cart event and a view before it in the order's session;
buyers also look at substitutes in that session, come back to research items on earlier days, and
every customer browses in sessions that end without an order (abandoned carts included) while
active. Favourite products are viewed again and again, so (customer, product) interactions carry the
repeat structure a recommender learns from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from marketpilot.data.sample import vocab
from marketpilot.data.sample.calendar import ShopCalendar
from marketpilot.data.sample.catalogue import Catalogue
from marketpilot.data.sample.choice import ProductChooser, row_choice
from marketpilot.data.sample.orders import Sales
from marketpilot.data.sample.people import Customers, customer_ids
from marketpilot.data.sample.strings import fixed_ids, pick
from marketpilot.data.sample.tables import build

EVENT_TYPES = ("view", "cart", "purchase")
VIEW, CART, PURCHASE = 0, 1, 2
EVENT_DIGITS = 11
SESSION_DIGITS = 10
RESEARCH_VIEWS_PER_LINE = 0.5
SUBSTITUTE_VIEWS_PER_ORDER = 1.0
ABANDON_CART_RATE = 0.12
# Browsing sessions per operational day while active: proportional to the purchase rate, with a
# floor so that non-buyers and slow buyers still visit.
BROWSE_PER_PURCHASE = 1.5
BROWSE_FLOOR_PER_DAY = 1 / 90
MAX_BROWSE_SESSIONS = 400
EVENT_MIX = np.cumsum(np.array(vocab.EVENT_CHANNEL_MIX), axis=1)
ORDER_CHANNEL_MIX = np.cumsum(np.array(vocab.ORDER_CHANNEL_MIX), axis=1)


@dataclass
class _Part:
    customer: np.ndarray
    ts: np.ndarray
    kind: np.ndarray
    product: np.ndarray
    session: np.ndarray
    channel: np.ndarray


def _part(
    customer: np.ndarray,
    ts: np.ndarray,
    kind: int,
    product: np.ndarray,
    session: np.ndarray,
    channel: np.ndarray,
) -> _Part:
    return _Part(customer, ts, np.full(customer.size, kind, np.int8), product, session, channel)


@dataclass(frozen=True)
class EventBatch:
    table: pa.Table
    n_sessions: int


def make_events(
    rng: np.random.Generator,
    cust: Customers,
    sales: Sales,
    calendar: ShopCalendar,
    catalogue: Catalogue,
    chooser: ProductChooser,
    first_event_number: int,
    first_session_number: int,
) -> EventBatch:
    # Sessions are numbered: one per order, then one per research visit, then one per browse.
    order_channel = row_choice(rng, EVENT_MIX[sales.channel])
    parts = _order_sessions(rng, sales, order_channel)
    parts += _substitutes(rng, cust, sales, calendar, catalogue, chooser, order_channel)
    research, n_research = _research_visits(rng, cust, sales, order_channel, sales.n_orders)
    parts.append(research)
    browsing, n_browse = _browsing(rng, cust, sales, calendar, chooser, sales.n_orders + n_research)
    parts += browsing
    table = _table(parts, cust, catalogue, calendar, first_event_number, first_session_number)
    return EventBatch(table, sales.n_orders + n_research + n_browse)


def _order_sessions(rng: np.random.Generator, sales: Sales, order_channel: np.ndarray) -> list[_Part]:
    """view → cart → purchase of every sold line, in the order's session (< 1 hour)."""
    lo = sales.line_order
    customer, channel = sales.customer[lo], order_channel[lo]
    purchase_ts = sales.ts[lo]
    cart_ts = purchase_ts - rng.integers(30, 2400, lo.size)
    view_ts = cart_ts - rng.integers(10, 900, lo.size)
    return [
        _part(customer, purchase_ts, PURCHASE, sales.product, lo, channel),
        _part(customer, cart_ts, CART, sales.product, lo, channel),
        _part(customer, view_ts, VIEW, sales.product, lo, channel),
    ]


def _substitutes(
    rng: np.random.Generator,
    cust: Customers,
    sales: Sales,
    calendar: ShopCalendar,
    catalogue: Catalogue,
    chooser: ProductChooser,
    order_channel: np.ndarray,
) -> list[_Part]:
    """Alternatives to the order's first item looked at in the same session, sometimes carted."""
    first_line = np.flatnonzero(sales.line_no == 1)
    order = np.repeat(np.arange(sales.n_orders), rng.poisson(SUBSTITUTE_VIEWS_PER_ORDER, sales.n_orders))
    customer = sales.customer[order]
    category = catalogue.category[sales.product[first_line[order]]]
    product = chooser.choose(
        rng, category, calendar.month(sales.ts[order] // 86400), cust.price_sensitivity[customer]
    )
    ts = sales.ts[order] - rng.integers(60, 2400, order.size)
    return _views_and_carts(rng, customer, ts, product, order, order_channel[order])


def _research_visits(
    rng: np.random.Generator, cust: Customers, sales: Sales, order_channel: np.ndarray, first_session: int
) -> tuple[_Part, int]:
    """Views of a bought item on the days before, each its own session, never before sign-up."""
    line = np.repeat(
        np.arange(sales.line_order.size), rng.poisson(RESEARCH_VIEWS_PER_LINE, sales.line_order.size)
    )
    order = sales.line_order[line]
    ts = sales.ts[order] - rng.integers(3600, 10 * 86400, line.size)
    keep = ts >= cust.created_s[sales.customer[order]]
    line, order, ts = line[keep], order[keep], ts[keep]
    session = first_session + np.arange(line.size)
    return _part(
        sales.customer[order], ts, VIEW, sales.product[line], session, order_channel[order]
    ), line.size


def _browsing(
    rng: np.random.Generator,
    cust: Customers,
    sales: Sales,
    calendar: ShopCalendar,
    chooser: ProductChooser,
    first_session: int,
) -> tuple[list[_Part], int]:
    """Sessions without an order while the customer is active: a few views of products to the
    customer's taste (favourites again and again), some carted and abandoned."""
    created_tau = calendar.to_operational(cust.created_s / 86400.0)
    span = np.maximum(sales.active_until - created_tau, 0.0)
    rate = BROWSE_PER_PURCHASE * cust.rate * cust.buyer + BROWSE_FLOOR_PER_DAY
    customer = np.repeat(np.arange(cust.size), np.minimum(rng.poisson(rate * span), MAX_BROWSE_SESSIONS))
    day = calendar.to_day(created_tau[customer] + rng.random(customer.size) * span[customer])
    start = np.maximum(calendar.timestamps(rng, day), cust.created_s[customer] + 60)
    order_channel = row_choice(rng, ORDER_CHANNEL_MIX[cust.acquisition[customer]])
    channel = row_choice(rng, EVENT_MIX[order_channel])

    session = np.repeat(np.arange(customer.size), 1 + rng.poisson(1.5, customer.size))
    viewer = customer[session]
    ts = start[session] + _offsets_within(rng, session)
    category = row_choice(rng, cust.taste[viewer])
    product = chooser.choose(rng, category, calendar.month(day[session]), cust.price_sensitivity[viewer])
    favourite = rng.random(viewer.size) < cust.staple_rate[viewer]
    staple = cust.staples[viewer, rng.integers(0, cust.staples.shape[1], viewer.size)]
    product = np.where(favourite, staple, product)
    parts = _views_and_carts(rng, viewer, ts, product, first_session + session, channel[session])
    return parts, int(customer.size)


def _views_and_carts(
    rng: np.random.Generator,
    customer: np.ndarray,
    ts: np.ndarray,
    product: np.ndarray,
    session: np.ndarray,
    channel: np.ndarray,
) -> list[_Part]:
    """Views, and the abandoned carts that some of them lead to."""
    carted = rng.random(customer.size) < ABANDON_CART_RATE
    cart_ts = ts[carted] + rng.integers(10, 600, int(carted.sum()))
    return [
        _part(customer, ts, VIEW, product, session, channel),
        _part(customer[carted], cart_ts, CART, product[carted], session[carted], channel[carted]),
    ]


def _offsets_within(rng: np.random.Generator, session: np.ndarray) -> np.ndarray:
    """Seconds from the start of the session for consecutive page views (session sorted)."""
    gaps = rng.integers(10, 240, session.size)
    elapsed = np.cumsum(gaps)
    start = np.r_[True, session[1:] != session[:-1]]
    base = np.maximum.accumulate(np.where(start, elapsed - gaps, 0))
    return elapsed - gaps - base


def _table(
    parts: list[_Part],
    cust: Customers,
    catalogue: Catalogue,
    calendar: ShopCalendar,
    first_event_number: int,
    first_session_number: int,
) -> pa.Table:
    customer = np.concatenate([p.customer for p in parts])
    ts = np.concatenate([p.ts for p in parts])
    kind = np.concatenate([p.kind for p in parts])
    product = np.concatenate([p.product for p in parts])
    session = np.concatenate([p.session for p in parts])
    channel = np.concatenate([p.channel for p in parts])
    # The extract ends at midnight after its last day: a browsing session started late that evening
    # loses its views past it, as the orders have nothing past it (seen: a few views on the next day
    # made the audience warn that the events outrun the orders).
    within = ts < calendar.days * 86400
    customer, ts, kind, product = customer[within], ts[within], kind[within], product[within]
    session, channel = session[within], channel[within]
    # Each customer's history in time order; at equal seconds a view precedes a cart and a purchase.
    # One packed int64 key sorts several times faster than a three-key lexsort.
    order = np.argsort((customer << 33) | ((ts + 2**30) << 2) | kind)
    n = order.size
    return build(
        "events",
        {
            "event_id": fixed_ids("E", np.arange(first_event_number, first_event_number + n), EVENT_DIGITS),
            "customer_id": customer_ids(cust.number[customer[order]]),
            "event_type": pick(list(EVENT_TYPES), kind[order]),
            "occurred_at": calendar.epoch + ts[order],
            "product_id": pick(catalogue.ids, product[order]),
            "session_id": fixed_ids("S", first_session_number + session[order], SESSION_DIGITS),
            "channel": pick(list(vocab.EVENT_CHANNELS), channel[order]),
        },
    )
