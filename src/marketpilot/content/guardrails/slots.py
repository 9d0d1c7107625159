"""Only the known personalisation slots may appear in copy; anything else would reach customers as braces."""

from __future__ import annotations

import re

from marketpilot.content.guardrails.base import Violation

SLOTS = ("name", "last_category", "rec_items")
SLOT_PATTERN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_slots(text: str) -> list[Violation]:
    return [
        Violation(
            rule="slots",
            span=m.span(),
            text=m.group(),
            message=f"unknown placeholder {m.group()}",
            suggestion="use only {name}, {last_category} or {rec_items}",
        )
        for m in SLOT_PATTERN.finditer(text)
        if m.group(1) not in SLOTS
    ]
