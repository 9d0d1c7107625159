"""`marketpilot llm check | chat | usage`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from marketpilot.cli.app import HomeOption, JsonOption, app, console, print_json, print_table, settings_for
from marketpilot.llm import Message, get_client
from marketpilot.llm.service import check_llm, usage_report

llm_app = typer.Typer(help="The LLM layer: check the configured model, chat with it, see token usage.")
app.add_typer(llm_app, name="llm")


@llm_app.command("check")
def check_command(home: HomeOption = None, json_out: JsonOption = False) -> None:
    """One real round trip with the configured provider; exit code 3 if it fails."""
    result = check_llm(settings_for(home))
    name = f"{result.provider}/{result.model or '?'}"
    if json_out:
        print_json(result.model_dump(exclude_none=result.ok))
    elif result.ok:
        console.print(
            f"[green]ok[/] {escape(name)}: {result.latency_s:.2f} s, "
            f"{result.tokens_per_s:.1f} tokens/s\n{escape(result.sample or '')}",
            markup=True,
            highlight=False,
        )
    else:
        console.print(
            f"[red]failed[/] {escape(f'{name}: {result.error}')}",
            markup=True,
            highlight=False,
        )
    if not result.ok:
        raise typer.Exit(code=3)


@llm_app.command("chat")
def chat_command(
    prompt: Annotated[str, typer.Argument(help="The user message.")],
    system: Annotated[str | None, typer.Option(help="A system message.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1)] = 256,
    temperature: Annotated[float, typer.Option(min=0.0, max=2.0)] = 0.7,
    seed: Annotated[int | None, typer.Option()] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Send one prompt; the reply streams to stdout (with --json: the whole completion as JSON)."""
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    client = get_client(settings_for(home))
    try:
        if json_out:
            completion = client.complete(messages, max_tokens=max_tokens, temperature=temperature, seed=seed)
            print_json(completion.model_dump(mode="json"))
            return
        for piece in client.stream(messages, max_tokens=max_tokens, temperature=temperature, seed=seed):
            typer.echo(piece, nl=False)
        typer.echo()
    finally:
        client.close()


@llm_app.command("usage")
def usage_command(
    days: Annotated[float | None, typer.Option(help="Only the last N days.")] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Calls, tokens, cost and latency per provider, model and prompt template, from the ledger."""
    settings = settings_for(home)
    rows = usage_report(settings, days=days)
    if json_out:
        print_json([row.model_dump() for row in rows])
        return
    if not rows:
        # an empty table reads as a broken command; say what is missing and where it would be
        window = f" in the last {days:g} days" if days else ""
        console.print(
            f"No LLM calls recorded{window}; the ledger is {settings.path('llm.sqlite')}.", soft_wrap=True
        )
        return
    table = Table(title="LLM usage (ledger)")
    for column in (
        "provider/model",
        "prompt",
        "calls",
        "cached",
        "errors",
        "tokens in/out",
        "cost",
        "mean s",
    ):
        text = column in ("provider/model", "prompt")
        table.add_column(column, justify="left" if text else "right", overflow="fold")
    for row in rows:
        table.add_row(
            f"{row.provider}/{row.model}",
            row.prompt or "-",
            f"{row.calls:,}",
            f"{row.cached:,}",
            f"{row.errors:,}",
            f"{row.prompt_tokens:,}/{row.completion_tokens:,}",
            f"{row.cost:.4g}",
            f"{row.mean_latency_s:.2f}",
        )
    print_table(table)
