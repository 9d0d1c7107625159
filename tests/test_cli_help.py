"""`--help` as a new user reads it: sentences whole, and the commands the README sends them to."""

from __future__ import annotations

from typing import Any

import typer.main
from typer.testing import CliRunner

from marketpilot.cli import app


def _commands(command: Any, path: str) -> list[tuple[str, Any]]:
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, f"{path} {name}")
    return found


def test_no_help_paragraph_keeps_a_docstring_line_break() -> None:
    """Rich prints a help's line breaks as they are: a docstring wrapped at 110 columns cut sentences
    mid-way in `campaign --help` ("after quiet" / "hours for the messages …")."""
    broken = [
        path
        for path, command in _commands(typer.main.get_command(app), "marketpilot")
        if any("\n" in paragraph for paragraph in (command.help or "").split("\n\n"))
    ]
    assert broken == []
    listing = CliRunner().invoke(app, ["campaign", "--help"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    assert "re-run to resume after a crash, after quiet hours for the messages" in listing.output


def test_serve_help_names_the_dashboard() -> None:
    """The README sends users to `marketpilot serve --no-auth` for the dashboard at /ui/."""
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "dashboard (/ui/)" in result.output
