"""Loading a generated shop into the store."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from marketpilot.data.schema import TABLES
from marketpilot.data.store import Store
from marketpilot.errors import UserError

# Parents before children, so a reader never sees lines of unknown orders mid-way.
LOAD_ORDER = ("products", "customers", "orders", "order_items", "events", "reviews", "customer_pii")


def load_shop(store: Store, paths: Mapping[str, Path | str]) -> dict[str, int]:
    """Upsert every table in `paths` (as returned by `generate_shop`) in one transaction; returns
    rows loaded per table. DuckDB reads the Parquet files itself, so big shops never pass through
    pandas."""
    unknown = sorted(set(paths) - set(TABLES))
    if unknown:
        raise UserError(f"Not canonical tables: {', '.join(unknown)}.", hint=f"Tables: {', '.join(TABLES)}")
    missing = [str(p) for p in paths.values() if not Path(p).is_file()]
    if missing:
        raise UserError(
            f"Sample file(s) not found: {', '.join(missing)}.",
            hint="Run `marketpilot sample generate` first.",
        )
    loaded: dict[str, int] = {}
    with store.transaction():
        for table in (t for t in LOAD_ORDER if t in paths):
            loaded[table] = store.upsert(table, store.con.read_parquet(str(paths[table])))
    return loaded
