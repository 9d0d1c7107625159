"""Brand voice: words the brand never uses, and words every message must carry."""

from __future__ import annotations

import re

from marketpilot.content.briefs import Brief
from marketpilot.content.guardrails.base import Violation


def check_brand(text: str, brief: Brief) -> list[Violation]:
    violations = []
    for word in brief.brand.forbidden_words:
        for m in re.finditer(re.escape(word), text, re.IGNORECASE):
            violations.append(
                Violation(
                    rule="brand",
                    span=m.span(),
                    text=m.group(),
                    message="on the brand's forbidden list"
                    + ("" if m.group() == word else f" (as “{word}”)"),
                    suggestion="remove it or use the brand's own wording",
                )
            )
    for word in brief.brand.required_words:
        if word.lower() not in text.lower():
            violations.append(
                Violation(
                    rule="brand",
                    span=(len(text), len(text)),
                    text="",
                    message=f"required word “{word}” is missing",
                    suggestion=f"include “{word}”",
                )
            )
    return sorted(violations, key=lambda v: v.span)
