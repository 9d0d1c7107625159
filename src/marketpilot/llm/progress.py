"""A Rich progress bar (on stderr) for `Client.complete_many`, for commands that generate in batches."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from marketpilot.llm.base import Completion
from marketpilot.llm.client import ResultCallback
from marketpilot.llm.errors import LLMError


@contextmanager
def batch_progress(total: int, label: str = "LLM") -> Iterator[ResultCallback]:
    """`with batch_progress(len(reqs)) as on_result: client.complete_many(reqs, on_result=on_result)`;
    failed requests are counted in the label."""
    failures = 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=total)

        def on_result(index: int, result: Completion | LLMError) -> None:
            nonlocal failures
            failures += isinstance(result, LLMError)
            suffix = f" ({failures} failed)" if failures else ""
            progress.update(task, advance=1, description=f"{label}{suffix}")

        yield on_result
