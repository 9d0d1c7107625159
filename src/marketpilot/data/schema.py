"""The canonical tables. Ids are strings; money is integer minor units (cents/分) plus a currency.

This module is the single source of truth for table shapes: the store creates tables from it,
loaders validate against it, and docs/data-model.md describes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["VARCHAR", "BIGINT", "INTEGER", "DOUBLE", "BOOLEAN", "TIMESTAMP", "DATE"]


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class TableSpec:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    doc: str = ""
    private: bool = False  # personal data: kept in the private store, never in analytics tables
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


C = Column

CUSTOMERS = TableSpec(
    "customers",
    key=("customer_id",),
    doc="One row per customer, pseudonymous: no names or contact details (see customer_pii).",
    columns=(
        C("customer_id", "VARCHAR", True, "Shop's id, or a keyed hash when the id is personal"),
        C("created_at", "TIMESTAMP", False, "First seen / sign-up time"),
        C("country", "VARCHAR", False, "Country"),
        C("city", "VARCHAR", False, "City (城市)"),
        C("acquisition_channel", "VARCHAR", False, "Where the customer came from"),
        C("gender", "VARCHAR", False, "Optional, as the shop records it"),
        C("birth_year", "INTEGER", False, "Optional"),
        C("is_guest", "BOOLEAN", False, "True for the synthetic customer of guest orders"),
    ),
)

CUSTOMER_PII = TableSpec(
    "customer_pii",
    key=("customer_id",),
    private=True,
    doc="Personal data, stored apart (private.duckdb); joined only at render/dispatch time.",
    columns=(
        C("customer_id", "VARCHAR", True, "Key into customers"),
        C("name", "VARCHAR", False, "Full name"),
        C("phone", "VARCHAR", False, "Phone number"),
        C("email", "VARCHAR", False, "E-mail address"),
        C("address", "VARCHAR", False, "Postal address"),
        C("source_id", "VARCHAR", False, "The original id when customer_id had to be pseudonymised"),
    ),
)

PRODUCTS = TableSpec(
    "products",
    key=("product_id",),
    doc="The catalogue.",
    columns=(
        C("product_id", "VARCHAR", True, "SKU / StockCode"),
        C("name", "VARCHAR", True, "Product name"),
        C("category", "VARCHAR", False, "Category (类目)"),
        C("subcategory", "VARCHAR", False, "Sub-category"),
        C("brand", "VARCHAR", False, "Brand"),
        C("price_minor", "BIGINT", False, "List price in minor units"),
        C("currency", "VARCHAR", False, "ISO currency code"),
        C("cost_minor", "BIGINT", False, "Unit cost in minor units (for margin rules)"),
        C("stock", "INTEGER", False, "Units in stock"),
        C("description", "VARCHAR", False, "Free text description"),
        C("attributes", "VARCHAR", False, "JSON object of attributes (颜色, 材质, …)"),
        C("created_at", "TIMESTAMP", False, "Listing time"),
    ),
)

ORDERS = TableSpec(
    "orders",
    key=("order_id",),
    doc="One row per order (invoice). Cancellations keep their own order id with status 'cancelled'.",
    columns=(
        C("order_id", "VARCHAR", True, "Order / invoice number"),
        C("customer_id", "VARCHAR", True, "Buyer; guest orders use a per-order guest id"),
        C("ordered_at", "TIMESTAMP", True, "Order time"),
        C("status", "VARCHAR", False, "completed | cancelled | returned"),
        C("channel", "VARCHAR", False, "Sales channel (app, web, 天猫, …)"),
        C("currency", "VARCHAR", False, "ISO currency code"),
        C("total_minor", "BIGINT", False, "Order total in minor units (negative for cancellations)"),
        C("discount_minor", "BIGINT", False, "Discount given in minor units"),
        C("country", "VARCHAR", False, "Ship-to country"),
    ),
)

ORDER_ITEMS = TableSpec(
    "order_items",
    key=("order_id", "line_no"),
    doc="Order lines. Returned / cancelled lines have negative quantity.",
    columns=(
        C("order_id", "VARCHAR", True, "Key into orders"),
        C("line_no", "INTEGER", True, "Line number within the order, from 1"),
        C("product_id", "VARCHAR", True, "Key into products"),
        C("quantity", "INTEGER", True, "Units; negative for returns"),
        C("unit_price_minor", "BIGINT", True, "Unit price in minor units"),
        C("currency", "VARCHAR", False, "ISO currency code"),
        C("discount_minor", "BIGINT", False, "Line discount in minor units"),
    ),
)

EVENTS = TableSpec(
    "events",
    key=("event_id",),
    doc="Behaviour events: view, cart, purchase, favourite, search, …",
    columns=(
        C("event_id", "VARCHAR", True, "Unique id (derived from the row when the source has none)"),
        C("customer_id", "VARCHAR", True, "Who"),
        C("event_type", "VARCHAR", True, "view | cart | purchase | fav | …"),
        C("occurred_at", "TIMESTAMP", True, "When"),
        C("product_id", "VARCHAR", False, "What"),
        C("session_id", "VARCHAR", False, "Session"),
        C("channel", "VARCHAR", False, "app | web | mini-program | …"),
    ),
)

REVIEWS = TableSpec(
    "reviews",
    key=("review_id",),
    doc="Product reviews (评价); text is untrusted input.",
    columns=(
        C("review_id", "VARCHAR", True, "Unique id"),
        C("product_id", "VARCHAR", False, "Reviewed product"),
        C("customer_id", "VARCHAR", False, "Reviewer"),
        C("rating", "INTEGER", False, "1–5 stars"),
        C("text", "VARCHAR", True, "Review text"),
        C("language", "VARCHAR", False, "zh | en"),
        C("created_at", "TIMESTAMP", False, "When"),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (CUSTOMERS, CUSTOMER_PII, PRODUCTS, ORDERS, ORDER_ITEMS, EVENTS, REVIEWS)
}
ANALYTIC_TABLES = tuple(name for name, spec in TABLES.items() if not spec.private)
