"""A small shop for campaign tests: customers, contact details and intel outputs in a home."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketpilot.config import Settings
from marketpilot.data.store import Store

SURNAMES = np.array(list("王李张刘陈杨黄赵吴周"))
GIVEN = np.array(["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军"])
SEGMENTS = np.array(["高价值", "沉睡客户", "新客"])


def build_shop(settings: Settings, n: int = 2000, seed: int = 7) -> pd.DataFrame:
    """Write n customers (with PII in the private table) and intel's segment/propensity/rfm tables."""
    rng = np.random.default_rng(seed)
    ids = pd.Series([f"C{i:06d}" for i in range(n)])
    has_email = rng.random(n) < 0.8
    has_phone = rng.random(n) < 0.7
    names = pd.Series(SURNAMES[rng.integers(0, 10, n)]) + pd.Series(GIVEN[rng.integers(0, 10, n)])
    with Store.open(settings) as store, store.transaction():
        store.upsert("customers", pd.DataFrame({"customer_id": ids, "city": "上海"}))
        store.upsert(
            "customer_pii",
            pd.DataFrame(
                {
                    "customer_id": ids,
                    "name": names,
                    "email": np.where(has_email, ids.str.lower() + "@example.cn", None),
                    "phone": np.where(has_phone, "138" + ids.str[-6:].str.zfill(8), None),
                }
            ),
        )
    intel = settings.home_dir / "intel"
    intel.mkdir(parents=True, exist_ok=True)
    segment = SEGMENTS[rng.integers(0, 3, n)]
    # The column layout intel writes (analytics/segments, rfm, propensity).
    rfm_class = np.where(segment == "沉睡客户", "at_risk", "loyal")
    pd.DataFrame({"customer_id": ids, "segment": segment, "rfm_class": rfm_class}).to_parquet(
        intel / "segments.parquet"
    )
    pd.DataFrame({"customer_id": ids, "p_purchase_30d": rng.beta(2, 8, n)}).to_parquet(
        intel / "propensity_purchase.parquet"
    )
    pd.DataFrame(
        {
            "customer_id": ids,
            "recency_days": rng.integers(1, 400, n),
            "rfm_class": rfm_class,
        }
    ).to_parquet(intel / "rfm.parquet")
    return pd.DataFrame(
        {"customer_id": ids, "segment": segment, "has_email": has_email, "has_phone": has_phone}
    )


def write_scores(settings: Settings, seed: int = 11) -> pd.DataFrame:
    """intel's churn propensity and CLV tables for the shop's customers (as `marketpilot propensity
    score --target churn` and `marketpilot clv predict` write them); returns both columns by id."""
    ids = pd.read_parquet(settings.home_dir / "intel" / "segments.parquet")["customer_id"]
    rng = np.random.default_rng(seed)
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "p_churn_90d": rng.beta(2, 3, len(ids)),
            "clv": np.round(rng.lognormal(5, 1, len(ids)), 2),
        }
    )
    intel = settings.home_dir / "intel"
    scores[["customer_id", "p_churn_90d"]].to_parquet(intel / "propensity_churn.parquet")
    scores[["customer_id", "clv"]].to_parquet(intel / "clv.parquet")
    return scores.set_index("customer_id")


# product id → (category, sub-category)
CATEGORIES = {"P1": ("美妆", "Lipstick"), "P2": ("美妆", "面霜"), "P3": ("服饰", "Shoes")}
LAST_SALE = pd.Timestamp("2026-11-30 12:00")


def write_purchases(settings: Settings, seed: int = 13, orders: int = 1) -> pd.DataFrame:
    """The CATEGORIES products and one order line per customer of the shop (`orders`: that many orders
    each, of different products, so a return nets against its own sale) over the 100 days up to
    LAST_SALE (the first customer's, a completed sale, on that day), a fifth of them cancelled or
    returned; returns the lines with customer_id, product_id, category, subcategory, ordered_at, status."""
    ids = pd.read_parquet(settings.home_dir / "intel" / "segments.parquet")["customer_id"]
    rng = np.random.default_rng(seed)
    n = len(ids) * orders
    days = rng.integers(0, 100, n)
    days[0] = 0
    status = rng.choice(["completed"] * 8 + ["cancelled", "returned"], n)
    status[0] = "completed"
    first = np.tile(rng.integers(0, len(CATEGORIES), len(ids)), orders)
    nth = np.repeat(np.arange(orders), len(ids))
    lines = pd.DataFrame(
        {
            "order_id": [f"O{i:06d}" for i in range(n)],
            "customer_id": np.tile(ids, orders),
            "ordered_at": LAST_SALE - pd.to_timedelta(days, unit="D"),
            "status": status,
            "currency": "CNY",
            "total_minor": 9900,
            "line_no": 1,
            "product_id": np.array(list(CATEGORIES))[(first + nth) % len(CATEGORIES)],
            "quantity": 1,
            "unit_price_minor": 9900,
        }
    )
    products = pd.DataFrame(
        [(p, f"商品{p}", c, sub) for p, (c, sub) in CATEGORIES.items()],
        columns=["product_id", "name", "category", "subcategory"],
    )
    with Store.open(settings) as store, store.transaction():
        store.upsert("products", products)
        store.upsert(
            "orders", lines[["order_id", "customer_id", "ordered_at", "status", "currency", "total_minor"]]
        )
        store.upsert(
            "order_items",
            lines[["order_id", "line_no", "product_id", "quantity", "unit_price_minor", "currency"]],
        )
    return lines.merge(products, on="product_id")


def write_events(settings: Settings, lines: pd.DataFrame, seed: int = 19) -> pd.DataFrame:
    """Behaviour events as the sample shop writes them (data/sample/events.py): every order line of
    `write_purchases` has a view, a cart and a purchase event of its product in the order's session;
    besides, three customers in four browse on 1–4 days of the 100 up to LAST_SALE's day (a product
    viewed, a third of them added to the cart and left there), the rest never do. The last event is
    the last sale's. Returns the events with the products' category and subcategory."""
    rng = np.random.default_rng(seed)
    ids = pd.read_parquet(settings.home_dir / "intel" / "segments.parquet")["customer_id"]
    browsers = ids[rng.random(len(ids)) < 0.75]
    visits = browsers.repeat(rng.integers(1, 5, len(browsers))).reset_index(drop=True)
    # browsing during the morning of a day, before the last sale's noon: the last event stays the sale's
    at = LAST_SALE.normalize() - pd.to_timedelta(rng.integers(0, 100, len(visits)), unit="D")
    at += pd.to_timedelta(rng.integers(0, 11 * 60, len(visits)), unit="min")
    views = pd.DataFrame(
        {"customer_id": visits, "occurred_at": at, "product_id": rng.choice(list(CATEGORIES), len(visits))}
    )
    views["session_id"] = [f"B{i:07d}" for i in range(len(views))]
    frames = [views.assign(event_type="view")]
    frames.append(frames[0][rng.random(len(views)) < 1 / 3].assign(event_type="cart"))
    sold = lines[["customer_id", "ordered_at", "product_id", "order_id"]].rename(
        columns={"ordered_at": "occurred_at", "order_id": "session_id"}
    )
    for step, kind in enumerate(("view", "cart", "purchase")):
        frames.append(
            sold.assign(event_type=kind, occurred_at=sold["occurred_at"] - pd.Timedelta(minutes=2 - step))
        )
    events = pd.concat(frames, ignore_index=True)
    events["event_id"] = [f"E{i:08d}" for i in range(len(events))]
    events["channel"] = rng.choice(["app", "web", "mini-program"], len(events))
    with Store.open(settings) as store, store.transaction():
        store.upsert("events", events)
    products = pd.DataFrame(
        [(p, c, sub) for p, (c, sub) in CATEGORIES.items()], columns=["product_id", "category", "subcategory"]
    )
    return events.merge(products, on="product_id")


def write_later_views(settings: Settings, days: int, n: int = 50) -> None:
    """Views of Lipstick by the first n customers `days` days after LAST_SALE: behaviour events that run
    past the orders, as when the events are exported later than the orders."""
    at = LAST_SALE + pd.Timedelta(days=days)
    customers = [f"C{i:06d}" for i in range(n)]
    frame = pd.DataFrame(
        {
            "event_id": [f"L{i:07d}" for i in range(n)],
            "customer_id": customers,
            "event_type": "view",
            "occurred_at": at,
            "product_id": "P1",
            "session_id": [f"S{i:07d}" for i in range(n)],
            "channel": "app",
        }
    )
    with Store.open(settings) as store, store.transaction():
        store.upsert("events", frame)


def browsed(events: pd.DataFrame, sales: pd.DataFrame, kind: str, rule: dict) -> set[str]:
    """The customers a browse rule selects, in pandas: an event of the kind (in the categories) in the
    window up to the last event day; `without_purchase`, only events whose product the customer did
    not buy (a completed sale not returned whole) on the event's day or later."""
    names, days = set(rule.get("categories", [])), rule.get("within_days")
    since = events["occurred_at"].max().normalize() - pd.Timedelta(days=days or 100_000)
    of = (lambda t: t["category"].isin(names) | t["subcategory"].isin(names)) if names else (lambda t: True)
    seen = events[
        (events["event_type"] == kind) & of(events) & (events["occurred_at"].dt.normalize() >= since)
    ]
    if not rule.get("without_purchase"):
        return set(seen["customer_id"])
    kept = sales[(sales["status"] == "completed") & (sales["returned"] != "whole")]
    bought = kept.assign(bought=kept["ordered_at"].dt.normalize())[["customer_id", "product_id", "bought"]]
    pairs = (
        seen.assign(day=seen["occurred_at"].dt.normalize())
        .reset_index()
        .merge(bought, on=["customer_id", "product_id"])
    )
    after = pairs.loc[pairs["bought"] >= pairs["day"], "index"]
    return set(seen.drop(index=after.unique())["customer_id"])


def kept_buyers(sales: pd.DataFrame, name: str, days: int | None) -> set[str]:
    """The customers with a netted purchase line of `name` (category or sub-category) in `write_returns`'
    sales, in pandas: completed sales not returned whole, within `days` of the last sale day when given
    (each customer's orders being of different products, a return undoes its own sale)."""
    kept = (sales["status"] == "completed") & (sales["returned"] != "whole")
    kept &= sales["category"].eq(name) | sales["subcategory"].eq(name)
    if days is not None:
        kept &= sales["ordered_at"].dt.normalize() >= LAST_SALE.normalize() - pd.Timedelta(days=days)
    return set(sales.loc[kept, "customer_id"])


def write_returns(settings: Settings, lines: pd.DataFrame, seed: int = 17) -> pd.DataFrame:
    """Returns as the sample shop writes them, for a third of `write_purchases`' completed sales (not
    the first customer's, the last sale): an order 'R…' of negative total, status 'returned', 3–15 days
    after the sale, with a negative-quantity line of the product. Half of them return the sale whole;
    the other half's sale becomes two units, one returned. Returns the sales' lines with `returned`:
    "whole", "part" or None."""
    rng = np.random.default_rng(seed)
    sales = lines.copy()
    pick = (sales["status"] == "completed") & (rng.random(len(sales)) < 1 / 3)
    pick &= sales["order_id"] != "O000000"
    whole = pick & (rng.random(len(sales)) < 0.5)
    sales["returned"] = np.where(whole, "whole", np.where(pick, "part", None))
    part = sales["returned"] == "part"
    sales.loc[part, "quantity"] = 2
    sales.loc[part, "total_minor"] = 2 * 9900
    back = sales[pick].copy()
    back["order_id"] = "R" + back["order_id"].str[1:]
    back["ordered_at"] += pd.to_timedelta(rng.integers(3, 16, len(back)), unit="D")
    back["status"] = "returned"
    back["quantity"] = -1
    back["total_minor"] = -9900
    with Store.open(settings) as store, store.transaction():
        for frame in (sales[part], back):
            store.upsert(
                "orders",
                frame[["order_id", "customer_id", "ordered_at", "status", "currency", "total_minor"]],
            )
            store.upsert(
                "order_items",
                frame[["order_id", "line_no", "product_id", "quantity", "unit_price_minor", "currency"]],
            )
    return sales


def export_spec(**overrides: object) -> dict:
    """A valid reactivation spec on the export channel; override any top-level field."""
    spec = {
        "name": "春节唤醒",
        "goal": "reactivation",
        "audience": {"segments": ["沉睡客户", "高价值"]},
        "offer": {"description": "全场8折", "discount": 0.2},
        "channels": [
            {
                "name": "export",
                "variants": [
                    {"key": "A", "text": "{name}，新春全场8折，回店看看"},
                    {"key": "B", "text": "{name}，好久不见！新春8折惊喜"},
                ],
            }
        ],
    }
    spec.update(overrides)
    return spec


def launch(settings: Settings, spec: dict, campaign_id: str | None = None, **run_kwargs: object):  # type: ignore[no-untyped-def]
    """Create, approve and run a campaign (by default at noon in Shanghai, outside quiet hours);
    returns (campaign id, RunResult)."""
    import datetime as dt

    run_kwargs.setdefault("clock", lambda: dt.datetime(2026, 2, 1, 4, 0, tzinfo=dt.UTC))
    from marketpilot.campaigns import service
    from marketpilot.campaigns.executor import run_campaign
    from marketpilot.campaigns.spec import parse_spec
    from marketpilot.campaigns.state.db import open_state

    engine = open_state(settings)
    cid = service.create_campaign(engine, parse_spec(spec), campaign_id=campaign_id)
    service.approve(engine, cid, approver="测试员")
    return cid, run_campaign(settings, cid, **run_kwargs)


def campaign_state(engine, campaign_id: str) -> tuple[str, dict[str, int]]:  # type: ignore[no-untyped-def]
    """The campaign's status and its messages counted by status."""
    from sqlalchemy import func, select

    from marketpilot.campaigns import service
    from marketpilot.campaigns.state.models import MessageRecord

    status = service.list_campaigns(engine).set_index("id").at[campaign_id, "status"]
    with engine.connect() as con:
        rows = con.execute(
            select(MessageRecord.status, func.count())
            .where(MessageRecord.campaign_id == campaign_id)
            .group_by(MessageRecord.status)
        ).all()
    return status, {state: n for state, n in rows}
