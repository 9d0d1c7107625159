"""The audience: customers selected by a spec's rules over intel's outputs.

Campaigns do not compute RFM, scores or segments; they read what the intel area wrote under
<home>/intel/ (Parquet, one row per customer_id). `INTEL_COLUMNS` is the whole contract: a feature,
the file it comes from, the column and the command that produces it. A rule that needs a missing
file fails with that command in the hint; rules that are not used need nothing.

`clv_percentile` is derived from the CLV table: the share of its customers with a strictly lower CLV,
(rank − 1) / n, so {min: 0.8} is the top 20 % of scored customers (ties fall on the same side).

`bought` reads the store's own orders, not intel, as the analytics count purchases
(analytics/purchases.py): customers with a purchase line of a product whose category or sub-category
is named, in a purchase that its returns do not wholly undo, and not wholly taken back by returns
naming that product (an order of shoes and socks whose shoes came back bought socks; one pair kept of
two still counts), within `within_days` days of the last purchase day when given (the day intel's RFM
counts recency_days from), or each category within its own days (`windows`); with `match: all`, such a
line for every named category. `not_bought` selects the customers the same rule as `bought` leaves out.

`viewed` and `carted` read the store's behaviour `events` (types view and cart): customers with such an
event, of a product in the named categories when any are named, within `within_days` days of the last
event day. `without_purchase` ("浏览过但没购买的", abandoned carts) is per event, not per customer: an
event of product P on day d counts only when the customer has no purchase line of P (as `bought`
counts them) on day d or later, up to the last order day; an event naming no product, only when the
customer bought nothing on or after its day. So a customer who viewed A and bought B is in (A was not
bought), and so is one who bought A once and viewed it again later without buying it; one who viewed A
and then bought A is out, unless another of their events is still unbought. With categories named, the
product viewed is the one that must not be bought after: viewing lipstick A and buying lipstick B of
the same category leaves A not bought. A store without events of the type cannot evaluate the rule: it
is refused, not read as nobody. Events that run past the orders (the last event day after the last
order day) evaluate, but every browse after the last order day reads as not bought, as the purchases
since are not loaded yet: `warnings` names both days, and `campaign plan` / `campaign create` pass it on.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from marketpilot.analytics.purchases import LINES_VIEW, ORDERS_VIEW, register_purchases
from marketpilot.campaigns.spec import AudienceRules, Band, BrowseRule, CategoryPurchase
from marketpilot.config import Settings
from marketpilot.data.store import Store
from marketpilot.errors import UserError
from marketpilot.wording import counted


@dataclass(frozen=True)
class IntelColumn:
    file: str  # <home>/intel/<file>.parquet
    column: str  # the column, or its prefix when `prefix` (p_purchase_30d: the horizon varies)
    produced_by: str
    prefix: bool = False


INTEL_COLUMNS: dict[str, IntelColumn] = {
    "segment": IntelColumn("segments", "segment", "marketpilot segment"),
    "rfm_class": IntelColumn("rfm", "rfm_class", "marketpilot rfm"),
    "recency_days": IntelColumn("rfm", "recency_days", "marketpilot rfm"),
    "propensity": IntelColumn("propensity_purchase", "p_purchase_", "marketpilot propensity score", True),
    "churn": IntelColumn("propensity_churn", "p_churn_", "marketpilot propensity score --target churn", True),
    "clv": IntelColumn("clv", "clv", "marketpilot clv predict"),
}
_BANDS = ("propensity", "churn", "clv", "clv_percentile", "recency_days")
# Rules evaluated on a column derived from another feature's file.
_DERIVED = {"clv_percentile": "clv"}
AUDIENCE_COLUMNS = ("customer_id", *INTEL_COLUMNS, "clv_percentile", "has_email", "has_phone")


# The buyers of the named categories, each line with the name it was bought under: what
# `register_purchases` counts as bought and kept (a sale its returns wholly undo bought nothing, a
# product returned whole is no line); `_WITHIN` narrows to the last N days up to the last purchase day.
_BOUGHT = (
    f"SELECT l.customer_id, n.name FROM {LINES_VIEW} l JOIN products p ON p.product_id = l.product_id "
    "JOIN (SELECT unnest(?) AS name) n ON n.name IN (p.category, p.subcategory) "
    # guests (no customer id) left out: one NULL would make `NOT IN` (not_bought) select nobody
    "WHERE l.customer_id IS NOT NULL"
)
_WITHIN = f"AND l.day >= (SELECT max(day) FROM {ORDERS_VIEW}) - ?::INTEGER"


# The behaviour event type each browse rule reads (data/schema.py: view | cart | purchase | fav | …).
EVENT_RULES = {"viewed": "view", "carted": "cart"}
_EVENTS_DAY = "(SELECT max(occurred_at)::DATE FROM events)"
_IN_CATEGORIES = "AND (p.category IN (SELECT unnest(?)) OR p.subcategory IN (SELECT unnest(?)))"


def _browsers(rule: BrowseRule, event_type: str) -> tuple[str, list[object]]:
    """The query for the customers a browse rule selects: an event of the type (of a product in the
    categories) in the window, counted back from the last event day; with `without_purchase`, only
    events the customer did not buy after: no purchase line of the event's product on the event's day
    or later (of anything, for an event that names no product)."""
    names = [rule.categories, rule.categories] if rule.categories else []
    window = [rule.within_days] if rule.within_days else []
    events = (
        "SELECT e.customer_id FROM events e LEFT JOIN products p ON p.product_id = e.product_id "
        "WHERE e.customer_id IS NOT NULL AND lower(e.event_type) = ? "
        + (_IN_CATEGORIES if rule.categories else "")
        + (f" AND e.occurred_at::DATE >= {_EVENTS_DAY} - ?::INTEGER" if rule.within_days else "")
    )
    if rule.without_purchase:
        # Per event, not per customer: viewing A and buying B leaves A not bought, and buying A before
        # viewing it again is no purchase of that view (seen: both read as bought, the customer dropped).
        later = (
            f"SELECT 1 FROM {LINES_VIEW} l "
            "WHERE l.customer_id = e.customer_id AND l.day >= e.occurred_at::DATE"
        )
        events += (
            f" AND NOT EXISTS ({later} AND l.product_id = e.product_id)"
            f" AND (e.product_id IS NOT NULL OR NOT EXISTS ({later}))"
        )
    return events, [event_type, *names, *window]


def _buyers(rule: CategoryPurchase) -> tuple[str, list[object]]:
    """The query for the buyers of the rule's categories, each category within its own window: those
    who bought one of them, or (`match: all`) as many distinct ones as the rule names."""
    parts: list[str] = []
    params: list[object] = []
    for days, names in rule.by_window().items():
        parts.append(f"{_BOUGHT} {_WITHIN if days else ''}")
        params += [names, *([days] if days else [])]
    needed = len(set(rule.categories)) if rule.match == "all" else 1
    sql = (
        f"SELECT customer_id FROM ({' UNION ALL '.join(parts)}) GROUP BY customer_id "
        "HAVING count(DISTINCT name) >= ?"
    )
    return sql, [*params, needed]


@dataclass(frozen=True)
class Outrun:
    """Behaviour events of one type after the last order day (`AudienceSource.past_the_orders`)."""

    last_event: dt.date
    last_order: dt.date | None  # None: the store has no orders
    events: int
    customers: int

    def describe(self, rule: str, language: str = "en") -> str:
        """The warning for a `without_purchase` rule on these events, naming both days."""
        if language == "zh":
            did = {"viewed": "浏览", "carted": "加购"}[rule]
            if self.last_order is None:
                return (
                    f"audience.{rule}：商店还没有任何订单（行为事件截至 {self.last_event}），"
                    f"所有{did}过商品的客户都算作“没购买”；请先用 `marketpilot load` 导入订单"
                )
            return (
                f"audience.{rule}：行为事件截至 {self.last_event}，订单只到 {self.last_order}："
                f"{self.last_order} 之后的购买还没有导入，这之后的 {self.events:,} 条{did}事件"
                f"（{self.customers:,} 位客户）不论是否已经购买都算作“没购买”；"
                "请用 `marketpilot load` 导入更新的订单，让订单和行为事件截至同一天"
            )
        did = {"viewed": "view", "carted": "add-to-cart"}[rule]
        if self.last_order is None:
            return (
                f"audience.{rule}: the store has no orders yet (its behaviour events run to "
                f"{self.last_event}), so every {did} counts as without purchase; load the orders with "
                "`marketpilot load` first"
            )
        return (
            f"audience.{rule}: the behaviour events run to {self.last_event} but the orders only to "
            f"{self.last_order}: purchases after {self.last_order} are not loaded yet, so every {did} "
            f"after it counts as without purchase, bought or not ({counted(self.events, did + ' event')} "
            f"of {counted(self.customers, 'customer')}); load the newer orders with `marketpilot load` so "
            "that orders and events end on the same day"
        )


class AudienceSource:
    """Reads the store and intel outputs of one home and evaluates audience rules in DuckDB."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def intel_file(self, name: str) -> Path:
        return self.settings.home_dir / "intel" / f"{name}.parquet"

    def available(self) -> dict[str, bool]:
        """Which intel features this home has."""
        return {f: self._has(f) for f in INTEL_COLUMNS}

    def column(self, feature: str) -> str | None:
        """The column holding `feature` in intel's file, or None when the file or column is missing."""
        spec = INTEL_COLUMNS[feature]
        path = self.intel_file(spec.file)
        if not path.exists():
            return None
        import pyarrow.parquet as pq

        names = pq.read_schema(path).names
        if not spec.prefix:
            return spec.column if spec.column in names else None
        return next((n for n in sorted(names) if n.startswith(spec.column)), None)

    def _has(self, feature: str) -> bool:
        return self.column(feature) is not None

    def segments(self) -> list[str]:
        """Segment names present in intel's segment table (empty when it has not run)."""
        return self._labels("segment")

    def rfm_classes(self) -> list[str]:
        return self._labels("rfm_class")

    def categories(self) -> list[str]:
        """The category and sub-category names of the shop's products, each once, in name order."""
        sql = (
            "SELECT DISTINCT name FROM (SELECT category AS name FROM products UNION ALL "
            "SELECT subcategory FROM products) WHERE coalesce(trim(name), '') <> '' ORDER BY name"
        )
        with Store.open(self.settings) as store:
            return [str(n) for n in store.query(sql)["name"]]

    def segment_names(self) -> dict[str, str]:
        """Each segment's persona name from intel/segments.json ("1" → "细分1：重要价值客户为主"), so a
        goal or a model can name a segment by meaning; empty before segmentation or when the summary
        cannot be read (the numbers still work)."""
        path = self.settings.home_dir / "intel" / "segments.json"
        try:
            profiles = json.loads(path.read_text(encoding="utf-8"))["segments"]
            return {str(p["persona"]["segment"]): str(p["persona"]["name"]) for p in profiles}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def rfm_class_names(self) -> dict[str, list[str]]:
        """Each RFM class's Chinese and English names from intel's RFM table (important_value →
        [重要价值客户, Important value]); empty when the table has no name columns."""
        if self.column("rfm_class") is None:
            return {}
        import pyarrow.parquet as pq

        path = self.intel_file(INTEL_COLUMNS["rfm_class"].file)
        columns = [c for c in ("class_zh", "class_en") if c in pq.read_schema(path).names]
        if not columns:
            return {}
        picked = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
        sql = f'SELECT DISTINCT CAST("rfm_class" AS VARCHAR), {picked} FROM read_parquet(?) ORDER BY 1'
        with Store.open(self.settings) as store:
            frame = store.query(sql, [str(path)])
        return {
            str(row[0]): [str(n) for n in row[1:] if pd.notna(n)] for row in frame.itertuples(index=False)
        }

    def _labels(self, feature: str) -> list[str]:
        column = self.column(feature)
        if column is None:
            return []
        path = str(self.intel_file(INTEL_COLUMNS[feature].file))
        sql = f'SELECT DISTINCT CAST("{column}" AS VARCHAR) AS s FROM read_parquet(?) ORDER BY 1'
        with Store.open(self.settings) as store:
            frame = store.query(sql, [path])
        return [str(s) for s in frame["s"].dropna()]

    def _needed(self, rules: AudienceRules) -> list[str]:
        needed = []
        if rules.segments:
            needed.append("segment")
        if rules.rfm_classes:
            needed.append("rfm_class")
        needed += [_DERIVED.get(b, b) for b in _BANDS if getattr(rules, b) is not None]
        return list(dict.fromkeys(needed))

    def missing(self, rules: AudienceRules) -> list[str]:
        """The intel features the rules use but this home lacks."""
        return [f for f in self._needed(rules) if not self._has(f)]

    def describe_missing(self, feature: str) -> str:
        spec = INTEL_COLUMNS[feature]
        return (
            f"the audience rule on '{feature}' needs {self.intel_file(spec.file)} with column "
            f"'{spec.column}', which does not exist yet: run `{spec.produced_by}` first"
        )

    def clv_range(self, band: Band) -> Band | None:
        """The CLV values a `clv_percentile` band selects today (None when it selects nobody)."""
        column = self.column("clv")
        if column is None:
            return None
        lower = band.min if band.min is not None else 0.0
        upper = band.max if band.max is not None else 1.0
        with Store.open(self.settings) as store:
            frame = store.query(
                f"SELECT min(clv) AS lo, max(clv) AS hi FROM ({self._percentiles(column)}) "
                "WHERE clv_percentile BETWEEN ? AND ?",
                [str(self.intel_file("clv")), lower, upper],
            )
        lo, hi = frame["lo"].iloc[0], frame["hi"].iloc[0]
        return None if pd.isna(lo) else Band(min=float(lo), max=float(hi))

    @staticmethod
    def _percentiles(column: str) -> str:
        return (
            f'SELECT customer_id::VARCHAR AS customer_id, CAST("{column}" AS DOUBLE) AS clv, '
            f'(rank() OVER (ORDER BY "{column}") - 1)::DOUBLE / count(*) OVER () AS clv_percentile '
            f'FROM read_parquet(?) WHERE "{column}" IS NOT NULL'
        )

    def event_counts(self) -> dict[str, int]:
        """The store's behaviour events by type, lower-cased (view, cart, purchase, …)."""
        sql = "SELECT lower(event_type) AS t, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"
        with Store.open(self.settings) as store:
            frame = store.query(sql)
        return {str(t): int(n) for t, n in zip(frame["t"], frame["n"], strict=True)}

    def without_events(self, rules: AudienceRules) -> list[str]:
        """The browse rules (viewed, carted) the store has no events of their type for: they cannot be
        evaluated, and reading them as nobody (or leaving them out: everyone) would mislead."""
        used = [name for name in EVENT_RULES if getattr(rules, name) is not None]
        counts = self.event_counts() if used else {}
        return [name for name in used if not counts.get(EVENT_RULES[name])]

    def describe_without_events(self, rule: str, language: str = "en") -> str:
        counts = self.event_counts()
        event_type = EVENT_RULES[rule]
        held = ", ".join(f"{t} {n:,}" for t, n in counts.items())
        if language == "zh":
            held = f"（现有事件：{held}）" if held else "（events 表没有任何行）"
            return (
                f"audience.{rule}：商店的行为事件里没有 {event_type!r} 类型的事件{held}，这条规则无法计算；"
                "请先用 `marketpilot load` 导入行为事件（event_type 为 view / cart），或去掉这条规则"
            )
        held = f" (its events: {held})" if held else " (the events table has no rows)"
        return (
            f"audience.{rule}: the store has no {event_type!r} behaviour events{held}, so this rule "
            "cannot be evaluated; load behaviour events (event_type view / cart) with `marketpilot load` "
            "first, or drop the rule"
        )

    def past_the_orders(self, event_type: str) -> Outrun | None:
        """The events of the type after the last order day, or None when there are none (or no events
        of the type at all): those days' purchases are not in the orders yet."""
        sql = (
            "WITH o AS (SELECT max(ordered_at)::DATE AS day FROM orders), "
            "e AS (SELECT customer_id, occurred_at::DATE AS day FROM events "
            "WHERE customer_id IS NOT NULL AND lower(event_type) = ?) "
            "SELECT (SELECT max(day) FROM e), (SELECT day FROM o), count(*), count(DISTINCT customer_id) "
            "FROM e WHERE e.day > coalesce((SELECT day FROM o), DATE '0001-01-01')"
        )
        with Store.open(self.settings) as store:
            row = store.con.execute(sql, [event_type]).fetchone()
        return Outrun(*row) if row and row[2] else None

    def warnings(self, rules: AudienceRules, language: str = "en") -> list[str]:
        """What the user should know about rules this data evaluates but may read wrong: a
        `without_purchase` rule on events that run past the orders takes whoever browsed after the
        last order day for a customer who did not buy, the purchases since not being loaded yet."""
        said = []
        for name, event_type in EVENT_RULES.items():
            rule: BrowseRule | None = getattr(rules, name)
            if rule is not None and rule.without_purchase and (outrun := self.past_the_orders(event_type)):
                said.append(outrun.describe(name, language))
        return said

    def _sql(self, rules: AudienceRules, select: str) -> tuple[str, list[object]]:
        missing = self.missing(rules)
        if missing:
            commands = ", ".join(f"`{INTEL_COLUMNS[f].produced_by}`" for f in missing)
            raise UserError(
                "The audience rules need intel outputs this home does not have: "
                + "; ".join(self.describe_missing(f) for f in missing),
                hint=f"Run {commands} first, or drop those rules from the spec.",
            )
        no_events = self.without_events(rules)
        if no_events:
            raise UserError("; ".join(self.describe_without_events(r) for r in no_events))
        params: list[object] = []
        joins, exprs = [], []
        files: dict[str, str] = {}
        for feature, spec in INTEL_COLUMNS.items():
            if not self._has(feature):
                exprs.append(f"NULL AS {feature}")
                continue
            if spec.file not in files:
                alias = f"i{len(files)}"
                files[spec.file] = alias
                joins.append(
                    f"LEFT JOIN read_parquet(?) {alias} ON {alias}.customer_id::VARCHAR = c.customer_id"
                )
                params.append(str(self.intel_file(spec.file)))
            value = f'{files[spec.file]}."{self.column(feature)}"'
            # Names are text in specs; intel may label segments with integers (cluster ids).
            cast = "VARCHAR" if feature in ("segment", "rfm_class") else "DOUBLE"
            exprs.append(f"CAST({value} AS {cast}) AS {feature}")
        if rules.clv_percentile is not None:
            # Ranked over the whole CLV table, so "top 20 %" does not depend on the other rules.
            percentiles = self._percentiles(self.column("clv"))  # type: ignore[arg-type]
            joins.append(f"LEFT JOIN ({percentiles}) pc ON pc.customer_id = c.customer_id")
            params.append(str(self.intel_file(INTEL_COLUMNS["clv"].file)))
            exprs.append("pc.clv_percentile AS clv_percentile")
        else:
            exprs.append("NULL::DOUBLE AS clv_percentile")
        where, where_params = ["NOT is_guest"], []
        if rules.segments:
            where.append("segment IN (SELECT unnest(?))")
            where_params.append(rules.segments)
        if rules.rfm_classes:
            where.append("rfm_class IN (SELECT unnest(?))")
            where_params.append(rules.rfm_classes)
        for name in _BANDS:
            band: Band | None = getattr(rules, name)
            if band is not None and band.min is not None:
                where.append(f"{name} >= ?")
                where_params.append(band.min)
            if band is not None and band.max is not None:
                where.append(f"{name} <= ?")
                where_params.append(band.max)
        for rule, test in ((rules.bought, "IN"), (rules.not_bought, "NOT IN")):
            if rule is not None:
                buyers, buyer_params = _buyers(rule)
                where.append(f"customer_id {test} ({buyers})")
                where_params += buyer_params
        for name, event_type in EVENT_RULES.items():
            browse: BrowseRule | None = getattr(rules, name)
            if browse is not None:
                browsers, browser_params = _browsers(browse, event_type)
                where.append(f"customer_id IN ({browsers})")
                where_params += browser_params
        if rules.exclude:
            where.append("customer_id NOT IN (SELECT unnest(?))")
            where_params.append(rules.exclude)
        condition = " AND ".join(where)
        if rules.include:
            condition = f"({condition}) OR customer_id IN (SELECT unnest(?))"
            where_params.append(rules.include)
            if rules.exclude:
                condition = f"({condition}) AND customer_id NOT IN (SELECT unnest(?))"
                where_params.append(rules.exclude)
        base = (
            f"SELECT c.customer_id, coalesce(c.is_guest, false) AS is_guest, {', '.join(exprs)}, "
            "p.email IS NOT NULL AND p.email <> '' AS has_email, "
            "p.phone IS NOT NULL AND p.phone <> '' AS has_phone "
            f"FROM customers c {' '.join(joins)} "
            f"LEFT JOIN {Store.qualified('customer_pii')} p ON p.customer_id = c.customer_id"
        )
        return f"SELECT {select} FROM ({base}) a WHERE {condition}", params + where_params

    def _query(self, rules: AudienceRules, select: str, order: str = "") -> pd.DataFrame:
        sql, params = self._sql(rules, select)
        with Store.open(self.settings) as store:
            browsing = [b for b in (rules.viewed, rules.carted) if b is not None]
            bought = rules.bought is not None or rules.not_bought is not None
            if bought or any(b.without_purchase for b in browsing):
                register_purchases(store.con)  # the purchase lines `_BOUGHT` and `_browsers` read
            return store.query(sql + order, params)

    def select(self, rules: AudienceRules) -> pd.DataFrame:
        """Every eligible customer with the intel columns and reachability flags, ordered by id."""
        return self._query(rules, "* EXCLUDE (is_guest)", " ORDER BY customer_id")

    def count(self, rules: AudienceRules) -> int:
        return int(self._query(rules, "count(*) AS n")["n"].iloc[0])

    def slots(self, customer_ids: pd.Series) -> pd.DataFrame:
        """Render-time personal data for the chosen customers only (name from the private table)."""
        with Store.open(self.settings) as store:
            store.con.register("_ids", pd.DataFrame({"customer_id": customer_ids.astype(str)}))
            try:
                frame = store.query(
                    f"SELECT i.customer_id, p.name, p.email, p.phone FROM _ids i "
                    f"LEFT JOIN {Store.qualified('customer_pii')} p USING (customer_id)"
                )
            finally:
                store.con.unregister("_ids")
        return frame
