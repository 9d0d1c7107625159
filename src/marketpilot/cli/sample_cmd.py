"""`marketpilot sample generate`: a seeded synthetic Chinese shop (see docs/sample-data.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from marketpilot.cli.app import (
    HomeOption,
    JsonOption,
    app,
    console,
    err_console,
    print_json,
    settings_for,
)
from marketpilot.data.sample.generate import DEFAULT_END, DEFAULT_START
from marketpilot.data.sample.service import make_sample
from marketpilot.wording import counted

sample_app = typer.Typer(help="Synthetic sample data (a Chinese shop).", no_args_is_help=True)
app.add_typer(sample_app, name="sample")


@sample_app.command("generate")
def generate_command(
    customers: Annotated[
        int, typer.Option(min=1, help="Number of customers (~10 order lines each).")
    ] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives identical files.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Output directory.", show_default="HOME/samples/shop-c<N>-s<SEED>")
    ] = None,
    load: Annotated[bool, typer.Option("--load/--no-load", help="Load the files into the store.")] = True,
    start: Annotated[str, typer.Option(help="First day of orders (YYYY-MM-DD).")] = DEFAULT_START.isoformat(),
    end: Annotated[str, typer.Option(help="Last day of orders (YYYY-MM-DD).")] = DEFAULT_END.isoformat(),
    products: Annotated[
        int | None, typer.Option(min=24, help="Catalogue size.", show_default="customers/100, 300 to 5,000")
    ] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Generate a realistic Chinese shop (customers, products, orders, events, reviews) as Parquet."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("Generating customers", total=customers)
        result = make_sample(
            settings_for(home),
            customers=customers,
            seed=seed,
            out_dir=out,
            load=load,
            start=start,
            end=end,
            products=products,
            progress=lambda done, total: bar.update(
                task,
                completed=done,
                description="Loading" if done == total and load else "Generating customers",
            ),
        )
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    console.print(
        f"Generated a shop in [bold]{escape(str(result.out_dir))}[/] ({result.generate_seconds:.1f}s):",
        markup=True,
    )
    for name, rows in result.rows.items():
        loaded = "" if result.loaded is None else f"  (loaded {result.loaded.get(name, 0):,})"
        console.print(f"  {name}: {counted(rows, 'row')}{loaded}")
    if result.load_seconds is not None:
        console.print(f"Loaded into the store in {result.load_seconds:.1f}s.")
