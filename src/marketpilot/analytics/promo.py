"""Promotion design (促销设计): a 满减 coupon (spend T, get A off) per customer group, sized from the
group's own recent baskets and margins, with the test that would show whether it pays.

Per group (intel's segments, RFM classes, or every customer), over the last `months` of orders:
- **threshold** T: the smallest round amount no lower than the median basket that at most
  `max_deadweight` of the group's orders already reach. Those orders would get the coupon without
  anyone changing what they buy (deadweight); a threshold above the median asks for a bigger basket.
- **two depths** to test: A ≥ `min_depth` × T (shallow) and about twice that (deep), each a round
  amount, kept only while the margin left at the threshold after the coupon is ≥ `min_margin`.
- **break-even lift**: the coupon gives A to every order that reaches T anyway and earns
  margin × basket − A on each order it adds, so orders must grow by
  deadweight × A / (margin × mean basket at or above T − A) for it to pay. Trade-ups of the orders just
  below T (`reach_share`, within `stretch` of it) are upside that is not counted.
- **the test**: customers per arm to detect the break-even lift on the group's chance to buy within
  the campaign window (two-sided α 0.05, power 0.8), against the group split three ways (holdout,
  shallow, deep), and the smallest lift that split can detect.

The verdict per group: `test`, `underpowered` (designed, but the group is too small for the test),
`full_price_buyers` (the group buys on discount less than half as often as the store: a coupon
mostly pays for orders it would get anyway), `margin_too_thin`, `implausible_lift` (break-even lift
above `max_lift`) or `too_few_orders`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import duckdb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, computed_field

from marketpilot.analytics.net_sales import NET_LINES, register_net_lines
from marketpilot.analytics.power import customers_per_arm, detectable_lift
from marketpilot.analytics.purchases import ORDERS_VIEW, registered_money_currency, registered_purchases
from marketpilot.analytics.rfm import RFM_CLASSES
from marketpilot.atomic import write_text
from marketpilot.config import Settings
from marketpilot.data.money import scale_sql
from marketpilot.errors import UserError

if TYPE_CHECKING:
    from marketpilot.campaigns.spec import CampaignSpec

GroupBy = Literal["segment", "rfm_class", "all"]
Verdict = Literal[
    "test", "underpowered", "full_price_buyers", "margin_too_thin", "implausible_lift", "too_few_orders"
]
# The verdict in words (the report, the chart, the dashboard), not its identifier (too_few_orders).
VERDICTS = {
    "zh": {
        "test": "建议发券并测试",
        "underpowered": "可发券，但客群太小，测试难以得出结论",
        "full_price_buyers": "不建议发券：这群客户很少用折扣购买",
        "margin_too_thin": "不建议发券：毛利不足",
        "implausible_lift": "不建议发券：盈亏平衡所需增幅过高",
        "too_few_orders": "订单太少，无法设计",
    },
    "en": {
        "test": "issue the coupon and test it",
        "underpowered": "a coupon is possible, but the group is too small for a conclusive test",
        "full_price_buyers": "no coupon: this group rarely buys on discount",
        "margin_too_thin": "no coupon: the margin is too thin",
        "implausible_lift": "no coupon: it needs an implausible lift to break even",
        "too_few_orders": "too few orders to design one",
    },
}
MIN_ORDERS = 30
_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


class PromoSpec(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    by: GroupBy = "segment"
    months: int = Field(default=12, ge=1, le=120, description="Orders of the last N months count")
    window_days: int = Field(default=14, ge=1, le=365, description="How long the coupon is valid")
    min_depth: float = Field(default=0.08, ge=0.01, lt=0.5, description="Smallest coupon, share of T")
    min_margin: float = Field(default=0.15, ge=0, lt=1, description="Margin left at T after the coupon")
    margin: float | None = Field(
        default=None, gt=0, lt=1, description="Gross margin rate where the catalogue has no costs"
    )
    max_deadweight: float = Field(default=0.3, ge=0.05, le=0.5)
    stretch: float = Field(default=0.3, gt=0, lt=1, description="Orders this far below T are in reach")
    max_lift: float = Field(
        default=1.0, gt=0, le=100, description="Break-even lifts above this are implausible"
    )
    language: Literal["zh", "en"] = Field(default="zh", description="Of the campaign specs' copy")


class CouponArm(BaseModel):
    amount: float
    depth: float = Field(description="amount / threshold")
    margin_left: float = Field(description="margin at the threshold after the coupon, share of T")
    break_even_lift: float = Field(description="relative growth in orders the coupon needs to pay")
    customers_per_arm: int | None = Field(description="to detect the break-even lift; None if unreachable")

    def label(self, threshold: float) -> str:
        return f"满{_fmt(threshold)}减{_fmt(self.amount)}"


class PromoGroup(BaseModel):
    group: str
    key: str = Field(description="the group's value in intel's table: segment id, RFM class or 'all'")
    customers: int
    orders: int
    median_basket: float
    mean_basket: float
    discounted_order_share: float
    margin: float
    base_conversion: float = Field(description="chance a customer of the group buys within the window")
    threshold: float | None = None
    deadweight_share: float | None = None
    reach_share: float | None = None
    shallow: CouponArm | None = None
    deep: CouponArm | None = None
    detectable_lift: float | None = Field(default=None, description="with the group split three ways")
    verdict: Verdict

    @property
    def has_coupon(self) -> bool:
        """A coupon is designed for the group (whether or not a test could prove it pays)."""
        return self.verdict in ("test", "underpowered") and self.shallow is not None and bool(self.threshold)


class PromoPlan(BaseModel):
    by: GroupBy
    since: dt.date
    until: dt.date
    currency: str
    margin_source: Literal["catalogue costs", "--margin"] = Field(
        description="a code for programs; `margin_basis` says it in words"
    )
    store_discounted_order_share: float
    groups: list[PromoGroup]
    table_path: Path | None = None
    table_csv: Path | None = None
    chart_path: Path | None = None
    campaign_specs: dict[str, Path] = Field(
        default_factory=dict, description="group → a campaign spec testing its coupon depths"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def margin_basis(self) -> str:
        """Where the margins come from, in a marketer's words: "margins from the catalogue's costs" or
        "margin 40 % given" (every group has the margin that was given)."""
        if self.margin_source == "catalogue costs":
            return "margins from the catalogue's costs"
        given = f" {self.groups[0].margin * 100:g} %" if self.groups else ""
        return f"margin{given} given"


def round_up(x: float) -> float:
    """The smallest round amount ≥ x: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten."""
    power = 10.0 ** math.floor(math.log10(x))
    for m in (*_MANTISSAS, 10.0):
        if m * power >= x - 1e-9:
            return round(m * power, 6)
    raise AssertionError("unreachable: 10 × power ≥ x")


def coupon_amount(x: float) -> float:
    """Coupon amounts shoppers read at a glance: whole under 10, fives under 100, tens above."""
    step = 1 if x < 10 else 5 if x < 100 else 10
    return float(max(math.ceil(x / step - 1e-9), 1) * step)


def _fmt(x: float) -> str:
    return f"{x:g}"


def threshold_for(baskets: np.ndarray, max_deadweight: float) -> float:
    """The smallest round amount ≥ the median basket that at most `max_deadweight` of them reach."""
    t = round_up(float(np.median(baskets)))
    while float((baskets >= t).mean()) > max_deadweight:
        t = round_up(t * 1.0001)
    return t


def _arm(
    depth: float, t: float, margin: float, baskets: np.ndarray, base: float, spec: PromoSpec
) -> CouponArm | None:
    amount = coupon_amount(depth * t)
    left = margin - amount / t
    if left < spec.min_margin:
        return None
    above = baskets[baskets >= t]
    deadweight = above.size / baskets.size
    # an added order reaches T at least (no order does yet: the threshold sits above every basket)
    gain_per_added_order = margin * (float(above.mean()) if above.size else t) - amount
    if gain_per_added_order <= 0:
        return None
    lift = deadweight * amount / gain_per_added_order
    try:
        n = customers_per_arm(base, lift)
    except ValueError:  # no lift to detect (no deadweight), or a group that never buys
        n = None
    return CouponArm(
        amount=amount,
        depth=round(amount / t, 4),
        margin_left=round(left, 4),
        break_even_lift=round(lift, 4),
        customers_per_arm=n,
    )


def design_group(
    name: str,
    key: str,
    baskets: np.ndarray,
    *,
    customers: int,
    margin: float,
    discounted_share: float,
    store_discounted_share: float,
    lookback_days: int,
    spec: PromoSpec,
) -> PromoGroup:
    """The coupon, its economics and its test for one group; `baskets` are order values before any
    discount (major units)."""
    rate = baskets.size / customers / lookback_days
    base = 1 - math.exp(-rate * spec.window_days)
    group = PromoGroup(
        group=name,
        key=key,
        customers=customers,
        orders=int(baskets.size),
        median_basket=round(float(np.median(baskets)), 2) if baskets.size else 0.0,
        mean_basket=round(float(baskets.mean()), 2) if baskets.size else 0.0,
        discounted_order_share=round(discounted_share, 4),
        margin=round(margin, 4),
        base_conversion=round(base, 4),
        verdict="too_few_orders",
    )
    if baskets.size < MIN_ORDERS:
        return group
    t = threshold_for(baskets, spec.max_deadweight)
    group.threshold = t
    group.deadweight_share = round(float((baskets >= t).mean()), 4)
    group.reach_share = round(float(((baskets >= t * (1 - spec.stretch)) & (baskets < t)).mean()), 4)
    group.shallow = _arm(spec.min_depth, t, margin, baskets, base, spec)
    deep = _arm(2 * spec.min_depth, t, margin, baskets, base, spec)
    group.deep = deep if deep and group.shallow and deep.amount > group.shallow.amount else None
    group.detectable_lift = detectable_lift(base, customers // 3) if base > 0 else None
    if group.detectable_lift is not None:
        group.detectable_lift = round(group.detectable_lift, 4)
    if group.shallow is None:
        group.verdict = "margin_too_thin"
    elif store_discounted_share > 0 and discounted_share < 0.5 * store_discounted_share:
        group.verdict = "full_price_buyers"
    elif group.shallow.break_even_lift > spec.max_lift:
        group.verdict = "implausible_lift"
    elif group.shallow.customers_per_arm is None or group.shallow.customers_per_arm > customers // 3:
        group.verdict = "underpowered"
    else:
        group.verdict = "test"
    return group


def _groups(settings: Settings, by: GroupBy) -> tuple[pd.DataFrame | None, dict[str, str]]:
    """customer_id → group (None for `all`) and readable names for the groups."""
    if by == "all":
        return None, {}
    path = settings.path("intel", "segments.parquet")
    if not path.exists():
        raise UserError(
            f"no customer groups yet ({path} is missing)",
            hint="run `marketpilot segment` first (it writes each customer's segment and RFM class), "
            "or design one coupon for every customer with --by all",
        )
    table = pd.read_parquet(path, columns=["customer_id", by])
    names: dict[str, str] = {}
    summary = settings.path("intel", "segments.json")
    if by == "rfm_class":
        names = {key: f"{zh} ({key})" for key, zh, _ in RFM_CLASSES.values()}
    elif summary.exists():
        personas = {
            str(p["stats"]["segment"]): p["persona"]["name"]
            for p in json.loads(summary.read_text(encoding="utf-8")).get("segments", [])
        }
        unique = len(set(personas.values())) == len(personas)
        names = {k: name if unique else f"{k} {name}" for k, name in personas.items()}
    return table.rename(columns={by: "group"}).astype({"group": str}), names


def _costed_lines(con: duckdb.DuckDBPyConnection, since: dt.date, currency: str) -> pd.DataFrame:
    """Per customer since `since`, of the purchases registered on `con`: sales net of returns (`price`),
    and the sales and cost of the lines whose product has a cost (`costed`, `cost`), in `currency` (a
    blank one taken to be it): what was sent back earned no margin."""
    register_net_lines(con)
    lines = con.execute(
        f"""SELECT l.customer_id, sum(l.value) AS price,
                   sum(l.value) FILTER (WHERE p.cost_minor IS NOT NULL) AS costed,
                   sum(l.quantity * p.cost_minor / {scale_sql("p.currency")}) AS cost
            FROM {NET_LINES} l LEFT JOIN products p USING (product_id)
            WHERE l.day >= ? AND coalesce(l.currency, ?) = ?  -- lines in the money currency
            GROUP BY l.customer_id""",
        [since, currency, currency],
    ).df()
    covered = float(lines["costed"].sum()) / max(float(lines["price"].sum()), 1e-9)
    if covered < 0.5:
        raise UserError(
            f"the catalogue has a cost for only {covered:.0%} of the sales, so margins are unknown",
            hint="give the gross margin rate, e.g. --margin 0.4, or load products with cost_minor",
        )
    return lines


def plan_promotions(settings: Settings, spec: PromoSpec | None = None) -> PromoPlan:
    """Design a coupon per group from the store; the table and a chart of the baskets go to
    <home>/decisions/promo/."""
    from marketpilot.analytics.outputs import write_json, write_table
    from marketpilot.data.store import Store

    spec = spec or PromoSpec()
    assignments, names = _groups(settings, spec.by)
    with Store.open(settings, read_only=True) as store:
        con = store.con
        until = registered_purchases(con)
        since = (pd.Timestamp(until) - pd.DateOffset(months=spec.months)).date() + dt.timedelta(days=1)
        orders = con.execute(
            # the basket at checkout, which a 满减 threshold applies to: later returns do not shrink it
            f"SELECT customer_id, gross + discount AS basket, discount > 0 AS discounted "
            f"FROM {ORDERS_VIEW} WHERE day >= ? AND money",  # baskets in the money currency
            [since],
        ).df()
        customers = con.execute(f"SELECT DISTINCT customer_id FROM {ORDERS_VIEW}").df()
        currency = registered_money_currency(con) or settings.currency
        margins = _costed_lines(con, since, currency) if spec.margin is None else None
    if assignments is None:
        customers["group"] = "all"
    else:
        customers = customers.merge(assignments, on="customer_id", how="inner")
    orders = orders.merge(customers, on="customer_id", how="inner")
    if margins is not None:
        margins = margins.merge(customers, on="customer_id", how="inner")
    store_share = float(orders["discounted"].mean()) if len(orders) else 0.0
    lookback = (until - since).days + 1
    groups = []
    for name, members in customers.groupby("group", sort=True):
        own = orders[orders["group"] == name]
        if margins is None:
            margin = float(spec.margin or 0.0)
        else:
            lines = margins[margins["group"] == name]
            costed = float(lines["costed"].sum())
            margin = 1 - float(lines["cost"].sum()) / costed if costed else 0.0
        groups.append(
            design_group(
                names.get(str(name), str(name)),
                str(name),
                own["basket"].to_numpy(dtype=float),
                customers=len(members),
                margin=margin,
                discounted_share=float(own["discounted"].mean()) if len(own) else 0.0,
                store_discounted_share=store_share,
                lookback_days=lookback,
                spec=spec,
            )
        )
    plan = PromoPlan(
        by=spec.by,
        since=since,
        until=until,
        currency=currency,
        margin_source="catalogue costs" if margins is not None else "--margin",
        store_discounted_order_share=round(store_share, 4),
        groups=groups,
    )
    table = promo_table(plan)
    plan.table_path, plan.table_csv = write_table(settings, table, "decisions", "promo", "coupons")
    chart = settings.path("decisions", "promo", "baskets.png")
    plan.chart_path = _chart(orders, plan, names, chart, settings.language)
    for stale in (settings.home_dir / "decisions" / "promo" / "campaigns").glob("*.yaml"):
        stale.unlink()  # groups of an earlier run
    plan.campaign_specs = {
        g.group: write_campaign_spec(settings, g, spec) for g in plan.groups if g.has_coupon
    }
    write_json(settings, plan, "decisions", "promo", "summary.json")
    return plan


def _offer(arm: CouponArm, threshold: float) -> dict[str, object]:
    return {
        "description": arm.label(threshold),
        "coupon_threshold": threshold,
        "coupon_amount": arm.amount,
        "break_even_lift": arm.break_even_lift,
        "cost_per_conversion": arm.amount,
    }


def campaign_spec(group: PromoGroup, spec: PromoSpec) -> CampaignSpec:
    """A campaign testing the group's coupon by SMS: with two depths designed, one arm per depth and
    the group split in thirds (holdout, shallow, deep: the split `detectable_lift` assumes), else the
    shallow coupon against a fifth held out. Copy is written at run time per arm, quoting that arm's
    coupon (the guardrails hold it to it); conversions count over the coupon's validity, and the
    campaign report gives each depth its verdict against its own break-even lift. The cost per
    conversion is the whole amount (an upper bound: orders under the threshold do not redeem it)."""
    from marketpilot.campaigns.spec import CampaignSpec

    if group.shallow is None or group.threshold is None:
        raise ValueError(f"no coupon designed for {group.group!r} ({group.verdict})")
    shallow = _offer(group.shallow, group.threshold)
    arms = {"shallow": group.shallow} | ({"deep": group.deep} if group.deep else {})
    coupons = " / ".join(a.label(group.threshold) for a in arms.values())
    audience = {"segment": {"segments": [group.key]}, "rfm_class": {"rfm_classes": [group.key]}}
    variants = (
        [{"key": k, "offer": _offer(a, group.threshold)} for k, a in arms.items()] if group.deep else []
    )
    return CampaignSpec.model_validate(
        {
            "name": f"{coupons} · {group.group}"[:200],
            "goal": "cross_sell",  # a threshold asks for more in the basket
            "language": spec.language,
            "audience": audience.get(spec.by, {}),
            "offer": shallow,
            "channels": [{"name": "sms", "variants": variants}],
            "holdout_share": round(1 / 3, 4) if group.deep else 0.2,
            "attribution_window_days": spec.window_days,
        }
    )


def write_campaign_spec(settings: Settings, group: PromoGroup, spec: PromoSpec) -> Path:
    """<home>/decisions/promo/campaigns/<key>.yaml, with the design's figures as a comment."""
    campaign = campaign_spec(group, spec)
    arms = [("shallow", group.shallow), ("deep", group.deep)]
    needs = "".join(
        f"# {name} {arm.label(group.threshold or 0)} pays when orders grow by {arm.break_even_lift:.1%}; "
        f"a test of that needs {arm.customers_per_arm or 'more'} customers per arm.\n"
        for name, arm in arms
        if arm is not None
    )
    header = (
        f"# Designed by `marketpilot decide promo` for {group.group} ({group.customers} customers):\n"
        f"{needs}# Review, then: marketpilot campaign create --spec <this file>\n"
    )
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", group.key).strip("_") or "group"
    path = settings.path("decisions", "promo", "campaigns", f"{safe}.yaml")
    return write_text(path, header + campaign.to_yaml())


def promo_table(plan: PromoPlan) -> pd.DataFrame:
    rows = []
    for g in plan.groups:
        row = g.model_dump(exclude={"shallow", "deep"})
        for key, arm in (("shallow", g.shallow), ("deep", g.deep)):
            row[f"{key}_coupon"] = arm.label(g.threshold) if arm and g.threshold else None
            for field in ("depth", "margin_left", "break_even_lift", "customers_per_arm"):
                row[f"{key}_{field}"] = getattr(arm, field) if arm else None
        rows.append(row)
    return pd.DataFrame(rows)


def panel_title(g: PromoGroup, lang: Literal["zh", "en"]) -> str:
    """A chart panel's title: the group, its coupon (or threshold) and the verdict in words."""
    verdict = VERDICTS[lang][g.verdict]
    if not g.threshold:
        return f"{g.group}\n{verdict}"
    coupon = g.shallow.label(g.threshold) if g.shallow else f"≥{_fmt(g.threshold)}"
    return f"{g.group}\n{coupon} · {verdict}"


def _chart(
    orders: pd.DataFrame, plan: PromoPlan, names: dict[str, str], path: Path, lang: Literal["zh", "en"]
) -> Path:
    """Basket value histograms, one panel per group (at most 8), the threshold marked; titles and
    axis in the shop's language."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from marketpilot.analytics.reports import chart_font, save_png

    chart_font()  # persona names are Chinese
    shown = [g for g in plan.groups if g.orders][:8]
    cols = min(len(shown), 4) or 1
    rows = math.ceil(len(shown) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.8 * rows), squeeze=False)
    by_name = {names.get(str(k), str(k)): v for k, v in orders.groupby("group")["basket"]}
    for ax, g in zip(axes.flat, shown, strict=False):
        baskets = by_name[g.group].to_numpy(dtype=float)
        top = float(np.quantile(baskets, 0.98))
        ax.hist(baskets[baskets <= top], bins=30, color="#7a9cc6")
        if g.threshold:
            ax.axvline(g.threshold, color="#c0392b", linewidth=2)
        ax.set_title(panel_title(g, lang), fontsize=9)
        ax.set_xlabel(f"{'订单金额' if lang == 'zh' else 'basket'} ({plan.currency})", fontsize=8)
    for ax in list(axes.flat)[len(shown) :]:
        ax.axis("off")
    return save_png(fig, path)
