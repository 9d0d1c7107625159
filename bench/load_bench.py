"""Loader throughput: rows/second and peak RSS for
1. the full UCI Online Retail export (541,909 lines, gzip CSV, preset online-retail), and
2. a generated Chinese shop (default 1M customers, ~10M order lines) loaded table by table from Parquet:
   customers, customer_pii, products, orders, order_items, reviews; the ~56M behaviour events only
   with --events (they dwarf everything else and are loaded the same way).

Each case runs in its own process so its peak RSS is its own.

    .venv/bin/python bench/load_bench.py                      # both cases
    .venv/bin/python bench/load_bench.py --customers 100000   # a smaller shop
    .venv/bin/python bench/load_bench.py --shop-dir DIR       # reuse a shop generated earlier
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RETAIL = REPO / "data" / "samples" / "online_retail.csv.gz"
SHOP_TABLES = ("customers", "customer_pii", "products", "orders", "order_items", "reviews")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def case_retail(home: Path) -> dict:
    from marketpilot.config import get_settings
    from marketpilot.data.load import load_file

    start = time.perf_counter()
    report = load_file(get_settings(home), RETAIL, preset="online-retail")
    seconds = time.perf_counter() - start
    rows = report.rows_loaded + report.rows_rejected
    return {
        "case": "Online Retail (gzip CSV, preset online-retail)",
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(_peak_rss_mb()),
        "tables": report.tables,
    }


def case_shop(home: Path, shop_dir: Path, customers: int, tables: tuple[str, ...]) -> dict:
    from marketpilot.config import get_settings
    from marketpilot.data.load import load_file
    from marketpilot.data.sample import generate_shop

    generated_s = None
    paths = {t: shop_dir / f"{t}.parquet" for t in tables}
    if not all(p.is_file() for p in paths.values()):
        start = time.perf_counter()
        paths = generate_shop(shop_dir, customers=customers, seed=7)
        generated_s = round(time.perf_counter() - start, 1)
    settings = get_settings(home)
    per_table = {}
    start = time.perf_counter()
    for table in tables:
        t0 = time.perf_counter()
        report = load_file(settings, paths[table], table)
        per_table[table] = {"rows": report.rows_loaded, "seconds": round(time.perf_counter() - t0, 2)}
    seconds = time.perf_counter() - start
    rows = sum(v["rows"] for v in per_table.values())
    return {
        "case": f"Generated shop, {customers:,} customers (Parquet: {', '.join(tables)})",
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(_peak_rss_mb()),
        "tables": per_table,
        "generate_seconds": generated_s,
    }


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--shop-dir", type=Path, default=None)
    parser.add_argument("--events", action="store_true", help="also load the behaviour events")
    parser.add_argument("--case", choices=["retail", "shop"], help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case == "retail":
        print(json.dumps(case_retail(args.home)))
        return
    if args.case == "shop":
        tables = (*SHOP_TABLES, "events") if args.events else SHOP_TABLES
        print(json.dumps(case_shop(args.home, args.shop_dir, args.customers, tables)))
        return
    with tempfile.TemporaryDirectory(prefix="mp_load_bench_") as tmp:
        shop_dir = args.shop_dir or Path(tmp) / "shop"
        results = [
            _child(["--case", "retail", "--home", f"{tmp}/retail_home"]),
            _child(["--case", "shop", "--home", f"{tmp}/shop_home", "--shop-dir", str(shop_dir),
                    "--customers", str(args.customers), *(["--events"] if args.events else [])]),
        ]  # fmt: skip
    print("| case | rows | seconds | rows/s | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['case']} | {r['rows']:,} | {r['seconds']} | {r['rows_per_s']:,} | {r['peak_rss_mb']:,} |"
        )
    for r in results:
        print(f"\n{r['case']}: {json.dumps(r['tables'], ensure_ascii=False)}")
        if r.get("generate_seconds"):
            print(f"(generating the shop took {r['generate_seconds']} s, not included above)")


if __name__ == "__main__":
    main()
