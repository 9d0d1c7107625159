"""Customer-intelligence benchmark: RFM, CLV fit + scoring and segmentation on 100k and 1M generated
customers (~10 order lines each), wall time and peak RSS per stage, next to a plain pandas RFM and the
`lifetimes` package's BG/NBD fit (when installed: `pip install lifetimes`, not a MarketPilot dependency).

    .venv/bin/python bench/intel_bench.py                  # 100k and 1M
    .venv/bin/python bench/intel_bench.py --sizes 100000   # one size

Each stage runs in its own process so that its peak RSS is its own (os.wait4 reports it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CATEGORIES = ["服饰", "美妆", "食品", "数码", "家居", "母婴", "运动", "图书", "宠物", "箱包"]
START, END = np.datetime64("2023-01-01T00:00:00"), np.datetime64("2024-12-31T23:59:59")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def generate(home: Path, customers: int, seed: int = 0) -> dict[str, int]:
    """A shop with a BG/NBD-like purchase process, vectorised: ~3.4 orders and ~10 lines per customer."""
    from marketpilot.config import get_settings
    from marketpilot.data import Store

    rng = np.random.default_rng(seed)
    span = (END - START).astype("timedelta64[s]").astype(np.int64)
    first = rng.integers(0, int(span * 0.9), customers)
    rate = rng.gamma(0.8, 1.0, customers) * 3.0  # heterogeneous purchase rates
    n_orders = 1 + rng.poisson(rate)
    cust_of_order = np.repeat(np.arange(customers), n_orders)
    n = len(cust_of_order)
    offset = rng.random(n) * (span - first[cust_of_order])
    is_first = np.r_[True, cust_of_order[1:] != cust_of_order[:-1]]
    ts = START + (first[cust_of_order] + np.where(is_first, 0, offset)).astype("timedelta64[s]")
    n_lines = 1 + rng.poisson(1.94, n)  # ~10 lines per customer
    order_of_line = np.repeat(np.arange(n), n_lines)
    n_products = 5000
    product = rng.integers(0, n_products, len(order_of_line))
    price = np.round(rng.lognormal(4.0, 0.8, n_products) * 100).astype(np.int64)
    quantity = 1 + rng.poisson(0.3, len(order_of_line))
    line_total = price[product] * quantity
    total = np.bincount(order_of_line, weights=line_total, minlength=n).astype(np.int64)
    discount = np.where(rng.random(n) < 0.3, total // 10, 0)
    line_no = np.arange(len(order_of_line)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1

    settings = get_settings(home)
    tables = {
        "customers": pa.table(
            {"customer_id": _ids("C", np.arange(customers), 8), "is_guest": np.zeros(customers, bool)}
        ),
        "products": pa.table(
            {
                "product_id": _ids("P", np.arange(n_products), 5),
                "name": _ids("商品", np.arange(n_products), 5),
                "category": pa.array(np.array(CATEGORIES)[rng.integers(0, len(CATEGORIES), n_products)]),
                "price_minor": price,
            }
        ),
        "orders": pa.table(
            {
                "order_id": _ids("O", np.arange(n), 9),
                "customer_id": _ids("C", cust_of_order, 8),
                "ordered_at": pa.array(ts),
                "status": pa.array(np.full(n, "completed")),
                "currency": pa.array(np.full(n, "CNY")),
                "total_minor": total - discount,
                "discount_minor": discount,
            }
        ),
        "order_items": pa.table(
            {
                "order_id": _ids("O", order_of_line, 9),
                "line_no": line_no.astype(np.int32),
                "product_id": _ids("P", product, 5),
                "quantity": quantity.astype(np.int32),
                "unit_price_minor": price[product],
            }
        ),
    }
    with Store.open(settings) as store, store.transaction():
        for name, table in tables.items():
            store.upsert(name, table)
    return {name: t.num_rows for name, t in tables.items()}


def stage(name: str, home: Path) -> dict[str, object]:
    """Run one stage in this process; returns its figures."""
    from marketpilot.config import get_settings

    settings = get_settings(home)
    out: dict[str, object] = {}
    started = time.perf_counter()
    if name == "rfm":
        from marketpilot.analytics.rfm import run_rfm

        summary, _ = run_rfm(settings)
        out["customers"] = summary.customers
    elif name == "clv":
        from marketpilot.analytics.clv.bgnbd import BetaGeoModel
        from marketpilot.analytics.clv.gamma_gamma import GammaGammaModel
        from marketpilot.analytics.clv.scoring import score_customers
        from marketpilot.analytics.clv.service import transactions
        from marketpilot.analytics.clv.transactions import date_range, summarise
        from marketpilot.analytics.outputs import write_table

        with transactions(settings) as con:
            _, last = date_range(con)
            summary = summarise(con, calibration_end=last, time_unit="W")
        out["summary_s"] = time.perf_counter() - started
        t = time.perf_counter()
        bgnbd = BetaGeoModel().fit(summary["frequency"], summary["recency"], summary["T"])
        out["bgnbd_fit_s"] = time.perf_counter() - t
        t = time.perf_counter()
        repeat = summary[summary["frequency"] > 0]
        gg = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
        out["gamma_gamma_fit_s"] = time.perf_counter() - t
        t = time.perf_counter()
        scores = score_customers(bgnbd, gg, summary, time_unit="W")
        write_table(settings, scores, "intel", "clv")
        out["scoring_s"] = time.perf_counter() - t
        out["customers"] = len(summary)
        out["bgnbd"] = {k: round(v, 4) for k, v in bgnbd.params_.items()}
        summary[["frequency", "recency", "T"]].to_parquet(settings.path("bench", "summary.parquet"))
    elif name == "segment":
        from marketpilot.analytics.segments.service import run_segmentation

        result = run_segmentation(settings, personas=False, report=True)
        out["customers"], out["k"] = result.customers, result.k
    elif name == "pandas_rfm":
        import pandas as pd

        from marketpilot.data import Store

        with Store.open(settings, read_only=True) as store:
            orders = store.read("orders", ["order_id", "customer_id", "ordered_at", "total_minor"])
        out["read_s"] = time.perf_counter() - started
        t = time.perf_counter()
        as_of = orders["ordered_at"].max().normalize()
        rfm = orders.groupby("customer_id").agg(
            last=("ordered_at", "max"), frequency=("order_id", "nunique"), monetary=("total_minor", "sum")
        )
        rfm["recency_days"] = (as_of - rfm["last"].dt.normalize()).dt.days
        for col, asc in (("recency_days", False), ("frequency", True), ("monetary", True)):
            rfm[f"{col}_score"] = np.minimum(
                5,
                1
                + (
                    5 * rfm[col].rank(method="min", pct=False, ascending=asc).sub(1) / max(len(rfm) - 1, 1)
                ).astype(int),
            )
        out["compute_s"] = time.perf_counter() - t
        out["customers"] = len(rfm)
    elif name == "lifetimes_bgnbd":
        import warnings

        import pandas as pd

        try:
            from lifetimes import BetaGeoFitter
        except ImportError:
            return {"skipped": "lifetimes is not installed (pip install lifetimes)"}
        warnings.simplefilter("ignore")
        summary = pd.read_parquet(settings.path("bench", "summary.parquet"))
        t = time.perf_counter()
        model = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
        out["bgnbd_fit_s"] = time.perf_counter() - t
        out["bgnbd"] = {k: round(float(v), 4) for k, v in model.params_.items()}
    out["wall_s"] = time.perf_counter() - started
    return out


def run_stage(name: str, home: Path) -> dict[str, object]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--stage", name, "--home", str(home)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"stage {name} failed (status {status})")
    figures = json.loads(output.strip().splitlines()[-1])
    figures["peak_rss_mb"] = round(usage.ru_maxrss / 1024)  # Linux reports KiB
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--stage")
    parser.add_argument("--home", type=Path)
    args = parser.parse_args()
    if args.stage:
        if args.stage == "generate":
            started = time.perf_counter()
            rows = generate(args.home, int(os.environ["INTEL_BENCH_CUSTOMERS"]))
            print(json.dumps({"rows": rows, "wall_s": time.perf_counter() - started}))
        else:
            print(json.dumps(stage(args.stage, args.home), default=str))
        return
    results: dict[int, dict[str, dict[str, object]]] = {}
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix=f"intel-bench-{size}-") as tmp:
            home = Path(tmp) / "home"
            os.environ["INTEL_BENCH_CUSTOMERS"] = str(size)
            results[size] = {}
            for name in ("generate", "rfm", "clv", "segment", "pandas_rfm", "lifetimes_bgnbd"):
                figures = run_stage(name, home)
                results[size][name] = figures
                print(
                    f"{size:>9,} {name:<16} {json.dumps(figures, ensure_ascii=False, default=str)}",
                    flush=True,
                )
            ours = sum(float(results[size][s]["wall_s"]) for s in ("rfm", "clv", "segment"))
            peak = max(int(results[size][s]["peak_rss_mb"]) for s in ("rfm", "clv", "segment"))
            print(f"{size:>9,} TOTAL (rfm + clv + segment): {ours:.1f} s, peak RSS {peak} MB", flush=True)
    print(json.dumps({"date": dt.datetime.now(dt.UTC).isoformat(), "results": results}, default=str))


if __name__ == "__main__":
    main()
