"""Only the known personalisation slots may appear in copy; anything else would reach customers as braces.
A channel without slots (`ChannelSpec.slots`: a banner is one image for everyone) takes none at all."""

from __future__ import annotations

import re

from marketpilot.content.guardrails.base import Violation

SLOTS = ("name", "last_category", "rec_items")
SLOT_PATTERN = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Whatever a writer may mean as a placeholder: {姓名}, { name }, {{name}} (which renders as {张三}), {}
_BRACED = re.compile(r"\{+[^{}\n]{0,40}\}+")


def check_slots(text: str, *, allowed: bool = True) -> list[Violation]:
    violations = []
    for m in _BRACED.finditer(text):
        known = (slot := SLOT_PATTERN.fullmatch(m.group())) is not None and slot.group(1) in SLOTS
        if known and allowed:
            continue
        violations.append(
            Violation(
                rule="slots",
                span=m.span(),
                text=m.group(),
                message=f"unknown placeholder {m.group()}"
                if not known
                else f"{m.group()} is filled per customer, but this channel shows everyone the same copy",
                suggestion="use only {name}, {last_category} or {rec_items}"
                if allowed
                else "write it without placeholders",
            )
        )
    return violations
