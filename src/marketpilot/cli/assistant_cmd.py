"""`marketpilot assistant ask|chat|handoffs|index`: the customer-service assistant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

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
from marketpilot.wording import counted

if TYPE_CHECKING:
    from marketpilot.assistant import AssistantReply

assistant_app = typer.Typer(
    help="Customer-service assistant: grounded answers or a hand-off to a person (客服助手).",
    no_args_is_help=True,
)
app.add_typer(assistant_app, name="assistant")


@assistant_app.command("ask")
def ask_cmd(
    question: Annotated[str, typer.Argument(help="The customer's question, zh or en.")],
    customer: Annotated[
        str | None,
        typer.Option("--customer", help="The signed-in customer's id: lets the answer use their own orders."),
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh or en (default: the question's).")] = None,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Answer from the shop's policies, catalogue and the customer's orders, citing them; or hand off."""
    from marketpilot.assistant import answer_question
    from marketpilot.errors import UserError

    if lang not in (None, "zh", "en"):
        raise UserError(f"--lang must be zh or en, not {lang!r}")
    settings = settings_for(home)
    with err_console.status("Looking it up…"):
        reply = answer_question(settings, question, customer_id=customer, lang=lang)  # type: ignore[arg-type]
    if json_out:
        print_json(reply.model_dump(mode="json"))
    else:
        _show(reply)


@assistant_app.command("chat")
def chat_cmd(
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer", help="The signed-in customer's id: lets the answers use their own orders."
        ),
    ] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh or en (default: each question's).")] = None,
    home: HomeOption = None,
) -> None:
    """A conversation: each answer sees the turns before it, so follow-ups ("那运费呢？") work.
    An empty line or end of input ends it."""
    from marketpilot.assistant import Turn, answer_question
    from marketpilot.errors import UserError

    if lang not in (None, "zh", "en"):
        raise UserError(f"--lang must be zh or en, not {lang!r}")
    settings = settings_for(home)
    history: list[Turn] = []
    err_console.print("[dim]Ask away; an empty line ends the conversation.[/]", markup=True)
    while True:
        try:
            question = input("> ").strip()
        except EOFError:
            break
        if not question:
            break
        try:
            with err_console.status("Looking it up…"):
                reply = answer_question(settings, question, customer_id=customer, lang=lang, history=history)  # type: ignore[arg-type]
        except UserError as exc:  # one unreadable question (too long, not UTF-8) does not end the chat
            err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True, highlight=False)
            continue
        _show(reply)
        history.append(Turn(question=reply.question, answer=reply.answer))


def _show(reply: AssistantReply) -> None:
    if reply.handoff:
        console.print(
            f"[yellow]Handed to a person:[/] {escape(reply.handoff_reason or '')}",
            markup=True,
            highlight=False,
        )
    else:
        console.print(reply.answer, highlight=False)
        sources = ", ".join(f"{c.id} ({c.title})" for c in reply.citations)
        console.print(f"[dim]Sources: {escape(sources)}[/]", markup=True)


@assistant_app.command("index")
def index_cmd(
    lang: Annotated[str, typer.Option("--lang", help="zh or en.")] = "zh",
    home: HomeOption = None,
) -> None:
    """Embed the policies and the catalogue now (cached), so the first question is answered at once."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from marketpilot.assistant.answer import knowledge_base
    from marketpilot.errors import UserError

    if lang not in ("zh", "en"):
        raise UserError(f"--lang must be zh or en, not {lang!r}")
    columns = (TextColumn("Embedding passages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("", total=None)
        kb = knowledge_base(
            settings_for(home), lang, lambda done, total: bar.update(task, completed=done, total=total)
        )
    kinds = [p.kind for p in kb.passages]
    sections, products = (
        counted(kinds.count("policy"), "policy section"),
        counted(kinds.count("product"), "product"),
    )
    console.print(f"{sections} and {products} indexed")


@assistant_app.command("handoffs")
def handoffs_cmd(
    last: Annotated[int, typer.Option("--last", min=1, help="How many, newest last.")] = 20,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """The questions the assistant handed to a person, with the reason (the service team's queue)."""
    from marketpilot.assistant.answer import handoff_queue

    records, skipped = handoff_queue(settings_for(home), last)
    if skipped:
        err_console.print(f"Skipped {skipped} unreadable line(s) in assistant/handoffs.jsonl.")
    if json_out:
        print_json([r.model_dump(mode="json") for r in records])
        return
    if not records:
        console.print("No hand-offs yet.")
    for r in records:
        who = f" [{r.customer_id}]" if r.customer_id else ""
        console.print(f"{r.at}{who} {r.question}\n   → {r.detail}", highlight=False)
