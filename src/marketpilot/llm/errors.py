"""LLM errors. All are `ProviderError`s, so the CLI shows them with the raw reply and exit code 3."""

from __future__ import annotations

from marketpilot.errors import ProviderError


class LLMError(ProviderError):
    """A completion could not be produced. In `complete_many` results, `index` is the request's position."""

    index: int | None = None


class LLMTransientError(LLMError):
    """Worth retrying: HTTP 429/5xx, a timeout or a refused connection. `retry_after_s` from the server."""

    def __init__(
        self,
        message: str,
        *,
        raw: str | None = None,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, raw=raw, status=status)
        self.retry_after_s = retry_after_s


class LLMUnavailableError(LLMError):
    """The circuit breaker is open: the provider failed repeatedly and is not called for a while."""


class LLMOutputError(LLMError):
    """The model's reply never satisfied the requested schema; `raw` holds the last reply text."""

    def __init__(self, message: str, *, raw: str | None = None, problems: list[str] | None = None) -> None:
        super().__init__(message, raw=raw)
        self.problems = problems or []
