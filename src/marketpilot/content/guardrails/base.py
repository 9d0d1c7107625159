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
        # "unknown placeholder {x}", "quantity 3件 is not in the brief" already name the phrase
        said = "" if self.text in self.message else f"“{self.text}”: "
        return f"[{self.rule}] {said}{self.message}{hint}"
