"""`marketpilot load`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from marketpilot.cli.app import (
    HomeOption,
    JsonOption,
    app,
    console,
    err_console,
    print_json,
    settings_for,
)
from marketpilot.data.load import load_file
from marketpilot.wording import counted


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
    # A spinner on stderr (shown only on a terminal): a million-row file takes a while to read and check.
    with err_console.status(f"Reading {file.name}…") as status:
        report = load_file(
            settings_for(home), file, table, preset=preset, mapping=mapping, progress=status.update
        )
    if json_out:
        print_json(report.public())
        return
    console.print(
        f"Loaded [bold]{counted(report.rows_loaded, 'row')}[/] from {escape(str(report.source))} "
        f"({report.rows_rejected:,} rejected{', encoding ' + report.encoding if report.encoding else ''})",
        markup=True,
    )
    for name, rows in report.tables.items():
        console.print(f"  {name}: {counted(rows, 'row')} written")
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", markup=True, highlight=False)
