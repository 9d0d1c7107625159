"""Only the known personalisation slots may appear in copy; anything else would reach customers as braces."""

from __future__ import annotations

import re

from marketpilot.content.guardrails.base import Violation

SLOTS = ("name", "last_category", "rec_items")
SLOT_PATTERN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Whatever a writer may mean as a placeholder: {姓名}, { name }, {{name}} (which renders as {张三}), {}
_BRACED = re.compile(r"\{+[^{}\n]{0,40}\}+")


def check_slots(text: str) -> list[Violation]:
    return [
        Violation(
            rule="slots",
            span=m.span(),
            text=m.group(),
            message=f"unknown placeholder {m.group()}",
            suggestion="use only {name}, {last_category} or {rec_items}",
        )
        for m in _BRACED.finditer(text)
        if not ((slot := SLOT_PATTERN.fullmatch(m.group())) and slot.group(1) in SLOTS)
    ]
