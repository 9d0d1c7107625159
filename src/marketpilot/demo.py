"""`marketpilot demo`: the main job end to end on the bundled data, as a list of steps.

Each step takes the run's context, does one thing, and records what it wrote; later features add a
step to `STEPS` (RFM, CLV, segments, the campaign loop) without touching the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel

from marketpilot.config import Settings
from marketpilot.data.load import LoadReport, load_file
from marketpilot.data.store import Store
from marketpilot.errors import UserError

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "online_retail.csv.gz"


class StepResult(BaseModel):
    name: str
    seconds: float
    summary: str
    outputs: list[Path] = []


class DemoResult(BaseModel):
    home: Path
    steps: list[StepResult]
    tables: dict[str, list[dict[str, Any]]] = {}  # small result tables for display, by step

    @property
    def outputs(self) -> list[Path]:
        return [p for s in self.steps for p in s.outputs]


@dataclass
class DemoContext:
    """What steps share: settings, the output folder, and tables earlier steps produced."""

    settings: Settings
    out_dir: Path
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    load: LoadReport | None = None


Step = Callable[[DemoContext], StepResult]


def load_sample(ctx: DemoContext) -> StepResult:
    if not SAMPLE.is_file():
        raise UserError(
            f"The bundled sample {SAMPLE} is missing.", hint="Run the demo from a clone of the repo."
        )
    ctx.load = load_file(ctx.settings, SAMPLE, preset="online-retail")
    report = ctx.out_dir / "load_report.json"
    report.write_text(ctx.load.model_dump_json(indent=2), encoding="utf-8")
    counts = ", ".join(f"{t} {n:,}" for t, n in ctx.load.tables.items())
    return StepResult(name="load", seconds=0, summary=f"Loaded Online Retail: {counts}", outputs=[report])


def summarise(ctx: DemoContext) -> StepResult:
    """Customers, orders and revenue per month (completed orders; cancellations netted separately)."""
    with Store.open(ctx.settings, read_only=True) as store:
        monthly = store.query(
            """
            SELECT strftime(date_trunc('month', ordered_at), '%Y-%m') AS month,
                   count(DISTINCT customer_id) FILTER (WHERE status = 'completed') AS customers,
                   count(*) FILTER (WHERE status = 'completed') AS orders,
                   sum(total_minor) FILTER (WHERE status = 'completed') / 100.0 AS revenue,
                   -coalesce(sum(total_minor) FILTER (WHERE status = 'cancelled'), 0) / 100.0 AS cancelled,
                   any_value(currency) AS currency
            FROM orders GROUP BY ALL ORDER BY month
            """
        )
        totals = store.query(
            "SELECT count(*) FILTER (WHERE NOT coalesce(is_guest, false)) AS customers, "
            "count(*) FILTER (WHERE is_guest) AS guest_customers FROM customers"
        ).iloc[0]
    ctx.frames["monthly"] = monthly
    csv_path = ctx.out_dir / "summary_by_month.csv"
    json_path = ctx.out_dir / "summary.json"
    monthly.to_csv(csv_path, index=False)
    payload = {
        "customers": int(totals.customers),
        "guest_customers": int(totals.guest_customers),
        "orders": int(monthly.orders.sum()),
        "revenue": round(float(monthly.revenue.sum()), 2),
        "currency": str(monthly.currency.iloc[0]) if len(monthly) else None,
        "by_month": json.loads(monthly.to_json(orient="records")),
    }
    json_path.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")
    return StepResult(
        name="summary",
        seconds=0,
        summary=f"{payload['customers']:,} customers, {payload['orders']:,} orders, "
        f"revenue {payload['revenue']:,.2f} {payload['currency']} over {len(monthly)} months",
        outputs=[csv_path, json_path],
    )


STEPS: list[Step] = [load_sample, summarise]


def run_demo(settings: Settings, *, steps: list[Step] | None = None) -> DemoResult:
    out_dir = settings.path("demo", "summary.json").parent
    ctx = DemoContext(settings=settings, out_dir=out_dir)
    results = []
    for step in steps or STEPS:
        start = time.perf_counter()
        result = step(ctx)
        result.seconds = round(time.perf_counter() - start, 2)
        results.append(result)
    tables = {name: frame.to_dict(orient="records") for name, frame in ctx.frames.items()}
    return DemoResult(home=settings.home_dir, steps=results, tables=tables)
