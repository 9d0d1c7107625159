"""Sample-shop generation: wall time, peak RSS and output size for 100k and 1M customers.

Each size runs in its own process so its peak RSS is its own; the output goes to a temporary
directory that is removed afterwards.

    .venv/bin/python bench/sample_bench.py                          # 100k and 1M customers
    .venv/bin/python bench/sample_bench.py --customers 20000        # one smaller size
    .venv/bin/python bench/sample_bench.py --write bench/results/sample.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_case(customers: int, seed: int, out_dir: Path) -> dict:
    """Generate one shop in this process (called in a child process)."""
    import pyarrow.parquet as pq

    from marketpilot.data.sample import generate_shop

    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    paths = generate_shop(out_dir, customers=customers, seed=seed)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before
    rows = {name: pq.ParquetFile(path).metadata.num_rows for name, path in paths.items()}
    size_mb = sum(path.stat().st_size for path in paths.values()) / 2**20
    return {
        "customers": customers,
        "seconds": round(seconds, 1),
        # CPU time barely depends on other jobs; on an idle machine wall time is close to it.
        "cpu_seconds": round(cpu, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "parquet_mb": round(size_mb),
        "rows": rows,
        "order_lines_per_s": round(rows["order_items"] / seconds),
        "rows_per_s": round(sum(rows.values()) / seconds),
    }


def measure(customers: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="sample-bench-") as tmp:
        code = (
            "import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); "
            "from sample_bench import run_case; "
            "print(json.dumps(run_case(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))))"
        )
        args = [sys.executable, "-c", code, str(REPO / "bench"), str(customers), str(seed), tmp]
        load_before = os.getloadavg()[0]
        done = subprocess.run(args, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        # Other jobs on a shared machine slow this down; record how busy it was.
        result["load_average"] = round((load_before + os.getloadavg()[0]) / 2, 1)
        return result


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU cores ({model}), Python {platform.python_version()}, {platform.system()}"


def markdown(results: list[dict], command: str) -> str:
    tables = list(results[0]["rows"])
    lines = [
        "# Sample data generation (`marketpilot sample generate`)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {machine()}. The load average column shows how busy the (shared) machine was:",
        "above the core count, the times are upper bounds.",
        "",
        "| customers | wall s | CPU s | peak RSS (MB) | Parquet (MB) | order lines/s | rows/s | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['customers']:,} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_mb']:,} "
            f"| {r['parquet_mb']:,} | {r['order_lines_per_s']:,} | {r['rows_per_s']:,} "
            f"| {r['load_average']} |"
        )
    lines += [
        "",
        "Rows written:",
        "",
        "| size | " + " | ".join(tables) + " |",
        "|---:" * (len(tables) + 1) + "|",
    ]
    for r in results:
        lines.append(f"| {r['customers']:,} | " + " | ".join(f"{r['rows'][t]:,}" for t in tables) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, action="append", help="size(s) to run [100000 and 1000000]")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", type=Path, help="also write the results as Markdown to this file")
    args = parser.parse_args()
    results = []
    for customers in args.customers or [100_000, 1_000_000]:
        result = measure(customers, args.seed)
        results.append(result)
        print(
            f"{customers:>9,} customers: {result['seconds']:>6.1f} s ({result['cpu_seconds']} s CPU), "
            f"peak RSS {result['peak_rss_mb']:,} MB, "
            f"{result['rows']['order_items']:,} order lines, {result['rows']['events']:,} events, "
            f"{result['parquet_mb']:,} MB Parquet (load average {result['load_average']})",
            flush=True,
        )
    if args.write:
        command = ".venv/bin/python bench/sample_bench.py" + "".join(f" {a}" for a in sys.argv[1:])
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(markdown(results, command), encoding="utf-8")
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
