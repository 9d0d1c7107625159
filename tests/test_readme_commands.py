"""The README's command table names commands and options that exist: a renamed or removed option
fails here rather than in a user's terminal."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main

import marketpilot.cli  # noqa: F401  (registers every command group)
from marketpilot.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _spans() -> list[str]:
    """The `marketpilot …` code spans of the command table's first column."""
    table = README.read_text(encoding="utf-8").split("## Commands", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `marketpilot")]
    spans = []
    for row in rows:
        first = row.replace("\\|", "\x00").split("|")[1]
        found = [s.replace("\x00", "|") for s in re.findall(r"`([^`]+)`", first)]
        # "… / `assistant chat|handoffs|index`": a second span of the same group
        spans += [s if s.startswith("marketpilot ") else f"marketpilot {s}" for s in found]
    return spans


def _alternatives(span: str) -> str:
    """`fit|for CUSTOMER|similar ITEM` → `fit|for|similar ITEM`, `run [--wait]|status` → `run|status`:
    a choice's arguments and options sit between the choices."""
    return re.sub(r"(?:\s+[A-Z][A-Z_]*|\s*\[[^\]]*\])(?=\|)", "", span)


def _group(command: Any) -> bool:
    return hasattr(command, "commands")  # Typer's groups are its own click's, not `click.Group`


def _leaves(group: Any, words: list[str]) -> list[Any]:
    """The commands a span names: at each group level, its lowercase words (split at |) up to the
    first option, bracket or quote must be subcommands; a placeholder (FILE, ID) ends the path."""
    leaves: list[Any] = []
    level: list[Any] = [group]
    for word in words:
        if word.startswith(("[", "-", '"', "…")) or not any(map(_group, level)):
            break
        names = [w for w in word.split("|") if w and w.islower()]
        if not names:
            continue  # CUSTOMER, ITEM: an argument of the previous choice
        nxt: list[Any] = []
        for name in names:
            found = [g.commands[name] for g in level if _group(g) and name in g.commands]
            assert found, f"README names `{name}`, which is no subcommand of {[c.name for c in level]}"
            nxt += found
        leaves += [c for c in level if not _group(c)]
        level = nxt
    return leaves + [c for c in level if not _group(c)]


def test_every_command_and_option_in_the_readme_exists() -> None:
    root = typer.main.get_command(app)
    spans = _spans()
    assert len(spans) >= 30
    for span in spans:
        commands = _leaves(root, _alternatives(span).split()[1:])
        assert commands, span
        known = {o for c in commands for p in c.params for o in (*p.opts, *p.secondary_opts)}
        for option in re.findall(r"--[a-z][a-z-]*", span):
            assert option in known, (
                f"README: `{span}` names {option}, which {[c.name for c in commands]} lack"
            )
