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
from marketpilot.data.sample.orders import Sales, _months
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
    event_mix = np.cumsum(np.array(vocab.EVENT_CHANNEL_MIX), axis=1)
    order_channel_mix = np.cumsum(np.array(vocab.ORDER_CHANNEL_MIX), axis=1)
    parts: list[_Part] = []

    # The order session: view → cart → purchase for each line.
    lo = sales.line_order
    line_cust = sales.customer[lo]
    order_channel = row_choice(rng, event_mix[sales.channel])
    purchase_ts = sales.ts[lo]
    cart_ts = purchase_ts - rng.integers(30, 2400, lo.size)
    view_ts = cart_ts - rng.integers(10, 900, lo.size)
    channel = order_channel[lo]
    parts.append(_part(line_cust, purchase_ts, PURCHASE, sales.product, lo, channel))
    parts.append(_part(line_cust, cart_ts, CART, sales.product, lo, channel))
    parts.append(_part(line_cust, view_ts, VIEW, sales.product, lo, channel))

    # Substitutes looked at in the same session, sometimes carted and left.
    order_first_line = np.flatnonzero(sales.line_no == 1)
    n_subs = rng.poisson(SUBSTITUTE_VIEWS_PER_ORDER, sales.n_orders)
    sub_order = np.repeat(np.arange(sales.n_orders), n_subs)
    sub_cust = sales.customer[sub_order]
    sub_category = catalogue.category[sales.product[order_first_line[sub_order]]]
    sub_month = _months(calendar, sales.ts[sub_order] // 86400)
    sub_product = chooser.choose(rng, sub_category, sub_month, cust.price_sensitivity[sub_cust])
    sub_ts = sales.ts[sub_order] - rng.integers(60, 2400, sub_order.size)
    parts.extend(_views_and_carts(rng, sub_cust, sub_ts, sub_product, sub_order, order_channel[sub_order]))

    # Research visits on earlier days, each its own session; never before the sign-up.
    n_research = rng.poisson(RESEARCH_VIEWS_PER_LINE, lo.size)
    research_line = np.repeat(np.arange(lo.size), n_research)
    research_ts = purchase_ts[research_line] - rng.integers(3600, 10 * 86400, research_line.size)
    keep = research_ts >= cust.created_s[line_cust[research_line]]
    research_line, research_ts = research_line[keep], research_ts[keep]
    n_sessions = sales.n_orders
    research_session = n_sessions + np.arange(research_line.size)
    n_sessions += research_line.size
    parts.append(
        _part(
            line_cust[research_line],
            research_ts,
            VIEW,
            sales.product[research_line],
            research_session,
            channel[research_line],
        )
    )

    # Browsing sessions without an order while the customer is active.
    created_tau = calendar.to_operational(cust.created_s / 86400.0)
    span = np.maximum(sales.active_until - created_tau, 0.0)
    rate = BROWSE_PER_PURCHASE * cust.rate * cust.buyer + BROWSE_FLOOR_PER_DAY
    n_browse = np.minimum(rng.poisson(rate * span), MAX_BROWSE_SESSIONS)
    b_cust = np.repeat(np.arange(cust.size), n_browse)
    b_tau = created_tau[b_cust] + rng.random(b_cust.size) * span[b_cust]
    b_day = calendar.to_day(b_tau)
    b_ts = np.maximum(calendar.timestamps(rng, b_day), cust.created_s[b_cust] + 60)
    b_channel = row_choice(rng, event_mix[row_choice(rng, order_channel_mix[cust.acquisition[b_cust]])])
    b_session = n_sessions + np.arange(b_cust.size)
    n_sessions += b_cust.size
    n_views = 1 + rng.poisson(1.5, b_cust.size)
    v_session = np.repeat(np.arange(b_cust.size), n_views)
    v_cust = b_cust[v_session]
    v_ts = b_ts[v_session] + _offsets_within(rng, v_session)
    category = row_choice(rng, cust.taste[v_cust])
    v_product = chooser.choose(
        rng, category, _months(calendar, b_day[v_session]), cust.price_sensitivity[v_cust]
    )
    favourite = rng.random(v_cust.size) < cust.staple_rate[v_cust]
    staple = cust.staples[v_cust, rng.integers(0, cust.staples.shape[1], v_cust.size)]
    v_product = np.where(favourite, staple, v_product)
    parts.extend(_views_and_carts(rng, v_cust, v_ts, v_product, b_session[v_session], b_channel[v_session]))

    table = _table(parts, cust, catalogue, calendar, first_event_number, first_session_number)
    return EventBatch(table, n_sessions)


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
    # Each customer's history in time order; at equal seconds a view precedes a cart and a purchase.
    order = np.lexsort((kind, ts, customer))
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
