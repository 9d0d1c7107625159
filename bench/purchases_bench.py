"""The purchase rule's cost on real returns: `register_purchases` (the netting, materialised) and a full
read of what was bought (`_purchase_lines`) and of the purchases (`_purchases`), then RFM, on the UCI
Online Retail export (541,909 lines, 3,654 cancellation invoices of identified customers) loaded by its
preset, and optionally on a generated shop with returns (`generate_shop`).

    .venv/bin/python bench/purchases_bench.py --home /tmp/retail_home          # loads it the first time
    .venv/bin/python bench/purchases_bench.py --home /tmp/shop_home --shop 30000

Each figure is the median of `--repeats` runs in one process after one warm-up run, wall and CPU
milliseconds (`[wall, cpu]`); compare code versions on the same home (PYTHONPATH=<checkout>/src),
back to back.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RETAIL = REPO / "data" / "samples" / "online_retail.csv.gz"


def _ensure_store(home: Path, shop: int | None) -> None:
    from marketpilot.config import get_settings
    from marketpilot.data import Store
    from marketpilot.data.store import DB_FILE

    settings = get_settings(home)
    if (settings.home_dir / DB_FILE).exists():
        return
    if shop:
        from marketpilot.data.sample import generate_shop, load_shop

        with Store.open(settings) as store:
            load_shop(store, generate_shop(home / "files", customers=shop, seed=0))
    else:
        from marketpilot.data.load import load_file

        load_file(settings, RETAIL, preset="online-retail")


def _median_ms(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (all threads: on a shared machine CPU time varies less)."""
    run()  # warm-up: DuckDB's caches, imports
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return round(statistics.median(wall), 1), round(statistics.median(cpu), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--shop", type=int, help="a generated shop of this many customers, not Online Retail")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    _ensure_store(args.home, args.shop)

    from marketpilot.analytics.purchases import LINES_VIEW, ORDERS_VIEW, register_purchases
    from marketpilot.analytics.rfm import compute_rfm
    from marketpilot.config import get_settings
    from marketpilot.data import Store

    with Store.open(get_settings(args.home), read_only=True) as store:
        con = store.con

        def netted() -> None:
            register_purchases(con)

        def read_lines() -> tuple:
            return con.execute(f"SELECT count(*), sum(quantity), sum(value) FROM {LINES_VIEW}").fetchall()[0]

        def read_purchases() -> tuple:
            return con.execute(f"SELECT count(*), sum(value) FROM {ORDERS_VIEW}").fetchall()[0]

        result = {
            "register_purchases_ms": _median_ms(netted, args.repeats),
            "purchase_lines_read_ms": _median_ms(read_lines, args.repeats),
            "purchases_read_ms": _median_ms(read_purchases, args.repeats),
            "rfm_ms": _median_ms(lambda: compute_rfm(con), args.repeats),
        }
        lines, units, value = read_lines()
        purchases, spend = read_purchases()
        result |= {
            "purchase_lines": lines,
            "units": int(units),
            "lines_value": round(value, 2),
            "purchases": purchases,
            "spend": round(spend, 2),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
