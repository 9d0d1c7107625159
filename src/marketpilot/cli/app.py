"""The root Typer app, shared options and the one place MarketPilot errors become exit codes."""

from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from marketpilot.config import Settings, get_settings
from marketpilot.errors import MarketPilotError, ProviderError, UserError

app = typer.Typer(
    name="marketpilot",
    help="MarketPilot: LLM-driven e-commerce marketing automation (营销自动化).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
# Markup off: file names, cells, copy and model output print as they are ("[/sale]" crashed rich,
# "[new]" vanished); the few styled lines ask for markup and escape what they interpolate.
console = Console(markup=False)
ModelT = TypeVar("ModelT", bound=BaseModel)
# soft_wrap: an error or warning is one line however wide the terminal; piped into a log, rich would
# otherwise break it at 80 columns and a grep for the message would find half of it.
err_console = Console(stderr=True, markup=False, soft_wrap=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Directory for every file MarketPilot writes (env MARKETPILOT_HOME).",
        show_default="./.marketpilot",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]


def options(model: type[ModelT], **values: Any) -> ModelT:
    """A command's options gathered in `model`; a value out of its range is a usage error that names
    the option (--top: Input should be less than or equal to 1), not a traceback."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(f"--{str(e['loc'][0]).replace('_', '-')}: {e['msg']}" for e in exc.errors())
        raise UserError(problems) from None


def settings_for(home: Path | None) -> Settings:
    return get_settings(home)


def print_table(table: Table) -> None:
    """The table where every cell fits the terminal whole (long text may wrap at spaces); otherwise one
    block per row, a `column: value` line per cell, so that no figure is cut to "234,3…" on a narrow
    terminal (80 columns, a split pane)."""
    # measured unbounded: rich clamps a table's measurement to the terminal's width
    if console.measure(table, options=console.options.update(max_width=100_000)).minimum <= console.width:
        console.print(table)
        return
    headers = [" ".join(str(c.header).split()) for c in table.columns]
    cells = [[str(cell) for cell in column.cells] for column in table.columns]
    if table.title:
        console.print(str(table.title))
    for row in range(table.row_count):
        console.print(f"{headers[0]}: {cells[0][row]}" if headers[0] else cells[0][row])
        for header, column in zip(headers[1:], cells[1:], strict=True):
            console.print(f"  {header}: {column[row]}")
    if table.caption:
        console.print(str(table.caption))


def print_json(payload: Any) -> None:
    """JSON on stdout, UTF-8, Chinese kept readable; NaN and infinities (no value) as null, which JSON
    has, rather than Python's NaN, which JSON parsers refuse."""
    typer.echo(json.dumps(_finite(payload), ensure_ascii=False, indent=2, default=str, allow_nan=False))


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def unwrap_help(application: typer.Typer) -> None:
    """Each paragraph of every command's help on one line, the terminal wrapping it: rich keeps a
    docstring's line breaks, which cut the help mid-sentence in `--help` and in a group's command list
    ("… after quiet" / "hours for …")."""
    for command in application.registered_commands:
        text = command.help or inspect.getdoc(command.callback) or ""
        command.help = "\n\n".join(" ".join(paragraph.split()) for paragraph in text.split("\n\n"))
    for group in application.registered_groups:
        if group.typer_instance is not None:
            unwrap_help(group.typer_instance)


def run_app(application: typer.Typer) -> int:
    try:
        # click returns a command's typer.Exit code instead of raising it when standalone_mode is off
        code = application(standalone_mode=False)
    except MarketPilotError as exc:
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True, highlight=False)
        if isinstance(exc, ProviderError) and exc.raw:
            err_console.print(f"[dim]Raw response: {escape(exc.raw[:500])}[/]", markup=True, highlight=False)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("Aborted.")
        return 130
    except Exception as exc:  # usage errors arrive here in standalone_mode=False
        # click's ClickException, or the copy of it newer typer releases vendor (typer._click): both
        # print themselves and carry the exit code (2 for a usage error).
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        raise
    return code if isinstance(code, int) else 0
