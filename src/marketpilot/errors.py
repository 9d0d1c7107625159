"""Two error families: errors a user can fix, and errors from a provider we call.

They are turned into messages and exit codes only at the edge (CLI / API).
"""

from __future__ import annotations


class MarketPilotError(Exception):
    """Base of every error MarketPilot raises on purpose."""

    exit_code = 1


class UserError(MarketPilotError):
    """Bad input or usage: the message says what is wrong and how to fix it."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\nHint: {self.hint}" if self.hint else base


class NotFoundError(UserError):
    """A named thing (campaign, product, customer) does not exist; the API answers 404."""


class ConflictError(UserError):
    """The thing is busy with other work right now (a campaign another run is sending); the API
    answers 409, and the same call succeeds once that work is done."""


class ValidationFailed(UserError):
    """Input data failed validation; carries every problem found (file, row, column, value)."""

    def __init__(
        self, problems: list[str], *, source: str, hint: str | None = None, total: int | None = None
    ) -> None:
        """`total`: how many there are when `problems` lists only the first few (a million bad rows
        are not spelled out)."""
        self.problems = problems
        self.source = source
        count = max(total or 0, len(problems))
        shown = "\n".join(f"  - {p}" for p in problems[:20])
        more = f"\n  … and {count - min(len(problems), 20)} more" if count > 20 else ""
        summary = f"{source}: {count} problem(s), nothing was written:"
        super().__init__(f"{summary}\n{shown}{more}", hint=hint)


class ProviderError(MarketPilotError):
    """A service we call (LLM server, SMTP, webhook) failed; keeps the raw response for debugging."""

    exit_code = 3

    def __init__(self, message: str, *, raw: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.status = status


class NotFittedError(MarketPilotError):
    """A model was used before `fit` was called."""


class MissingExtraError(UserError):
    """An optional dependency is not installed; names the extra that installs it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"This feature needs the optional package '{package}'.",
            hint=f"pip install 'marketpilot[{extra}]'",
        )
