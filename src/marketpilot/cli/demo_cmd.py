"""`marketpilot demo`: the whole loop on the bundled data, step by step."""

from __future__ import annotations

import shutil
import sysconfig
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.live import Live
from rich.markup import escape
from rich.spinner import Spinner
from rich.table import Table

from marketpilot.cli.app import (
    HomeOption,
    JsonOption,
    app,
    console,
    err_console,
    print_json,
    print_table,
    settings_for,
)
from marketpilot.demo import SHOP_CUSTOMERS, StepResult, run_demo


@app.command("demo")
def demo_command(
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="Template personas, no copy or assistant step: no model loaded.")
    ] = False,
    customers: Annotated[
        int, typer.Option(min=200, help="Customers in the generated Chinese shop.")
    ] = SHOP_CUSTOMERS,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Run MarketPilot end to end on the bundled data; every result is written under --home.

    Loads Online Retail, generates a Chinese shop, then runs RFM, CLV, segments with personas,
    propensity, recommendations, review insight, copy, the service assistant, the campaign loop and the
    decisions (whom to e-mail, from the Hillstrom test; a 满减 coupon per segment)."""

    def show(step: StepResult) -> None:
        if not json_out:
            console.print(
                f"[green]✓[/] {escape(f'{step.name} ({step.seconds:.1f}s): {step.summary}')}",
                markup=True,
                highlight=False,
            )

    if not json_out:
        note = "" if no_llm else " (the first LLM step loads the embedded model)"
        err_console.print(f"Running the demo{note}…")
    # A spinner on stderr (shown only on a terminal) naming the step at work: some take minutes. The ✓
    # lines pass above it when stdout is that terminal too, and go where stdout points otherwise.
    spinner = Spinner("dots", "Starting…")
    live = Live(spinner, console=err_console, transient=True, redirect_stdout=console.is_terminal)

    def started(number: int, total: int, label: str) -> None:
        spinner.update(text=f"Step {number}/{total}: {label}…")

    with live if not json_out else nullcontext():
        result = run_demo(
            settings_for(home), use_llm=not no_llm, customers=customers, on_start=started, on_step=show
        )
    if json_out:
        print_json(result.model_dump(mode="json"))
        return
    _monthly_table(result.tables.get("shop_monthly", []), "Chinese shop: net revenue per month")
    segments = result.tables.get("segments", [])
    if segments:
        columns = ("segment", "customers", "revenue_share", "aov", "persona")
        grid = Table(*columns, title="Segments (persona: written by the LLM or a template)")
        for row in segments:
            grid.add_row(*(str(row[c]) for c in columns))
        print_table(grid)
    console.print(f"Outputs are in [bold]{escape(str(result.home))}[/]:", markup=True)
    for path in result.outputs:
        console.print(f"  {path}")
    home_flag = f" --home {result.home}" if home is not None else ""
    console.print(
        f"Browse them: {command_name()} serve --no-auth{home_flag}, then open http://127.0.0.1:8000/ui/"
    )


def command_name() -> str:
    """How to call this marketpilot from the current folder: its bare name where the shell finds it,
    else its path (`make demo` installs into .venv/bin, which is not on PATH)."""
    script = Path(sysconfig.get_path("scripts")) / "marketpilot"
    found = shutil.which("marketpilot")
    if not script.is_file() or (found is not None and Path(found).resolve() == script.resolve()):
        return "marketpilot"
    return str(script.relative_to(Path.cwd()) if script.is_relative_to(Path.cwd()) else script)


def _monthly_table(monthly: list[dict], title: str) -> None:
    if not monthly:
        return
    grid = Table(title=title)
    money = ("revenue", "returned", "cancelled")  # revenue is net of the other two
    currencies = {row["currency"] or "(no currency)" for row in monthly}
    # one currency: named once in the headers, so the rows fit an 80-column terminal
    only = next(iter(currencies)) if len(currencies) == 1 else None
    for col in ("month", "customers", "orders", *money):
        header = f"{col} ({only})" if only and col in money else col
        grid.add_column(header, justify="left" if col == "month" else "right")
    for row in monthly:  # one row per month and currency: amounts in two currencies are not added
        unit = "" if only else f" {row['currency'] or '(no currency)'}"
        grid.add_row(
            row["month"], f"{row['customers']:,}", f"{row['orders']:,}",
            *(f"{row[col]:,.2f}{unit}" for col in money),
        )  # fmt: skip
    print_table(grid)
