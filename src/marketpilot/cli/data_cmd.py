"""`marketpilot load` and `marketpilot demo`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from marketpilot.cli.app import HomeOption, JsonOption, app, console, err_console, print_json, settings_for
from marketpilot.data.load import load_file
from marketpilot.demo import run_demo


@app.command("load")
def load_command(
    table: Annotated[
        str, typer.Argument(help="Canonical table (orders, customers, …) or 'auto' with a preset.")
    ],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8/GBK, optionally .gz), Parquet or Excel file.")],
    preset: Annotated[str | None, typer.Option(help="Built-in format: online-retail, cdnow.")] = None,
    mapping: Annotated[
        Path | None, typer.Option(help="YAML mapping of the file's columns (docs/data.md).")
    ] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Validate a file and load it into the store in one transaction (re-loading is idempotent)."""
    report = load_file(settings_for(home), file, table, preset=preset, mapping=mapping)
    if json_out:
        print_json(report.public())
        return
    console.print(
        f"Loaded [bold]{report.rows_loaded:,}[/] rows from {report.source} "
        f"({report.rows_rejected:,} rejected{', encoding ' + report.encoding if report.encoding else ''})"
    )
    for name, rows in report.tables.items():
        console.print(f"  {name}: {rows:,} rows written")
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@app.command("demo")
def demo_command(home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Run MarketPilot end to end on the bundled Online Retail data and write the results under home."""
    with err_console.status("Running the demo…"):
        result = run_demo(settings_for(home))
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    for step in result.steps:
        console.print(f"[green]✓[/] {step.name} ({step.seconds:.1f}s): {step.summary}")
    monthly = result.tables.get("monthly", [])
    if monthly:
        grid = Table(title="Revenue per month (completed orders)")
        for col in ("month", "customers", "orders", "revenue", "cancelled"):
            grid.add_column(col, justify="left" if col == "month" else "right")
        for row in monthly:
            grid.add_row(
                row["month"], f"{row['customers']:,}", f"{row['orders']:,}",
                f"{row['revenue']:,.2f} {row['currency']}", f"{row['cancelled']:,.2f}",
            )  # fmt: skip
        console.print(grid)
    console.print(f"Outputs are in [bold]{result.home}[/]:")
    for path in result.outputs:
        console.print(f"  {path}")
