"""The one result type every guardrail returns."""

from __future__ import annotations

from pydantic import BaseModel


class Violation(BaseModel):
    """A rule broken at `span` ([start, end) character offsets into the checked text)."""

    rule: str  # facts | ad_law | length | platform | brand | pii
    span: tuple[int, int]
    text: str
    message: str
    suggestion: str | None = None

    def describe(self) -> str:
        """One line for a repair prompt or a report."""
        hint = f" → {self.suggestion}" if self.suggestion else ""
        return f"[{self.rule}] “{self.text}”: {self.message}{hint}"
