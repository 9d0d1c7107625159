"""`generate_shop`: a seeded Chinese shop written as one Parquet file per canonical table.

Customers are simulated in fixed-size chunks, each with its own random stream derived from the seed,
and every chunk's rows are appended to streaming Parquet writers, so memory stays flat however many
customers are asked for and the same seed always gives the same files.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from marketpilot.data.sample import vocab
from marketpilot.data.sample.calendar import ShopCalendar
from marketpilot.data.sample.catalogue import Catalogue, make_catalogue
from marketpilot.data.sample.choice import ProductChooser
from marketpilot.data.sample.events import make_events
from marketpilot.data.sample.orders import simulate_sales
from marketpilot.data.sample.people import Customers, customer_ids, customer_table, make_customers, pii_table
from marketpilot.data.sample.reversals import order_tables, simulate_reversals
from marketpilot.data.sample.reviews import ASPECTS, make_reviews
from marketpilot.data.sample.tables import SCHEMAS
from marketpilot.data.schema import TABLES
from marketpilot.errors import UserError

GENERATOR_VERSION = 1
CHUNK_CUSTOMERS = 25_000
MAX_CUSTOMERS = 99_999_999  # customer ids have 8 digits
MAX_PRODUCTS = 999_999  # product ids have 6
DEFAULT_START = date(2024, 1, 1)
DEFAULT_END = date(2025, 12, 31)
MANIFEST = "manifest.json"
TRUTH_DIR = "truth"
# Columns with few distinct values compress and write faster dictionary-encoded.
DICTIONARY_COLUMNS = {
    "customers": ["country", "city", "acquisition_channel", "gender"],
    "customer_pii": [],
    "products": ["category", "subcategory", "brand", "currency"],
    "orders": ["status", "channel", "currency", "country"],
    "order_items": ["product_id", "currency"],
    "events": ["event_type", "product_id", "channel"],
    "reviews": ["product_id", "language"],
}

Progress = Callable[[int, int], None]


def default_products(customers: int) -> int:
    """Catalogue size that grows with the customer base: 300 to 5,000 products."""
    return int(np.clip(customers // 100, 300, 5_000))


def generate_shop(
    out_dir: Path | str,
    customers: int = 10_000,
    seed: int = 0,
    start: date | str = DEFAULT_START,
    end: date | str = DEFAULT_END,
    products: int | None = None,
    progress: Progress | None = None,
    chunk_customers: int = CHUNK_CUSTOMERS,
) -> dict[str, Path]:
    """Write a synthetic Chinese shop to `out_dir` and return {table name: Parquet path}.

    Tables and columns are exactly those of `marketpilot.data.schema` (money in fen, CNY). Hidden
    traits used to simulate it (product quality, customer purchase rate and dropout, …) go to
    `out_dir/truth/` for checking analytics against the truth. Files appear only when complete.
    The same (seed, customers, dates, products, chunk_customers) always gives identical files;
    `chunk_customers` bounds memory (each chunk has its own random stream).
    """
    start_date, end_date = _as_date(start, "start"), _as_date(end, "end")
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise UserError(f"customers must be between 1 and {MAX_CUSTOMERS:,}, got {customers:,}.")
    if chunk_customers < 1:
        raise UserError(f"chunk_customers must be at least 1, got {chunk_customers}.")
    n_products = default_products(customers) if products is None else products
    if not 3 * len(vocab.CATEGORIES) <= n_products <= MAX_PRODUCTS:
        raise UserError(
            f"products must be between {3 * len(vocab.CATEGORIES)} and {MAX_PRODUCTS:,}, got {n_products:,}."
        )
    calendar = ShopCalendar.build(start_date, end_date)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staging = out / f".staging-{uuid.uuid4().hex}"
    (staging / TRUTH_DIR).mkdir(parents=True)
    try:
        rows = _write_all(staging, customers, seed, calendar, n_products, chunk_customers, progress)
        manifest = {
            "generator_version": GENERATOR_VERSION,
            "seed": seed,
            "customers": customers,
            "products": n_products,
            "chunk_customers": chunk_customers,
            "start": start_date.isoformat(),
            "end": end_date.isoformat(),
            "currency": "CNY",
            "rows": rows,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        # Replace any previous shop file by file; the manifest goes last so its presence means done.
        (out / MANIFEST).unlink(missing_ok=True)
        (out / TRUTH_DIR).mkdir(exist_ok=True)
        for path in sorted(staging.rglob("*.parquet")):
            path.replace(out / path.relative_to(staging))
        (staging / MANIFEST).replace(out / MANIFEST)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return shop_paths(out)


def shop_paths(out_dir: Path | str) -> dict[str, Path]:
    """{table: path} of a generated shop in `out_dir`."""
    return {name: Path(out_dir) / f"{name}.parquet" for name in TABLES}


def read_manifest(out_dir: Path | str) -> dict:
    """The manifest of a generated shop (seed, size, dates, rows per table)."""
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        raise UserError(f"No generated shop in {out_dir}.", hint="Run `marketpilot sample generate` first.")
    return json.loads(path.read_text(encoding="utf-8"))


def truth_paths(out_dir: Path | str) -> dict[str, Path]:
    """Hidden traits of a generated shop: 'products' (quality, popularity, weak aspect, companion) and
    'customers' (purchase rate, dropout, price sensitivity, …)."""
    return {name: Path(out_dir) / TRUTH_DIR / f"{name}.parquet" for name in ("products", "customers")}


def _write_all(
    staging: Path,
    n_customers: int,
    seed: int,
    calendar: ShopCalendar,
    n_products: int,
    chunk_customers: int,
    progress: Progress | None,
) -> dict[str, int]:
    catalogue = make_catalogue(_rng(seed, 0), n_products, calendar.start)
    chooser = ProductChooser(catalogue)
    writers = {
        name: pq.ParquetWriter(
            staging / f"{name}.parquet",
            SCHEMAS[name],
            compression="snappy",
            use_dictionary=DICTIONARY_COLUMNS[name],
        )
        for name in TABLES
    }
    truth_writer = pq.ParquetWriter(staging / TRUTH_DIR / "customers.parquet", _TRUTH_CUSTOMERS)
    rows = dict.fromkeys(TABLES, 0)
    counters = {"order": 1, "event": 1, "session": 1, "review": 1}
    try:
        writers["products"].write_table(catalogue.table)
        rows["products"] = catalogue.size
        for chunk, first in enumerate(range(0, n_customers, chunk_customers)):
            size = min(chunk_customers, n_customers - first)
            rng = _rng(seed, 1, chunk)
            cust = make_customers(rng, first + 1, size, calendar, chooser)
            sales = simulate_sales(rng, cust, calendar, catalogue, chooser)
            reversals = simulate_reversals(rng, sales, catalogue, calendar)
            orders, items = order_tables(sales, reversals, cust, catalogue, calendar, counters["order"])
            events = make_events(
                rng, cust, sales, calendar, catalogue, chooser, counters["event"], counters["session"]
            )
            reviews = make_reviews(rng, cust, sales, reversals, catalogue, calendar, counters["review"])
            tables = {
                "customers": customer_table(cust, calendar),
                "customer_pii": pii_table(rng, cust),
                "orders": orders,
                "order_items": items,
                "events": events.table,
                "reviews": reviews,
            }
            for name, table in tables.items():
                writers[name].write_table(table)
                rows[name] += table.num_rows
            truth_writer.write_table(_customer_truth(cust, sales.alive_at_end, calendar))
            counters["order"] += sales.n_orders
            counters["event"] += events.table.num_rows
            counters["session"] += events.n_sessions
            counters["review"] += reviews.num_rows
            if progress is not None:
                progress(first + size, n_customers)
    finally:
        for writer in writers.values():
            writer.close()
        truth_writer.close()
    pq.write_table(_product_truth(catalogue), staging / TRUTH_DIR / "products.parquet")
    return rows


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *stream])))


def _as_date(value: date | str, name: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"{name} must be a date like 2024-01-01, got {value!r}.") from None


_TRUTH_CUSTOMERS = pa.schema(
    [
        ("customer_id", pa.string()),
        ("buyer", pa.bool_()),
        ("purchases_per_year", pa.float64()),
        ("dropout_probability", pa.float64()),
        ("alive_at_end", pa.bool_()),
        ("price_sensitivity", pa.float64()),
        ("staple_rate", pa.float64()),
        ("favourite_category", pa.string()),
    ]
)


def _customer_truth(cust: Customers, alive_at_end: np.ndarray, calendar: ShopCalendar) -> pa.Table:
    favourite = np.argmax(np.diff(cust.taste, axis=1, prepend=0.0), axis=1)
    names = pa.array([c.name for c in vocab.CATEGORIES])
    return pa.table(
        {
            "customer_id": customer_ids(cust.number),
            "buyer": cust.buyer,
            "purchases_per_year": cust.rate * 365.0,
            "dropout_probability": cust.dropout,
            "alive_at_end": alive_at_end,
            "price_sensitivity": cust.price_sensitivity,
            "staple_rate": cust.staple_rate,
            "favourite_category": names.take(pa.array(favourite)),
        },
        schema=_TRUTH_CUSTOMERS,
    )


def _product_truth(catalogue: Catalogue) -> pa.Table:
    return pa.table(
        {
            "product_id": catalogue.ids,
            "quality": catalogue.quality,
            "popularity": catalogue.popularity,
            "weak_aspect": pa.array(ASPECTS).take(pa.array(catalogue.weak_aspect)),
            "companion_id": catalogue.ids.take(pa.array(catalogue.companion)),
        }
    )
